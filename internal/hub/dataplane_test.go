package hub_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/thingcore/thingcore/internal/hub"
	"github.com/thingcore/thingcore/internal/hubtest"
)

// dataReq sends a request to the hub's HTTPS port: signed by the admin for
// iotdata when dev is nil, else unsigned with the device's certificate.
func dataReq(t *testing.T, h *hubtest.Hub, dev *hubtest.Device, method, path, body string) (int, string, string) {
	t.Helper()
	r, err := http.NewRequest(method, "https://localhost:"+h.Endpoints.HTTPS[strings.LastIndexByte(h.Endpoints.HTTPS, ':')+1:]+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	c := h.HTTPClient(t)
	if dev == nil {
		sum := sha256.Sum256([]byte(body))
		creds := aws.Credentials{AccessKeyID: h.Creds.AccessKeyID, SecretAccessKey: h.Creds.SecretAccessKey}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "iotdata", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
	} else {
		tc := dev.TLSConfig(t)
		c = &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 30 * time.Second}
	}
	defer c.CloseIdleConnections()
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), string(b)
}

// An HTTP shadow update by the admin reaches the device over MQTT as
// update/accepted, update/documents and update/delta; the control plane
// still answers beside the data plane on the same port.
func TestDataPlaneShadowUpdateReachesMQTT(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	d := h.NewDevice(t, "lamp")
	got := make(chan [2]string, 16)
	o := paho.NewClientOptions().AddBroker("ssl://" + h.Endpoints.MQTT).SetClientID(d.Thing).
		SetTLSConfig(d.TLSConfig(t)).SetAutoReconnect(false)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.Subscribe("$aws/things/lamp/shadow/update/+", 1, func(_ paho.Client, m paho.Message) {
		got <- [2]string{m.Topic(), string(m.Payload())}
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	if code, typ, body := dataReq(t, h, nil, "GET", "/things/lamp/shadow", ""); code != 404 || typ != "ResourceNotFoundException:" ||
		!strings.Contains(body, `"message":"No shadow exists with name: 'lamp'"`) {
		t.Errorf("GET missing shadow = %d %q %s", code, typ, body)
	}
	code, _, body := dataReq(t, h, nil, "POST", "/things/lamp/shadow", `{"state":{"desired":{"led":"on"}},"clientToken":"http-1"}`)
	if code != 200 || !strings.Contains(body, `"version":1`) || !strings.Contains(body, `"clientToken":"http-1"`) {
		t.Fatalf("POST shadow = %d %s", code, body)
	}
	seen := map[string]string{}
	deadline := time.After(10 * time.Second)
	for len(seen) < 3 {
		select {
		case m := <-got:
			seen[m[0][strings.LastIndexByte(m[0], '/')+1:]] = m[1]
		case <-deadline:
			t.Fatalf("over MQTT got only %v, want accepted, documents and delta", seen)
		}
	}
	if !strings.Contains(seen["delta"], `"state":{"led":"on"}`) || !strings.Contains(seen["accepted"], `"clientToken":"http-1"`) {
		t.Errorf("MQTT messages %v", seen)
	}
	if code, _, body := dataReq(t, h, nil, "GET", "/things/lamp/shadow", ""); code != 200 || !strings.Contains(body, `"delta":{"led":"on"}`) {
		t.Errorf("GET shadow = %d %s", code, body)
	}
	if code, _, body := dataReq(t, h, nil, "DELETE", "/things/lamp/shadow", ""); code != 200 || !strings.Contains(body, `"version":1`) {
		t.Errorf("DELETE shadow = %d %s", code, body)
	}
	if _, err := h.IoT.DescribeThing(context.Background(), &iot.DescribeThingInput{ThingName: aws.String("lamp")}); err != nil {
		t.Errorf("the control plane beside the data plane: %v", err)
	}
}

// A device's certificate authenticates it on the data plane; its policies
// decide. The default thing policy grants no HTTP shadow action (as AWS's
// MQTT-only examples), so the request is refused and the refusal logged
// with the certificate and the reason until a policy allows it.
func TestDataPlaneDeviceCertificate(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	d := h.NewDevice(t, "fan")
	if code, typ, _ := dataReq(t, h, d, "POST", "/things/fan/shadow", `{"state":{"reported":{"rpm":900}}}`); code != 403 || typ != "ForbiddenException:" {
		t.Fatalf("device update under the default policy = %d %q, want 403 ForbiddenException:", code, typ)
	}
	h.Logs.WaitFor(t, 5*time.Second, "dataplane: action denied", d.CertID, "iot:UpdateThingShadow", "default deny")

	ctx := context.Background()
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:UpdateThingShadow","iot:GetThingShadow"],` +
		`"Resource":"arn:aws:iot:us-east-1:000000000000:thing/fan"}]}`
	if _, err := h.IoT.CreatePolicy(ctx, &iot.CreatePolicyInput{PolicyName: aws.String("fan-http"), PolicyDocument: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.IoT.AttachPolicy(ctx, &iot.AttachPolicyInput{PolicyName: aws.String("fan-http"), Target: aws.String(d.CertARN)}); err != nil {
		t.Fatal(err)
	}
	if code, _, body := dataReq(t, h, d, "POST", "/things/fan/shadow", `{"state":{"reported":{"rpm":900}}}`); code != 200 || !strings.Contains(body, `"rpm":900`) {
		t.Fatalf("device update with a policy = %d %s", code, body)
	}
	if code, _, _ := dataReq(t, h, d, "GET", "/things/other/shadow", ""); code != 403 {
		t.Errorf("device reading another thing's shadow = %d, want 403", code)
	}
	// A certificate that is no longer ACTIVE is refused.
	if _, err := h.IoT.UpdateCertificate(ctx, &iot.UpdateCertificateInput{CertificateId: aws.String(d.CertID), NewStatus: "INACTIVE"}); err != nil {
		t.Fatal(err)
	}
	if code, typ, _ := dataReq(t, h, d, "GET", "/things/fan/shadow", ""); code != 401 || typ != "UnauthorizedException:" {
		t.Errorf("INACTIVE certificate = %d %q, want 401 UnauthorizedException:", code, typ)
	}
	h.Logs.WaitFor(t, 5*time.Second, "request refused", d.CertID, "INACTIVE")
	// Control-plane operations never accept a device certificate.
	if code, _, _ := dataReqControl(t, h, d); code != 403 {
		t.Errorf("control plane with a device certificate = %d, want 403", code)
	}
}

// dataReqControl calls ListThings with only the device's certificate.
func dataReqControl(t *testing.T, h *hubtest.Hub, d *hubtest.Device) (int, string, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: func() *tls.Config { return d.TLSConfig(t) }()}, Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Get("https://localhost:" + h.Endpoints.HTTPS[strings.LastIndexByte(h.Endpoints.HTTPS, ':')+1:] + "/things")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), string(b)
}

// On the ALPN port (AWS's 443), a device that asks for "x-amzn-http-ca" is
// served HTTP with its client certificate: it is authenticated as the
// device and its policy applies, as on the HTTPS port.
func TestDataPlaneDeviceCertificateOnALPNPort(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{Config: hub.Config{ALPNAddr: "127.0.0.1:0"}})
	d := h.NewDevice(t, "fan")
	ctx := context.Background()
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:GetThingShadow",` +
		`"Resource":"arn:aws:iot:us-east-1:000000000000:thing/fan"}]}`
	if _, err := h.IoT.CreatePolicy(ctx, &iot.CreatePolicyInput{PolicyName: aws.String("fan-get"), PolicyDocument: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.IoT.AttachPolicy(ctx, &iot.AttachPolicyInput{PolicyName: aws.String("fan-get"), Target: aws.String(d.CertARN)}); err != nil {
		t.Fatal(err)
	}
	tc := d.TLSConfig(t)
	tc.NextProtos = []string{"x-amzn-http-ca"}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	port := h.Endpoints.ALPN[strings.LastIndexByte(h.Endpoints.ALPN, ':')+1:]
	resp, err := c.Get("https://localhost:" + port + "/things/fan/shadow")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	// Authenticated and allowed: the shadow does not exist yet.
	if typ := resp.Header.Get("X-Amzn-Errortype"); resp.StatusCode != 404 || typ != "ResourceNotFoundException:" {
		t.Fatalf("device GET on the ALPN port = %d %q %s, want 404 ResourceNotFoundException:", resp.StatusCode, typ, body)
	}
	if resp.TLS == nil || resp.TLS.NegotiatedProtocol != "x-amzn-http-ca" {
		t.Errorf("negotiated %+v, want x-amzn-http-ca", resp.TLS)
	}
}
