package hub_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/thingcore/thingcore/internal/hub"
	"github.com/thingcore/thingcore/internal/hubtest"
)

// A hub stopped and started again on the same data directory keeps its
// admin credentials, its CA, its registry and its persistent sessions with
// their queued QoS 1 messages.
func TestRestartKeepsState(t *testing.T) {
	const (
		topic = "things/restart-sub/inbox"
		n     = 20
	)
	cfg := hub.Config{
		DataDir: filepath.Join(t.TempDir(), "data"),
		// The default policy keeps each thing to its own topics; this test
		// is about durability, so one device publishes to another's.
		InsecureAllowAll: true,
	}
	h1 := hubtest.Start(t, hubtest.Options{Config: cfg})
	events := watchLifecycle(t, h1)
	sub := h1.NewDevice(t, "restart-sub")
	pub := h1.NewDevice(t, "restart-pub")

	// A persistent session subscribes at QoS 1 and goes away.
	sc, _, err := connectV3(t, h1.Endpoints.MQTT, sub.TLSConfig(t), sub.Thing, false, nil)
	if err != nil {
		t.Fatalf("subscriber connect: %v", err)
	}
	if tok := sc.Subscribe(topic, 1, nil); !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	sc.Disconnect(250)
	events.wait(t, "$aws/events/presence/disconnected/"+sub.Thing)

	// Every message is acknowledged before the hub stops.
	pc, _, err := connectV3(t, h1.Endpoints.MQTT, pub.TLSConfig(t), pub.Thing, true, nil)
	if err != nil {
		t.Fatalf("publisher connect: %v", err)
	}
	for i := range n {
		tok := pc.Publish(topic, 1, false, fmt.Sprintf("msg-%02d", i))
		if !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
			t.Fatalf("publish %d: no PUBACK (%v)", i, tok.Error())
		}
	}
	pc.Disconnect(250)

	caBefore := readFile(t, hub.RootCAPath(cfg.DataDir))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h1.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	h2 := hubtest.Start(t, hubtest.Options{Config: cfg})

	t.Run("admin credentials", func(t *testing.T) {
		if h2.Creds != h1.Creds {
			t.Errorf("admin key after restart = %s, want %s (the same key pair)", h2.Creds.AccessKeyID, h1.Creds.AccessKeyID)
		}
		if h2.Endpoints.AdminCreated {
			t.Error("AdminCreated after restart = true, want false")
		}
		for _, f := range []string{hub.AdminCredentialsFile, "ca/root-ca.key"} {
			fi, err := os.Stat(filepath.Join(cfg.DataDir, f))
			if err != nil {
				t.Fatal(err)
			}
			if m := fi.Mode().Perm(); m != 0o600 {
				t.Errorf("%s mode = %v, want 0600", f, m)
			}
		}
	})
	t.Run("root CA", func(t *testing.T) {
		if !bytes.Equal(readFile(t, hub.RootCAPath(cfg.DataDir)), caBefore) {
			t.Error("the root CA file changed across the restart")
		}
		if !bytes.Equal(readFile(t, h2.Endpoints.RootCA), caBefore) {
			t.Errorf("Endpoints.RootCA %s is not the root CA of the first start", h2.Endpoints.RootCA)
		}
	})
	t.Run("registry", func(t *testing.T) {
		ctx := context.Background()
		for _, d := range []*hubtest.Device{sub, pub} {
			if _, err := h2.IoT.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String(d.Thing)}); err != nil {
				t.Errorf("DescribeThing %s: %v", d.Thing, err)
			}
			c, err := h2.IoT.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(d.CertID)})
			if err != nil {
				t.Errorf("DescribeCertificate %s: %v", d.CertID, err)
			} else if s := c.CertificateDescription.Status; s != types.CertificateStatusActive {
				t.Errorf("certificate %s status = %s, want ACTIVE", d.CertID, s)
			}
			p, err := h2.IoT.ListThingPrincipals(ctx, &iot.ListThingPrincipalsInput{ThingName: aws.String(d.Thing)})
			if err != nil || len(p.Principals) != 1 || p.Principals[0] != d.CertARN {
				t.Errorf("ListThingPrincipals %s = %v, %v; want [%s]", d.Thing, p, err, d.CertARN)
			}
		}
	})
	t.Run("queued messages", func(t *testing.T) {
		var (
			mu  sync.Mutex
			got []string
		)
		_, _, err := connectV3(t, h2.Endpoints.MQTT, sub.TLSConfig(t), sub.Thing, false, func(o *mqtt3.ClientOptions) {
			o.SetDefaultPublishHandler(func(_ mqtt3.Client, m mqtt3.Message) {
				mu.Lock()
				got = append(got, string(m.Payload()))
				mu.Unlock()
			})
		})
		if err != nil {
			t.Fatalf("subscriber reconnect: %v", err)
		}
		distinct := func() map[string]bool {
			mu.Lock()
			defer mu.Unlock()
			seen := map[string]bool{}
			for _, p := range got {
				seen[p] = true
			}
			return seen
		}
		deadline := time.Now().Add(waitTimeout)
		for len(distinct()) < n && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // polling interval
		}
		seen := distinct()
		for i := range n {
			if p := fmt.Sprintf("msg-%02d", i); !seen[p] {
				t.Errorf("acknowledged message %s was not delivered after the restart", p)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		last := ""
		for _, p := range got {
			if p < last {
				t.Errorf("delivery order %v: %s after %s; QoS 1 messages of one topic arrive in order", got, p, last)
				break
			}
			last = p
		}
	})
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
