package dataplane_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/dataplane"
	"github.com/thingcore/thingcore/internal/mqtt/packet"
	"github.com/thingcore/thingcore/internal/shadow"
)

// devicePolicy lets the device "lamp" use its classic shadow and its named
// shadows, publish and read retained messages under things/lamp/, and
// nothing else (the second statement denies one named shadow).
const devicePolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow",
     "Action": ["iot:GetThingShadow", "iot:UpdateThingShadow", "iot:DeleteThingShadow"],
     "Resource": ["arn:aws:iot:us-east-1:123456789012:thing/lamp", "arn:aws:iot:us-east-1:123456789012:thing/lamp/*"]},
    {"Effect": "Deny", "Action": "iot:*", "Resource": "arn:aws:iot:us-east-1:123456789012:thing/lamp/secret"},
    {"Effect": "Allow", "Action": ["iot:Publish", "iot:GetRetainedMessage"],
     "Resource": "arn:aws:iot:us-east-1:123456789012:topic/things/lamp/*"},
    {"Effect": "Allow", "Action": "iot:ListNamedShadowsForThing", "Resource": "*"}
  ]
}`

func devices() *fakeDevices {
	return &fakeDevices{
		policies: map[string]string{"lamp": devicePolicy},
		refused:  map[string]string{"revoked": "certificate cert-revoked is INACTIVE, not ACTIVE"},
	}
}

// TestGoldenResponses pins every operation's success and error responses:
// status, x-amzn-ErrorType (with AWS's trailing colon), and the body.
func TestGoldenResponses(t *testing.T) {
	h := start(t, harnessOpts{cfg: dataplane.Config{MaxBodyBytes: 1024}, devices: devices()})
	h.shadows.docs["lamp"] = []byte(`{"state":{"desired":{"on":true}},"metadata":{"desired":{"on":{"timestamp":1735787045}}},"version":3,"timestamp":1735787045}`)
	h.shadows.docs["lamp~night"] = []byte(`{"state":{},"metadata":{},"version":1,"timestamp":1735787045}`)
	h.shadows.errs["bad"] = &shadow.Error{Code: 400, Message: shadow.MsgMissingState}
	h.shadows.errs["conflict"] = &shadow.Error{Code: 409, Message: shadow.MsgVersionConflict}
	h.shadows.errs["big"] = &shadow.Error{Code: 413, Message: shadow.MsgTooLarge}
	h.shadows.errs["utf16"] = &shadow.Error{Code: 415, Message: shadow.MsgUnsupportedEnc}
	h.shadows.errs["busy"] = &shadow.Error{Code: 429, Message: "Too Many Requests"}
	h.shadows.errs["broken"] = errors.New("kv: disk on fire")
	h.shadows.errs["failing"] = &shadow.Error{Code: 500, Message: shadow.MsgInternalFailure}
	if err := h.b.Publish(&broker.Message{Topic: "things/lamp/state", Payload: []byte("on"), QoS: 1, Retain: true,
		UserProperties: []packet.UserProperty{{Key: "deviceName", Value: "alpha"}}}); err != nil {
		t.Fatal(err)
	}
	if err := h.b.Publish(&broker.Message{Topic: "things/fan/state", Payload: []byte("off!"), Retain: true}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		req  req
	}{
		// GetThingShadow
		{"get_shadow", req{method: "GET", path: "/things/lamp/shadow"}},
		{"get_named_shadow", req{method: "GET", path: "/things/lamp/shadow?name=night"}},
		{"get_shadow_not_found", req{method: "GET", path: "/things/ghost/shadow"}},
		{"get_named_shadow_not_found", req{method: "GET", path: "/things/lamp/shadow?name=ghost"}},
		{"get_shadow_internal", req{method: "GET", path: "/things/broken/shadow"}},
		{"get_shadow_internal_shadow_error", req{method: "GET", path: "/things/failing/shadow"}},
		{"get_shadow_throttled", req{method: "GET", path: "/things/busy/shadow"}},
		// UpdateThingShadow
		{"update_shadow", req{method: "POST", path: "/things/lamp/shadow", body: `{"state":{"reported":{"on":true}}}`}},
		{"update_shadow_bad_request", req{method: "POST", path: "/things/bad/shadow", body: `{"on":true}`}},
		{"update_shadow_conflict", req{method: "POST", path: "/things/conflict/shadow", body: `{"state":{},"version":1}`}},
		{"update_shadow_too_large_state", req{method: "POST", path: "/things/big/shadow", body: `{"state":{}}`}},
		{"update_shadow_too_large_body", req{method: "POST", path: "/things/lamp/shadow", body: `{"state":{"reported":{"x":"` + strings.Repeat("x", 2000) + `"}}}`}},
		{"update_shadow_encoding", req{method: "POST", path: "/things/utf16/shadow", body: `{}`}},
		// DeleteThingShadow
		{"delete_shadow_not_found", req{method: "DELETE", path: "/things/ghost/shadow"}},
		{"delete_named_shadow", req{method: "DELETE", path: "/things/lamp/shadow?name=night"}},
		// ListNamedShadowsForThing
		{"list_named_shadows", req{method: "GET", path: "/api/things/shadow/ListNamedShadowsForThing/lamp"}},
		{"list_named_shadows_page", req{method: "GET", path: "/api/things/shadow/ListNamedShadowsForThing/lamp?pageSize=1"}},
		{"list_named_shadows_bad_page_size", req{method: "GET", path: "/api/things/shadow/ListNamedShadowsForThing/lamp?pageSize=101"}},
		// Publish
		{"publish", req{method: "POST", path: "/topics/things%2Flamp%2Fcmd?qos=1", body: "hello"}},
		{"publish_bad_qos", req{method: "POST", path: "/topics/things%2Flamp%2Fcmd?qos=2", body: "hello"}},
		{"publish_wildcard", req{method: "POST", path: "/topics/things%2F%23", body: "hello"}},
		{"publish_retained_dollar", req{method: "POST", path: "/topics/%24aws%2Fthings%2Flamp%2Fshadow%2Fupdate?retain=true", body: "{}"}},
		{"publish_bad_user_properties", req{method: "POST", path: "/topics/a", header: http.Header{"X-Amz-Mqtt5-User-Properties": {"not base64!"}}}},
		{"publish_bad_payload_format", req{method: "POST", path: "/topics/a", header: http.Header{"X-Amz-Mqtt5-Payload-Format-Indicator": {"UTF16"}}}},
		// GetRetainedMessage and ListRetainedMessages
		{"get_retained", req{method: "GET", path: "/retainedMessage/things%2Flamp%2Fstate"}},
		{"get_retained_not_found", req{method: "GET", path: "/retainedMessage/things%2Fnone"}},
		{"list_retained", req{method: "GET", path: "/retainedMessage"}},
		{"list_retained_page", req{method: "GET", path: "/retainedMessage?maxResults=1"}},
		{"list_retained_bad_max", req{method: "GET", path: "/retainedMessage?maxResults=201"}},
		// Routing and authentication
		{"method_not_allowed", req{method: "PUT", path: "/things/lamp/shadow"}},
		{"wrong_signing_service", req{method: "GET", path: "/things/lamp/shadow", service: "iot"}},
		{"device_refused", req{method: "GET", path: "/things/lamp/shadow", device: "revoked"}},
		{"device_forbidden", req{method: "GET", path: "/things/fan/shadow", device: "lamp"}},
		{"device_watch_forbidden", req{method: "GET", path: "/thingcore/v1/watch?filter=%23", device: "lamp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			golden(t, tt.name, h.do(t, tt.req))
		})
	}
}

// TestSigningNames: the data plane accepts signatures for botocore's
// iotdata and AWS's documented iotdevicegateway, and no other service.
func TestSigningNames(t *testing.T) {
	h := start(t, harnessOpts{})
	h.shadows.docs["lamp"] = []byte(`{"version":1}`)
	for _, tc := range []struct {
		service   string
		status    int
		errorType string
	}{
		{"iotdata", 200, ""},
		{"iotdevicegateway", 200, ""},
		{"iot", 403, "InvalidSignatureException:"},
		{"execute-api", 403, "InvalidSignatureException:"},
		{"s3", 403, "InvalidSignatureException:"},
	} {
		t.Run(tc.service, func(t *testing.T) {
			r := h.do(t, req{method: "GET", path: "/things/lamp/shadow", service: tc.service})
			if r.Status != tc.status || r.ErrorType != tc.errorType {
				t.Errorf("signed for %s: %d %q %s, want %d %q", tc.service, r.Status, r.ErrorType, r.Body, tc.status, tc.errorType)
			}
		})
	}
	// Unsigned and without a certificate.
	r := h.do(t, req{method: "GET", path: "/things/lamp/shadow", device: "-"})
	if r.Status != 401 && r.Status != 403 {
		t.Errorf("unsigned request without Devices: %d %s, want a refusal", r.Status, r.Body)
	}
}

// TestDeviceAuthorization: a device certificate is authorized with its
// policies on AWS's resources; a denial is 403 ForbiddenException, logged
// with the certificate and the deciding statement.
func TestDeviceAuthorization(t *testing.T) {
	h := start(t, harnessOpts{devices: devices()})
	for _, k := range []string{"lamp", "lamp~night", "lamp~secret", "fan"} {
		h.shadows.docs[k] = []byte(`{"version":1}`)
	}
	tests := []struct {
		name      string
		device    string
		method    string
		path      string
		body      string
		status    int
		logPolicy string // the policy statement a denial log names; "" for the default deny
	}{
		{"own classic shadow", "lamp", "GET", "/things/lamp/shadow", "", 200, ""},
		{"own named shadow", "lamp", "GET", "/things/lamp/shadow?name=night", "", 200, ""},
		{"update own shadow", "lamp", "POST", "/things/lamp/shadow", `{"state":{}}`, 200, ""},
		{"delete own named shadow", "lamp", "DELETE", "/things/lamp/shadow?name=night", "", 200, ""},
		{"explicitly denied named shadow", "lamp", "GET", "/things/lamp/shadow?name=secret", "", 403, `"policy":"lamp-policy","statement":1`},
		{"other thing's shadow", "lamp", "GET", "/things/fan/shadow", "", 403, `default deny`},
		{"list named shadows", "lamp", "GET", "/api/things/shadow/ListNamedShadowsForThing/lamp", "", 200, ""},
		{"publish own topic", "lamp", "POST", "/topics/things%2Flamp%2Fx", "hi", 200, ""},
		{"publish other topic", "lamp", "POST", "/topics/things%2Ffan%2Fx", "hi", 403, `default deny`},
		{"retain without RetainPublish", "lamp", "POST", "/topics/things%2Flamp%2Fx?retain=true", "hi", 403, `iot:RetainPublish`},
		{"list retained without permission", "lamp", "GET", "/retainedMessage", "", 403, `iot:ListRetainedMessages`},
		{"no policies", "stranger", "GET", "/things/stranger/shadow", "", 403, `default deny`},
		{"refused certificate", "revoked", "GET", "/things/lamp/shadow", "", 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(t, req{method: tt.method, path: tt.path, body: tt.body, device: tt.device})
			if r.Status != tt.status {
				t.Fatalf("%s %s as %s = %d %s, want %d", tt.method, tt.path, tt.device, r.Status, r.Body, tt.status)
			}
			if tt.status != 403 {
				return
			}
			if r.ErrorType != "ForbiddenException:" || !strings.Contains(string(r.Body), `"message":"Forbidden"`) {
				t.Errorf("denial = %q %s, want ForbiddenException: and message Forbidden", r.ErrorType, r.Body)
			}
			line := h.logs.line(`"dataplane: action denied"`, `"request_id":"`+r.RequestID+`"`)
			if line == "" {
				t.Fatalf("no denial log for request %s", r.RequestID)
			}
			for _, want := range []string{`"cert_id":"cert-` + tt.device + `"`, `"level":"WARN"`, tt.logPolicy} {
				if !strings.Contains(line, want) {
					t.Errorf("denial log %s lacks %s", line, want)
				}
			}
		})
	}
	if line := h.logs.line(`request refused`, `cert-revoked is INACTIVE`); line == "" {
		t.Errorf("the refused certificate's reason is not logged")
	}
}

// TestPublishMQTT5: Publish's query and headers become the MQTT 5
// properties subscribers receive.
func TestPublishMQTT5(t *testing.T) {
	h := start(t, harnessOpts{})
	got := h.receive(t, "things/lamp/#")
	props := base64.StdEncoding.EncodeToString([]byte(`[{"deviceName":"alpha"},{"deviceCnt":"45","deviceName":"beta"}]`))
	r := h.do(t, req{method: "POST", path: "/topics/things%2Flamp%2Fcmd?qos=1&retain=true&contentType=text%2Fplain&responseTopic=things%2Flamp%2Freply&messageExpiry=60",
		header: http.Header{
			"X-Amz-Mqtt5-User-Properties":          {props},
			"X-Amz-Mqtt5-Payload-Format-Indicator": {"UTF8_DATA"},
			"X-Amz-Mqtt5-Correlation-Data":         {base64.StdEncoding.EncodeToString([]byte{0, 1, 2})},
		}, body: "on"})
	if r.Status != 200 {
		t.Fatalf("publish = %d %s", r.Status, r.Body)
	}
	m := next(t, got)
	want := &broker.Message{Topic: "things/lamp/cmd", Payload: []byte("on"), QoS: 1, Retain: true, PayloadFormat: 1,
		ContentType: "text/plain", ResponseTopic: "things/lamp/reply", CorrelationData: []byte{0, 1, 2},
		UserProperties: []packet.UserProperty{{Key: "deviceName", Value: "alpha"}, {Key: "deviceCnt", Value: "45"}, {Key: "deviceName", Value: "beta"}},
		Expiry:         clock.Add(time.Minute), Created: clock}
	if d := cmp.Diff(want, m); d != "" {
		t.Errorf("received message (-want +got):\n%s", d)
	}
	// The retained message carries the user properties back.
	r = h.do(t, req{method: "GET", path: "/retainedMessage/things%2Flamp%2Fcmd"})
	var rm struct {
		Payload        []byte
		UserProperties string
	}
	if err := json.Unmarshal(r.Body, &rm); err != nil {
		t.Fatalf("GetRetainedMessage %s: %v", r.Body, err)
	}
	up, _ := base64.StdEncoding.DecodeString(rm.UserProperties)
	if string(rm.Payload) != "on" || string(up) != `[{"deviceName":"alpha"},{"deviceCnt":"45"},{"deviceName":"beta"}]` {
		t.Errorf("GetRetainedMessage = %s (userProperties %s)", r.Body, up)
	}
	// An empty retained publish deletes it.
	if r := h.do(t, req{method: "POST", path: "/topics/things%2Flamp%2Fcmd?retain=true"}); r.Status != 200 {
		t.Fatalf("empty retained publish = %d %s", r.Status, r.Body)
	}
	if r := h.do(t, req{method: "GET", path: "/retainedMessage/things%2Flamp%2Fcmd"}); r.Status != 404 {
		t.Errorf("GetRetainedMessage after delete = %d %s, want 404", r.Status, r.Body)
	}
}

// TestShadowCalls: the operations pass the thing, the shadow name and the
// body to the shadow service unchanged.
func TestShadowCalls(t *testing.T) {
	h := start(t, harnessOpts{})
	h.do(t, req{method: "POST", path: "/things/my%3Athing/shadow?name=cfg", body: `{"state":{"desired":{"a":1}}}`})
	h.do(t, req{method: "GET", path: "/things/my%3Athing/shadow?name=cfg"})
	h.do(t, req{method: "DELETE", path: "/things/my%3Athing/shadow?name=cfg"})
	h.do(t, req{method: "GET", path: "/api/things/shadow/ListNamedShadowsForThing/my%3Athing?nextToken=abc&pageSize=7"})
	want := []string{
		`update my:thing cfg {"state":{"desired":{"a":1}}}`,
		"get my:thing cfg",
		"delete my:thing cfg",
		"list my:thing  next=abc size=7",
	}
	if d := cmp.Diff(want, h.shadows.callLog()); d != "" {
		t.Errorf("shadow service calls (-want +got):\n%s", d)
	}
}

// TestWatch: the admin's watch stream carries matching broker messages as
// server-sent events, and Shutdown ends it.
func TestWatch(t *testing.T) {
	h := start(t, harnessOpts{})
	hr, err := http.NewRequest("GET", h.srv.URL+dataplane.WatchPath+"?filter=things%2Flamp%2F%23", nil)
	if err != nil {
		t.Fatal(err)
	}
	signReq(t, hr)
	resp, err := h.client(t, "").Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("watch = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() || sc.Text() != ": watching" {
		t.Fatalf("first line %q, want the comment", sc.Text())
	}
	for _, topic := range []string{"things/fan/x", "things/lamp/x"} {
		if err := h.b.Publish(&broker.Message{Topic: topic, Payload: []byte(`{"on":true}`), ContentType: "application/json"}); err != nil {
			t.Fatal(err)
		}
	}
	var event, data string
	for sc.Scan() && (event == "" || data == "") {
		if v, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			event = v
		}
		if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			data = v
		}
	}
	var ev dataplane.WatchEvent
	if err := json.Unmarshal([]byte(data), &ev); err != nil {
		t.Fatalf("event data %q: %v", data, err)
	}
	want := dataplane.WatchEvent{Topic: "things/lamp/x", Payload: []byte(`{"on":true}`), Timestamp: clock.UnixMilli(), ContentType: "application/json"}
	if event != "message" || !cmp.Equal(want, ev) {
		t.Errorf("event %q %+v, want message %+v", event, ev, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.dp.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with an open stream: %v", err)
	}
	for sc.Scan() {
	}
	// A stream opened after Shutdown is refused.
	if r := h.do(t, req{method: "GET", path: dataplane.WatchPath + "?filter=a"}); r.Status != 503 {
		t.Errorf("watch after Shutdown = %d %s, want 503", r.Status, r.Body)
	}
}

func TestOwns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"/things/lamp/shadow", true},
		{"/things/lamp", false},
		{"/things/lamp/principals", false},
		{"/things/lamp/shadow/x", false},
		{"/things", false},
		{"/api/things/shadow/ListNamedShadowsForThing/lamp", true},
		{"/topics/a%2Fb", true},
		{"/topics/a/b", true},
		{"/retainedMessage", true},
		{"/retainedMessage/a", true},
		{"/retainedMessages", false},
		{"/thingcore/v1/watch", true},
		{"/policies", false},
		{"/", false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			if got := dataplane.Owns(tc.path); got != tc.want {
				t.Errorf("Owns(%q) = %v, want %v", tc.path, got, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  dataplane.Config
		ok   bool
	}{
		{"minimal", dataplane.Config{Region: "r", AccountID: "a"}, true},
		{"no region", dataplane.Config{AccountID: "a"}, false},
		{"negative body", dataplane.Config{Region: "r", AccountID: "a", MaxBodyBytes: -1}, false},
		{"negative expiry", dataplane.Config{Region: "r", AccountID: "a", MaxMessageExpiry: -1}, false},
		{"negative buffer", dataplane.Config{Region: "r", AccountID: "a", WatchBuffer: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// A shared-subscription filter is refused: the watch stream would join the
// group and take messages away from its members.
func TestWatchRefusesSharedSubscriptions(t *testing.T) {
	h := start(t, harnessOpts{})
	resp := h.do(t, req{method: "GET", path: dataplane.WatchPath + "?filter=%24share%2Fworkers%2Fjobs%2F%23"})
	if resp.Status != 400 || !strings.Contains(string(resp.Body), "shared subscription") {
		t.Errorf("watch of $share/... = %d %s, want 400 saying why", resp.Status, resp.Body)
	}
}
