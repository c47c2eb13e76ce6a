package interop

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/thingcore/thingcore/internal/hubtest"
)

// shadowAnswer is the part of an update/accepted or update/rejected
// document the concurrency test reads.
type shadowAnswer struct {
	Version     int    `json:"version"`
	ClientToken string `json:"clientToken"`
	Code        int    `json:"code"`
	Message     string `json:"message"`
}

// TestHubShadowConcurrentClients has many real MQTT clients (paho, each its
// own thing and certificate with a policy for one shared shadow) update that
// shadow at the same time, each waiting for its own answer before its next
// update as the SDKs do. No update is lost: every one is accepted with a
// version no other got, the versions are 1..N, a get then shows version N
// and every client's keys; and every subscriber sees the update/accepted
// messages in version order.
func TestHubShadowConcurrentClients(t *testing.T) {
	const (
		clients   = 20
		perClient = 5
		total     = clients * perClient
		wait      = 30 * time.Second
	)
	h := hubtest.Start(t, hubtest.Options{})
	target := "shadow-shared"
	prefix := "$aws/things/" + target + "/shadow"
	var devs []*hubtest.Device
	var arns []string
	for i := range clients {
		d := h.NewDevice(t, fmt.Sprintf("shadow-writer-%02d", i))
		devs = append(devs, d)
		arns = append(arns, d.CertARN)
	}
	allowShadow(t, h, target, arns...)

	// Each client records every update/accepted it receives (all clients'
	// answers reach every subscriber, as on AWS) and hands its own answers,
	// matched by clientToken, to its writer.
	type writer struct {
		c       paho.Client
		mine    chan shadowAnswer
		mu      sync.Mutex
		seen    []int // versions of every update/accepted received, in order
		badSeen []string
	}
	ws := make([]*writer, clients)
	for i, d := range devs {
		w := &writer{mine: make(chan shadowAnswer, perClient)}
		ws[i] = w
		tokenPrefix := d.Thing + "/"
		handler := func(_ paho.Client, m paho.Message) {
			var a shadowAnswer
			if err := json.Unmarshal(m.Payload(), &a); err != nil {
				w.mu.Lock()
				w.badSeen = append(w.badSeen, fmt.Sprintf("%s %s", m.Topic(), m.Payload()))
				w.mu.Unlock()
				return
			}
			if strings.HasSuffix(m.Topic(), "/accepted") {
				w.mu.Lock()
				w.seen = append(w.seen, a.Version)
				w.mu.Unlock()
			}
			if strings.HasPrefix(a.ClientToken, tokenPrefix) {
				select {
				case w.mine <- a:
				default: // more answers than updates: the writer reports the count
					w.mu.Lock()
					w.badSeen = append(w.badSeen, fmt.Sprintf("extra answer %s %s", m.Topic(), m.Payload()))
					w.mu.Unlock()
				}
			}
		}
		o := paho.NewClientOptions().AddBroker("ssl://" + h.Endpoints.MQTT).SetClientID(d.Thing).
			SetTLSConfig(d.TLSConfig(t)).SetAutoReconnect(false).SetConnectRetry(false).
			SetConnectTimeout(wait).SetProtocolVersion(4).SetOrderMatters(true)
		w.c = paho.NewClient(o)
		if tok := w.c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("connect %s: %v", d.Thing, tok.Error())
		}
		t.Cleanup(func() { w.c.Disconnect(100) })
		filters := map[string]byte{prefix + "/update/accepted": 1, prefix + "/update/rejected": 1}
		if tok := w.c.SubscribeMultiple(filters, handler); !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", d.Thing, tok.Error())
		}
	}

	// All writers start together.
	start := make(chan struct{})
	var wg sync.WaitGroup
	answers := make([][]shadowAnswer, clients)
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for j := range perClient {
				token := fmt.Sprintf("%s/%d", devs[i].Thing, j)
				body := fmt.Sprintf(`{"state":{"reported":{"w%02d_%d":%d}},"clientToken":%q}`, i, j, j, token)
				if tok := w.c.Publish(prefix+"/update", 1, false, body); !tok.WaitTimeout(wait) || tok.Error() != nil {
					t.Errorf("%s: publish update %d: %v", devs[i].Thing, j, tok.Error())
					return
				}
				select {
				case a := <-w.mine:
					if a.ClientToken != token {
						t.Errorf("%s: answer for %q while waiting for %q", devs[i].Thing, a.ClientToken, token)
					}
					answers[i] = append(answers[i], a)
				case <-time.After(wait):
					t.Errorf("%s: no answer to update %d within %s", devs[i].Thing, j, wait)
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	var versions []int
	for i, as := range answers {
		for _, a := range as {
			if a.Code != 0 {
				t.Errorf("%s: update rejected: %d %s", devs[i].Thing, a.Code, a.Message)
				continue
			}
			versions = append(versions, a.Version)
		}
	}
	slices.Sort(versions)
	for i, v := range versions {
		if v != i+1 {
			t.Fatalf("accepted versions %v, want each of 1..%d exactly once", versions, total)
		}
	}
	if len(versions) != total {
		t.Fatalf("%d updates accepted, want %d", len(versions), total)
	}

	// Every subscriber got all the update/accepted messages, in version
	// order: the service publishes them in order and the broker keeps it.
	deadline := time.Now().Add(wait)
	for i, w := range ws {
		for {
			w.mu.Lock()
			n, seen, bad := len(w.seen), slices.Clone(w.seen), slices.Clone(w.badSeen)
			w.mu.Unlock()
			if len(bad) > 0 {
				t.Errorf("%s: unexpected answers: %v", devs[i].Thing, bad)
			}
			if n >= total || time.Now().After(deadline) {
				if !slices.IsSorted(seen) || n != total {
					t.Errorf("%s saw %d update/accepted messages with versions %v, want 1..%d in order", devs[i].Thing, n, seen, total)
				}
				break
			}
			time.Sleep(10 * time.Millisecond) // polling interval
		}
	}

	// A get shows the last version and every client's keys.
	got, err := h.Shadows().Get(t.Context(), target, "")
	if err != nil {
		t.Fatalf("get %s: %v", target, err)
	}
	var doc struct {
		State struct {
			Reported map[string]any `json:"reported"`
		} `json:"state"`
		Version int `json:"version"`
	}
	if err := json.Unmarshal(got, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version != total || len(doc.State.Reported) != total {
		t.Errorf("get: version %d with %d reported keys, want %d and %d", doc.Version, len(doc.State.Reported), total, total)
	}
}
