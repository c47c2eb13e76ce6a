package broker_test

import (
	"errors"
	"testing"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/brokertest"
)

// A tap sees a message once however many of its filters match, counts what
// does not fit its buffer, and refuses shared subscriptions.
func TestTap(t *testing.T) {
	b, err := broker.New(broker.Config{}, broker.Deps{Authenticator: brokertest.CertOrClientID{}, Authorizer: brokertest.AllowAll{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := broker.NewTap(b, []string{"a/#", "$share/g/a/#"}, 4); !errors.Is(err, broker.ErrSharedTap) {
		t.Fatalf("NewTap with a $share/ filter = %v, want ErrSharedTap", err)
	}
	tap, err := broker.NewTap(b, []string{"a/#", "a/+", "b"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	for _, topic := range []string{"a/x", "b", "c", "a/y"} {
		if err := b.Publish(&broker.Message{Topic: topic}); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"a/x", "b"} {
		if m := <-tap.C; m.Topic != want {
			t.Errorf("tap got %s, want %s", m.Topic, want)
		}
	}
	if n := tap.Dropped(); n != 1 {
		t.Errorf("Dropped() = %d, want 1 (a/y did not fit the buffer of 2)", n)
	}
	select {
	case m := <-tap.C:
		t.Errorf("tap got %s again or more than its buffer", m.Topic)
	default:
	}
}
