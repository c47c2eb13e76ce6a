package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/brokertest"
)

// mosq runs mosquitto_pub and mosquitto_sub against one broker listener with
// one protocol version.
type mosq struct {
	t        *testing.T
	srv      *brokertest.Server
	pub, sub string
	conn     []string // version, host, port and TLS flags
	v5       bool
}

// mosqTransport names a listener and, for mTLS, the client key type.
type mosqTransport struct {
	name    string
	keyType string // "" for plain TCP
}

var (
	mosqVersions = []struct {
		name, flag string
	}{{"v311", "mqttv311"}, {"v5", "mqttv5"}}
	mosqTransports = []mosqTransport{{"tcp", ""}, {"mtls-ec", "ec"}, {"mtls-rsa", "rsa"}}
)

func newMosq(t *testing.T, srv *brokertest.Server, tr mosqTransport, version string) *mosq {
	t.Helper()
	m := &mosq{t: t, srv: srv, pub: need(t, "mosquitto_pub"), sub: need(t, "mosquitto_sub"), v5: version == "mqttv5"}
	m.conn = []string{"-V", version}
	if tr.keyType == "" {
		m.conn = append(m.conn, "-h", "127.0.0.1", "-p", brokertest.Port(srv.Addr))
	} else {
		f := srv.ClientFiles(t, tr.keyType, "mosquitto-"+tr.keyType)
		m.conn = append(m.conn, "-h", "localhost", "-p", brokertest.Port(srv.TLSAddr),
			"--cafile", f.CA, "--cert", f.Cert, "--key", f.Key)
	}
	return m
}

// startSub starts mosquitto_sub with client id id and waits until the broker
// has granted its subscriptions. args must include -t and usually -C.
func (m *mosq) startSub(id string, args ...string) *proc {
	m.t.Helper()
	a := append(slices.Clone(m.conn), "-i", id, "-W", "30")
	p := start(m.t, nil, m.sub, append(a, args...)...)
	m.waitEvent(fmt.Sprintf("%s subscribed", id), func(ev broker.Event) bool {
		return ev.Kind == broker.EventSubscribed && ev.ClientID == id
	}, p)
	return p
}

// waitEvent polls the broker's events until pred holds, failing early with
// the process output if p (when not nil) exits first.
func (m *mosq) waitEvent(what string, pred func(broker.Event) bool, p *proc) {
	m.t.Helper()
	brokertest.Eventually(m.t, 20*time.Second, what, func() bool {
		if slices.ContainsFunc(m.srv.Events.All(), pred) {
			return true
		}
		if p == nil {
			return false
		}
		select {
		case <-p.done:
			m.t.Fatalf("%s exited before %s: %v\nstdout: %s\nstderr: %s", p.name, what, p.err, p.stdout.String(), p.stderr.String())
		default:
		}
		return false
	})
}

// publish runs mosquitto_pub with client id id to completion.
func (m *mosq) publish(id string, args ...string) result {
	m.t.Helper()
	a := append(slices.Clone(m.conn), "-i", id)
	return run(m.t, nil, m.pub, append(a, args...)...)
}

// mustPublish runs mosquitto_pub and fails unless it exits 0.
func (m *mosq) mustPublish(id string, args ...string) {
	m.t.Helper()
	if r := m.publish(id, args...); r.code != 0 {
		m.t.Fatalf("mosquitto_pub %s: %s", strings.Join(args, " "), r)
	}
}

// output waits for a mosquitto_sub to exit 0 and returns its output lines.
func (m *mosq) output(p *proc) []string {
	m.t.Helper()
	if code := p.wait(m.t); code != 0 {
		m.t.Fatalf("mosquitto_sub exit %d\nstdout: %s\nstderr: %s", code, p.stdout.String(), p.stderr.String())
	}
	return strings.Split(strings.TrimRight(p.stdout.String(), "\n"), "\n")
}

func (m *mosq) expectLines(p *proc, want ...string) {
	m.t.Helper()
	if got := m.output(p); !slices.Equal(got, want) {
		m.t.Fatalf("mosquitto_sub printed %q, want %q", got, want)
	}
}

// TestMosquitto runs every mosquitto_pub/mosquitto_sub scenario over plain
// TCP and mTLS (EC and RSA client keys) with MQTT 3.1.1 and 5.
func TestMosquitto(t *testing.T) {
	need(t, "mosquitto_pub")
	need(t, "mosquitto_sub")
	for _, tr := range mosqTransports {
		for _, v := range mosqVersions {
			t.Run(tr.name+"/"+v.name, func(t *testing.T) {
				t.Parallel()
				srv := brokertest.Start(t, brokertest.Options{TLS: tr.keyType != ""})
				for _, sc := range mosqScenarios {
					t.Run(sc.name, func(t *testing.T) {
						sc.run(t, newMosq(t, srv, tr, v.flag))
					})
				}
			})
		}
	}
}

var mosqScenarios = []struct {
	name string
	run  func(t *testing.T, m *mosq)
}{
	{"qos0-round-trip", func(t *testing.T, m *mosq) { roundTrip(t, m, "0") }},
	{"qos1-round-trip", func(t *testing.T, m *mosq) { roundTrip(t, m, "1") }},
	{"qos2-round-trip", func(t *testing.T, m *mosq) { roundTrip(t, m, "2") }},
	{"retained", func(t *testing.T, m *mosq) {
		m.mustPublish("ret-pub", "-t", "ret/a", "-q", "1", "-r", "-m", "kept")
		// A later subscriber without -R gets the retained message, flagged
		// as retained (%r); --retained-only exits at the first live one.
		sub := m.startSub("ret-sub", "-t", "ret/#", "-q", "1", "-C", "1", "-F", "%t %p %r")
		m.expectLines(sub, "ret/a kept 1")
		// --retained-only prints retained messages and exits, without
		// printing it, at the first live one.
		only := m.startSub("ret-only", "-t", "ret/#", "-q", "1", "--retained-only", "-F", "%t %p %r")
		m.mustPublish("ret-pub", "-t", "ret/b", "-q", "1", "-m", "live")
		m.expectLines(only, "ret/a kept 1")
		// An empty retained publish clears it: a new subscriber sees only
		// the live message that follows.
		m.mustPublish("ret-pub", "-t", "ret/a", "-q", "1", "-r", "-n")
		after := m.startSub("ret-after", "-t", "ret/#", "-q", "1", "-C", "1", "-F", "%t %p %r")
		m.mustPublish("ret-pub", "-t", "ret/b", "-q", "1", "-m", "live")
		m.expectLines(after, "ret/b live 0")
	}},
	{"will-on-kill", func(t *testing.T, m *mosq) {
		watch := m.startSub("will-watch", "-t", "will/#", "-q", "1", "-C", "1", "-v")
		dying := m.startSub("will-dying", "-t", "will-dying/in", "--will-topic", "will/dying",
			"--will-payload", "gone", "--will-qos", "1")
		dying.kill(t) // SIGKILL: no DISCONNECT, so the broker must publish the will
		m.expectLines(watch, "will/dying gone")
	}},
	{"will-not-sent-on-clean-disconnect", func(t *testing.T, m *mosq) {
		watch := m.startSub("will2-watch", "-t", "will2/#", "-q", "1", "-C", "1", "-v")
		m.mustPublish("will2-pub", "-t", "other/x", "-q", "1", "-m", "x",
			"--will-topic", "will2/pub", "--will-payload", "gone")
		m.waitEvent("will2-pub disconnected", func(ev broker.Event) bool {
			return ev.Kind == broker.EventDisconnected && ev.ClientID == "will2-pub"
		}, watch)
		// Had the will been sent it would have arrived before the marker.
		m.mustPublish("will2-marker", "-t", "will2/marker", "-q", "1", "-m", "marker")
		m.expectLines(watch, "will2/marker marker")
	}},
	{"persistent-session", func(t *testing.T, m *mosq) {
		// -E exits once subscribed, disconnecting cleanly with the session kept.
		first := m.startSub("persist", "-c", "-q", "1", "-t", "sess/x", "-E")
		if code := first.wait(t); code != 0 {
			t.Fatalf("mosquitto_sub -E exit %d: %s", code, first.stderr.String())
		}
		m.waitEvent("persist disconnected", func(ev broker.Event) bool {
			return ev.Kind == broker.EventDisconnected && ev.ClientID == "persist"
		}, nil)
		m.mustPublish("persist-pub", "-t", "sess/x", "-q", "1", "-m", "one")
		m.mustPublish("persist-pub", "-t", "sess/x", "-q", "1", "-m", "two")
		// Reconnecting without subscribing: the session's subscription and
		// its queued messages must come back.
		again := start(t, nil, m.sub, append(slices.Clone(m.conn), "-i", "persist", "-c", "-q", "1",
			"-t", "sess/x", "-C", "2", "-v", "-W", "30")...)
		m.expectLines(again, "sess/x one", "sess/x two")
	}},
	{"shadow-update-topic", func(t *testing.T, m *mosq) {
		const topic = "$aws/things/t/shadow/update"
		watch := m.startSub("shadow-watch", "-t", topic, "-q", "1", "-C", "1", "-v")
		m.mustPublish("t", "-t", topic, "-q", "1", "-m", `{"state":{"reported":{"on":true}}}`)
		m.expectLines(watch, topic+` {"state":{"reported":{"on":true}}}`)
	}},
	{"publish-to-sys-refused", func(t *testing.T, m *mosq) {
		r := m.publish("sys-pub", "-t", "$SYS/x", "-q", "1", "-m", "x")
		if m.v5 {
			// PUBACK 0x87 with a reason string: mosquitto_pub warns on
			// stderr and still exits 0.
			if !strings.Contains(r.stderr, "Publish 1 failed: Not authorized.") || !strings.Contains(r.stderr, "reserved topic $SYS/x") {
				t.Fatalf("mosquitto_pub -V 5 to $SYS/x: %s\nwant 'Publish 1 failed: Not authorized.' and the broker's reason", r)
			}
		} else if r.code == 0 {
			// 3.1.1 has no negative PUBACK: the broker closes the
			// connection, and mosquitto_pub says "The connection was lost."
			// and exits 7.
			t.Fatalf("mosquitto_pub -V 311 to $SYS/x succeeded: %s", r)
		}
		// v5 keeps the connection and disconnects cleanly; 3.1.1 is cut off.
		m.waitEvent("sys-pub disconnected", func(ev broker.Event) bool {
			return ev.Kind == broker.EventDisconnected && ev.ClientID == "sys-pub" && ev.ClientInitiated == m.v5
		}, nil)
	}},
	{"nine-filters", func(t *testing.T, m *mosq) {
		args := []string{"-q", "1", "-E", "-d"}
		for i := 1; i <= 9; i++ {
			args = append(args, "-t", fmt.Sprintf("nine/%d", i))
		}
		// mosquitto_sub prints nothing and exits 0 when only some filters
		// are refused (both versions); only -d shows the SUBACK codes.
		p := m.startSub("nine", args...)
		code := p.wait(t)
		out := p.stdout.String() + p.stderr.String()
		if code != 0 {
			t.Errorf("mosquitto_sub with nine filters: exit %d, want 0", code)
		}
		// -d prints the granted QoS list: eight grants, then the refusal
		// (0x97 Quota exceeded = 151 in v5, 0x80 = 128 in 3.1.1).
		refused := "128"
		if m.v5 {
			refused = "151"
		}
		want := "Subscribed (mid: 1): 1, 1, 1, 1, 1, 1, 1, 1, " + refused
		if !strings.Contains(out, want) {
			t.Fatalf("mosquitto_sub with nine filters (exit %d) printed:\n%s\nwant a line %q", code, out, want)
		}
	}},
	{"oversize-payload-refused", func(t *testing.T, m *mosq) {
		big := filepath.Join(t.TempDir(), "big")
		if err := os.WriteFile(big, []byte(strings.Repeat("x", 128*1024+1)), 0o600); err != nil {
			t.Fatal(err)
		}
		watch := m.startSub("big-watch", "-t", "big/#", "-q", "1", "-C", "1", "-v")
		f, err := os.Open(big)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		a := append(slices.Clone(m.conn), "-i", "big-pub", "-t", "big/x", "-q", "1", "-s", "-d")
		// The payload fits the CONNACK Maximum Packet Size (payload limit +
		// 8 KiB), so mosquitto_pub sends it and the broker refuses it: v5
		// "Received DISCONNECT (149)" (0x95) then exit 4, 3.1.1 "The
		// connection was lost." and exit 7.
		r := run(t, f, m.pub, a...)
		if r.code == 0 {
			t.Fatalf("mosquitto_pub of %d bytes succeeded: %s", 128*1024+1, r)
		}
		if m.v5 && !strings.Contains(r.stdout, "Received DISCONNECT (149)") {
			t.Fatalf("mosquitto_pub -V 5 of 128 KiB + 1: %s\nwant DISCONNECT 149 (0x95 Packet too large)", r)
		}
		m.waitEvent("big-pub disconnected as CLIENT_ERROR", func(ev broker.Event) bool {
			return ev.Kind == broker.EventDisconnected && ev.ClientID == "big-pub" && ev.DisconnectReason == broker.ReasonClientError
		}, watch)
		// The refused message must not reach the subscriber: the marker
		// published after it is the first thing it sees.
		m.mustPublish("big-marker", "-t", "big/marker", "-q", "1", "-m", "marker")
		m.expectLines(watch, "big/marker marker")
	}},
}

// roundTrip sends three messages through mosquitto_pub -l (one connection)
// to a mosquitto_sub at the same QoS and checks order and content.
func roundTrip(t *testing.T, m *mosq, qos string) {
	topic := "rt/q" + qos
	sub := m.startSub("rt-sub-"+qos, "-t", topic, "-q", qos, "-C", "3", "-F", "%t %p %q")
	a := append(slices.Clone(m.conn), "-i", "rt-pub-"+qos, "-t", topic, "-q", qos, "-l")
	if r := run(t, strings.NewReader("m1\nm2\nm3\n"), m.pub, a...); r.code != 0 {
		t.Fatalf("mosquitto_pub -l: %s", r)
	}
	m.expectLines(sub, topic+" m1 "+qos, topic+" m2 "+qos, topic+" m3 "+qos)
}
