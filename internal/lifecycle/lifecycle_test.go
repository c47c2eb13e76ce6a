package lifecycle_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/lifecycle"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestEncodeGolden(t *testing.T) {
	t.Parallel()
	at := time.UnixMilli(1573002230757)
	for _, tc := range []struct {
		name string
		ev   broker.Event
	}{
		{"connected", broker.Event{Kind: broker.EventConnected, Time: at, ClientID: "186b5",
			SessionID: "00000000-0000-0000-0000-000000000000", PrincipalID: "12345678901234567890123456789012",
			RemoteAddr: "192.0.2.0:50123", VersionNumber: 0}},
		{"disconnected", broker.Event{Kind: broker.EventDisconnected, Time: at, ClientID: "186b5",
			SessionID: "00000000-0000-0000-0000-000000000000", PrincipalID: "12345678901234567890123456789012",
			ClientInitiated: true, DisconnectReason: broker.ReasonClientInitiated}},
		{"disconnected_keepalive", broker.Event{Kind: broker.EventDisconnected, Time: at, ClientID: "dev-1",
			SessionID: "s", PrincipalID: "p", DisconnectReason: broker.ReasonKeepAliveTimeout, VersionNumber: 7}},
		{"connect_failed", broker.Event{Kind: broker.EventConnectFailed, Time: at, ClientID: "186b5",
			PrincipalID: "12345678901234567890123456789012", FailureReason: "AUTHORIZATION_FAILED", RemoteAddr: "192.0.2.0:1"}},
		{"subscribed", broker.Event{Kind: broker.EventSubscribed, Time: at, ClientID: "186b5", SessionID: "s",
			PrincipalID: "p", Topics: []string{"foo/bar", "device/data", "dog/cat"}}},
		{"unsubscribed", broker.Event{Kind: broker.EventUnsubscribed, Time: at, ClientID: "186b5", SessionID: "s",
			PrincipalID: "p", Topics: []string{"foo/bar"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic, payload, ok := lifecycle.Encode(tc.ev)
			if !ok {
				t.Fatal("Encode returned ok=false")
			}
			got := []byte(topic + "\n" + string(payload) + "\n")
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (run with -update): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Encode(%s) =\n%s\nwant\n%s", tc.name, got, want)
			}
		})
	}
}

func TestNoEventsForWildcardClientIDs(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"a+b", "x#", ""} {
		if _, _, ok := lifecycle.Encode(broker.Event{Kind: broker.EventConnected, ClientID: id}); ok {
			t.Errorf("Encode(client %q) ok = true, want false", id)
		}
	}
}

type recorder struct{ msgs []*broker.Message }

func (r *recorder) Publish(m *broker.Message) error { r.msgs = append(r.msgs, m); return nil }

func TestSinkPublishesAndRemembersRefusals(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	s := lifecycle.New(rec, 2, nil)
	s.Event(broker.Event{Kind: broker.EventConnected, ClientID: "a"})
	s.Event(broker.Event{Kind: broker.EventConnectFailed, ClientID: "b", Detail: "first"})
	s.Event(broker.Event{Kind: broker.EventDisconnected, ClientID: "a", ClientInitiated: true})
	s.Event(broker.Event{Kind: broker.EventDisconnected, ClientID: "c", DisconnectReason: broker.ReasonKeepAliveTimeout})
	s.Event(broker.Event{Kind: broker.EventConnectFailed, ClientID: "d", Detail: "last"})
	if len(rec.msgs) != 5 {
		t.Fatalf("published %d events, want 5", len(rec.msgs))
	}
	recent := s.Recent()
	if len(recent) != 2 || recent[0].ClientID != "d" || recent[1].ClientID != "c" {
		t.Fatalf("Recent() = %+v, want d then c", recent)
	}
}
