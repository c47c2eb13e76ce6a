package brokerstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/thingcore/thingcore/internal/brokerstore"
	"github.com/thingcore/thingcore/internal/brokertest"
	"github.com/thingcore/thingcore/internal/kvstore"
)

func openStores(t *testing.T, dir string) (*kvstore.Store, *brokerstore.Store) {
	t.Helper()
	kv, err := kvstore.Open(context.Background(), kvstore.Config{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := brokerstore.Open(context.Background(), kv)
	if err != nil {
		t.Fatal(err)
	}
	return kv, st
}

func pahoClient(t *testing.T, addr, id string, clean bool, onMsg paho.MessageHandler) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetCleanSession(clean).
		SetAutoReconnect(false).SetDefaultPublishHandler(onMsg)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	return c
}

// A persistent session's subscriptions and acknowledged queued QoS 1
// messages, and retained messages, survive a broker restart.
func TestStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	kv, st := openStores(t, dir)
	opts := brokertest.Options{Sessions: st, Retained: st}
	opts.Config.PublishRate = -1
	srv := brokertest.Start(t, opts)

	sub := pahoClient(t, srv.Addr, "durable-sub", false, func(paho.Client, paho.Message) {})
	if tok := sub.Subscribe("d/#", 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	sub.Disconnect(100)

	pub := pahoClient(t, srv.Addr, "pub", true, nil)
	const n = 20
	for i := range n {
		if tok := pub.Publish(fmt.Sprintf("d/%d", i), 1, false, fmt.Sprint(i)); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
	if tok := pub.Publish("keep/me", 1, true, "retained"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("retained publish: %v", tok.Error())
	}
	pub.Disconnect(100)
	srv.Close()
	kv.Close()

	kv2, st2 := openStores(t, dir)
	defer kv2.Close()
	srv2 := brokertest.Start(t, brokertest.Options{Sessions: st2, Retained: st2})
	var mu sync.Mutex
	got := map[string]bool{}
	sub2 := pahoClient(t, srv2.Addr, "durable-sub", false, func(_ paho.Client, m paho.Message) {
		mu.Lock()
		got[string(m.Payload())] = true
		mu.Unlock()
	})
	defer sub2.Disconnect(100)
	brokertest.Eventually(t, 10*time.Second, "all queued messages after restart", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == n
	})

	ret := make(chan string, 1)
	c := pahoClient(t, srv2.Addr, "late", true, nil)
	defer c.Disconnect(100)
	c.Subscribe("keep/me", 1, func(_ paho.Client, m paho.Message) { ret <- string(m.Payload()) })
	select {
	case p := <-ret:
		if p != "retained" {
			t.Fatalf("retained payload %q, want %q", p, "retained")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("retained message lost across restart")
	}
}
