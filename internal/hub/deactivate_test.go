package hub_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/thingcore/thingcore/internal/hub"
	"github.com/thingcore/thingcore/internal/hubtest"
)

// kickTimeout is how soon a device must be disconnected once its
// certificate leaves ACTIVE.
const kickTimeout = 5 * time.Second

// A connected device is disconnected, within seconds, when its certificate
// is set INACTIVE through the API: an MQTT 5 device is told why with a
// DISCONNECT, a 3.1.1 device loses its connection. Either way the
// disconnection is logged, reported as a lifecycle event with AUTH_ERROR,
// and the device's reconnect is refused.
func TestCertificateDeactivationDisconnects(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	events := watchLifecycle(t, h)

	tests := []struct {
		name string
		// connect connects d and returns a channel closed when the
		// connection ends and, for MQTT 5, the DISCONNECT's reason code and
		// reason string.
		connect func(t *testing.T, d *hubtest.Device) (gone <-chan struct{}, reason func() (byte, string))
		refused func(t *testing.T, d *hubtest.Device)
	}{
		{
			name: "v5",
			connect: func(t *testing.T, d *hubtest.Device) (<-chan struct{}, func() (byte, string)) {
				// paho closes the client before it calls OnServerDisconnect:
				// the connection counts as gone once the DISCONNECT is heard.
				gone := make(chan struct{})
				var once sync.Once
				var got *paho.Disconnect
				_, ack, err := connectV5(t, h.Endpoints.MQTT, d.TLSConfig(t), d.Thing, func(p *paho.Disconnect) {
					once.Do(func() { got = p; close(gone) })
				})
				if err != nil {
					t.Fatalf("connect: %v (CONNACK %+v)", err, ack)
				}
				return gone, func() (byte, string) {
					rs := ""
					if got.Properties != nil {
						rs = got.Properties.ReasonString
					}
					return got.ReasonCode, rs
				}
			},
			refused: func(t *testing.T, d *hubtest.Device) {
				_, ack, err := connectV5(t, h.Endpoints.MQTT, d.TLSConfig(t), d.Thing, nil)
				if err == nil || ack == nil || ack.ReasonCode != 0x87 {
					t.Fatalf("reconnect = (%+v, %v), want a CONNACK with 0x87", ack, err)
				}
				if ack.Properties == nil || !strings.Contains(ack.Properties.ReasonString, d.CertID+" is INACTIVE") {
					t.Errorf("reconnect CONNACK reason string = %+v, want it to say %s is INACTIVE", ack.Properties, d.CertID)
				}
			},
		},
		{
			name: "v3",
			connect: func(t *testing.T, d *hubtest.Device) (<-chan struct{}, func() (byte, string)) {
				gone := make(chan struct{})
				_, _, err := connectV3(t, h.Endpoints.MQTT, d.TLSConfig(t), d.Thing, true, func(o *mqtt3.ClientOptions) {
					o.SetConnectionLostHandler(func(mqtt3.Client, error) { close(gone) })
				})
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				return gone, nil
			},
			refused: func(t *testing.T, d *hubtest.Device) {
				_, code, err := connectV3(t, h.Endpoints.MQTT, d.TLSConfig(t), d.Thing, true, nil)
				if err == nil || code != 5 {
					t.Fatalf("reconnect = (return code %d, %v), want return code 5", code, err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := h.NewDevice(t, "deactivated-"+tt.name)
			gone, reason := tt.connect(t, d)
			connected := events.wait(t, "$aws/events/presence/connected/"+d.Thing)

			start := time.Now()
			setCertStatus(t, h, d.CertID, types.CertificateStatusInactive)
			select {
			case <-gone:
				t.Logf("disconnected %s after the API call", time.Since(start))
			case <-time.After(kickTimeout):
				t.Fatalf("still connected %s after the certificate was set INACTIVE", kickTimeout)
			}
			if reason != nil {
				code, rs := reason()
				if code != 0x87 {
					t.Errorf("DISCONNECT reason code = 0x%02X, want 0x87 (Not authorized)", code)
				}
				if want := "certificate " + d.CertID + " is now INACTIVE"; !strings.Contains(rs, want) {
					t.Errorf("DISCONNECT reason string = %q, want it to say %q", rs, want)
				}
			}

			disc := events.wait(t, "$aws/events/presence/disconnected/"+d.Thing)
			if disc["disconnectReason"] != "AUTH_ERROR" || disc["clientInitiatedDisconnect"] != false {
				t.Errorf("disconnected event: disconnectReason %v, clientInitiatedDisconnect %v; want AUTH_ERROR, false",
					disc["disconnectReason"], disc["clientInitiatedDisconnect"])
			}
			if disc["principalIdentifier"] != d.CertID || disc["versionNumber"] != connected["versionNumber"] {
				t.Errorf("disconnected event: principalIdentifier %v, versionNumber %v; want %s, %v (the connected event's)",
					disc["principalIdentifier"], disc["versionNumber"], d.CertID, connected["versionNumber"])
			}
			h.Logs.WaitFor(t, waitTimeout, `"level":"WARN"`, "no longer active", `"cert_id":"`+d.CertID+`"`, `"status":"INACTIVE"`)

			tt.refused(t, d)
			h.Logs.WaitFor(t, waitTimeout, `"msg":"mqtt: connection refused"`, `"client_id":"`+d.Thing+`"`, d.CertID+" is INACTIVE")
		})
	}
}

// A certificate detached from its thing may no longer connect as that thing
// under the default policy. (A live connection is not re-evaluated when the
// attachment changes, as with AWS: not tested here.)
func TestDetachedThingRefused(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	d := h.NewDevice(t, "detached-dev")
	c, ack, err := connectV5(t, h.Endpoints.MQTT, d.TLSConfig(t), d.Thing, nil)
	if err != nil {
		t.Fatalf("connect while attached: %v (CONNACK %+v)", err, ack)
	}
	if err := c.Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.IoT.DetachThingPrincipal(context.Background(), &iot.DetachThingPrincipalInput{
		ThingName: aws.String(d.Thing), Principal: aws.String(d.CertARN),
	}); err != nil {
		t.Fatalf("DetachThingPrincipal: %v", err)
	}
	_, ack, err = connectV5(t, h.Endpoints.MQTT, d.TLSConfig(t), d.Thing, nil)
	if err == nil || ack == nil || ack.ReasonCode != 0x87 {
		t.Fatalf("connect after detach = (%+v, %v), want a CONNACK with 0x87", ack, err)
	}
	rs := ack.Properties.ReasonString
	for _, want := range []string{d.Thing, "is not a thing attached to certificate " + d.CertID} {
		if !strings.Contains(rs, want) {
			t.Errorf("CONNACK reason string %q does not say %q", rs, want)
		}
	}
}

// DeleteCertificate follows AWS's rules: an ACTIVE certificate must be
// deactivated first, an attached one detached first, and a REVOKED
// certificate stays REVOKED. A deleted certificate no longer connects.
func TestDeleteCertificateRules(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	ctx := context.Background()
	d := h.NewDevice(t, "doomed-dev")
	del := func() error {
		_, err := h.IoT.DeleteCertificate(ctx, &iot.DeleteCertificateInput{CertificateId: aws.String(d.CertID)})
		return err
	}
	update := func(s types.CertificateStatus) func() error {
		return func() error {
			_, err := h.IoT.UpdateCertificate(ctx, &iot.UpdateCertificateInput{CertificateId: aws.String(d.CertID), NewStatus: s})
			return err
		}
	}
	detach := func() error {
		_, err := h.IoT.DetachThingPrincipal(ctx, &iot.DetachThingPrincipalInput{ThingName: aws.String(d.Thing), Principal: aws.String(d.CertARN)})
		return err
	}
	describe := func() error {
		_, err := h.IoT.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(d.CertID)})
		return err
	}
	detachPolicy := func() error {
		_, err := h.IoT.DetachPolicy(ctx, &iot.DetachPolicyInput{PolicyName: aws.String(hub.DefaultPolicyName), Target: aws.String(d.CertARN)})
		return err
	}

	// The steps run in order, each on the state the previous ones left.
	steps := []struct {
		name     string
		call     func() error
		wantCode string // "" for success
	}{
		{"delete ACTIVE", del, "CertificateStateException"},
		{"revoke", update(types.CertificateStatusRevoked), ""},
		{"reactivate REVOKED", update(types.CertificateStatusActive), "CertificateStateException"},
		{"delete attached", del, "DeleteConflictException"},
		{"detach", detach, ""},
		{"delete with a policy attached", del, "DeleteConflictException"},
		{"detach policy", detachPolicy, ""},
		{"delete REVOKED and detached", del, ""},
		{"describe deleted", describe, "ResourceNotFoundException"},
		{"delete deleted", del, "ResourceNotFoundException"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			err := st.call()
			if got := apiErrorCode(err); got != st.wantCode || (st.wantCode == "" && err != nil) {
				t.Fatalf("error = %v (code %q), want code %q", err, got, st.wantCode)
			}
		})
	}

	t.Run("deleted certificate connects", func(t *testing.T) {
		_, ack, err := connectV5(t, h.Endpoints.MQTT, d.TLSConfig(t), d.Thing, nil)
		if err == nil || ack == nil || ack.ReasonCode != 0x87 {
			t.Fatalf("connect = (%+v, %v), want a CONNACK with 0x87", ack, err)
		}
		if want := d.CertID + " is not registered"; !strings.Contains(ack.Properties.ReasonString, want) {
			t.Errorf("CONNACK reason string %q does not say %q", ack.Properties.ReasonString, want)
		}
	})
}
