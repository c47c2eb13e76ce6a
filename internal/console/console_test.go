package console_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/devicebundle"
	"github.com/thingcore/thingcore/internal/hub"
	"github.com/thingcore/thingcore/internal/hubtest"
)

// waitTimeout bounds every wait for an effect.
const waitTimeout = 10 * time.Second

// client is a browser: a cookie jar and the CSRF token of its session.
type client struct {
	t    testing.TB
	h    *hubtest.Hub
	http *http.Client
	csrf string
}

func newClient(t testing.TB, h *hubtest.Hub) *client {
	t.Helper()
	hc := h.HTTPClient(t)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc.Jar = jar
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &client{t: t, h: h, http: hc}
}

func (c *client) url(path string) string { return c.h.APIURL() + "/console/" + path }

// do sends a request; body is JSON-encoded unless it is a string.
func (c *client) do(method, path string, body any, hdr map[string]string) (*http.Response, []byte) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.url(path), rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.csrf != "" && method != http.MethodGet {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return res, data
}

// call sends a request and decodes a JSON answer with status want.
func (c *client) call(method, path string, body, out any, want int) {
	c.t.Helper()
	res, data := c.do(method, path, body, nil)
	if res.StatusCode != want {
		c.t.Fatalf("%s %s = %d %s, want %d", method, path, res.StatusCode, data, want)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
}

func (c *client) signIn() {
	c.t.Helper()
	var s struct {
		CSRFToken string `json:"csrfToken"`
	}
	c.call("POST", "api/login", map[string]string{"accessKeyId": c.h.Creds.AccessKeyID, "secretAccessKey": c.h.Creds.SecretAccessKey}, &s, 200)
	if s.CSRFToken == "" {
		c.t.Fatal("sign-in returned no CSRF token")
	}
	c.csrf = s.CSRFToken
}

func TestRequestsWithoutSessionRefused(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	c := newClient(t, h)
	for _, r := range []struct{ method, path string }{
		{"GET", "api/session"},
		{"GET", "api/things"},
		{"GET", "api/things/x"},
		{"POST", "api/things"},
		{"GET", "api/stream?filter=%23"},
		{"GET", "api/stats"},
		{"POST", "api/publish"},
		{"GET", "api/policies"},
		{"POST", "api/authorize"},
		{"GET", "api/diagnostics"},
		{"POST", "api/certificates/abc/status"},
		{"GET", "api/downloads/abc"},
		{"POST", "api/logout"},
	} {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			res, body := c.do(r.method, r.path, "{}", nil)
			if res.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s without a session = %d %s, want 401", r.method, r.path, res.StatusCode, body)
			}
		})
	}
	// A forged cookie is no session either.
	u, _ := url.Parse(c.url(""))
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: "thingcore_console", Value: "forged", Path: "/console/"}})
	if res, body := c.do("GET", "api/things", nil, nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET api/things with a forged cookie = %d %s, want 401", res.StatusCode, body)
	}
}

func TestPagesAndSecurityHeaders(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	c := newClient(t, h)
	res, body := c.do("GET", "", nil, nil)
	if res.StatusCode != 200 || !strings.Contains(string(body), `<script type="module" src="js/app.js">`) {
		t.Fatalf("GET /console/ = %d %.200s", res.StatusCode, body)
	}
	for k, want := range map[string]string{
		"Content-Security-Policy": "default-src 'self'",
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
	} {
		if got := res.Header.Get(k); !strings.Contains(got, want) {
			t.Errorf("header %s = %q, want it to contain %q", k, got, want)
		}
	}
	if got := res.Header.Get("Content-Security-Policy"); !strings.Contains(got, "frame-ancestors 'none'") {
		t.Errorf("CSP %q has no frame-ancestors 'none'", got)
	}
	if res, _ := c.do("GET", "js/app.js", nil, nil); !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("js/app.js Content-Type = %q, want text/javascript", res.Header.Get("Content-Type"))
	}
	// /console redirects to /console/; the AWS API is unchanged beside it.
	req, _ := http.NewRequest("GET", h.APIURL()+"/console", nil)
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/console/" {
		t.Errorf("GET /console = %d Location %q, want 302 /console/", res.StatusCode, res.Header.Get("Location"))
	}
	if _, err := h.IoT.ListThings(context.Background(), nil); err != nil {
		t.Errorf("AWS API beside the console: ListThings: %v", err)
	}
}

func TestSignIn(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	c := newClient(t, h)
	for _, tt := range []struct {
		name string
		body map[string]string
	}{
		{"wrong secret", map[string]string{"accessKeyId": h.Creds.AccessKeyID, "secretAccessKey": h.Creds.SecretAccessKey + "x"}},
		{"wrong key id", map[string]string{"accessKeyId": "AKIAWRONG", "secretAccessKey": h.Creds.SecretAccessKey}},
		{"no password configured", map[string]string{"password": "something-long-enough"}},
		{"empty", map[string]string{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, body := c.do("POST", "api/login", tt.body, nil)
			if res.StatusCode != http.StatusUnauthorized {
				t.Errorf("POST api/login = %d %s, want 401", res.StatusCode, body)
			}
			if len(res.Cookies()) != 0 {
				t.Errorf("refused sign-in set cookies %v", res.Cookies())
			}
		})
	}
	res, body := c.do("POST", "api/login", map[string]string{"accessKeyId": h.Creds.AccessKeyID, "secretAccessKey": h.Creds.SecretAccessKey}, nil)
	if res.StatusCode != 200 {
		t.Fatalf("sign-in = %d %s", res.StatusCode, body)
	}
	var ck *http.Cookie
	for _, k := range res.Cookies() {
		if k.Name == "thingcore_console" {
			ck = k
		}
	}
	if ck == nil {
		t.Fatalf("sign-in set no session cookie: %v", res.Header["Set-Cookie"])
	}
	if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/console/" {
		t.Errorf("session cookie = HttpOnly %v Secure %v SameSite %v Path %q, want HttpOnly, Secure, Strict, /console/",
			ck.HttpOnly, ck.Secure, ck.SameSite, ck.Path)
	}
	if strings.Contains(string(body), h.Creds.SecretAccessKey) {
		t.Error("sign-in response contains the secret")
	}
	var s struct {
		User string `json:"user"`
	}
	c.call("GET", "api/session", nil, &s, 200)
	if s.User != h.Creds.AccessKeyID {
		t.Errorf("session user = %q, want %q", s.User, h.Creds.AccessKeyID)
	}
	// Sign-out ends the session.
	var out struct {
		CSRFToken string `json:"csrfToken"`
	}
	json.Unmarshal(body, &out)
	c.csrf = out.CSRFToken
	c.call("POST", "api/logout", struct{}{}, nil, 200)
	if res, _ := c.do("GET", "api/things", nil, nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("after sign-out GET api/things = %d, want 401", res.StatusCode)
	}
}

func TestStateChangingRequestsNeedCSRFToken(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	c := newClient(t, h)
	c.signIn()
	body := map[string]string{"name": "csrf-thing"}
	for _, tt := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"no token", map[string]string{"X-CSRF-Token": ""}, http.StatusForbidden},
		{"wrong token", map[string]string{"X-CSRF-Token": "not-the-token"}, http.StatusForbidden},
		{"other origin", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"form body", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, data := c.do("POST", "api/things", body, tt.hdr)
			if res.StatusCode != tt.want {
				t.Errorf("POST api/things with %s = %d %s, want %d", tt.name, res.StatusCode, data, tt.want)
			}
		})
	}
	for _, path := range []string{"api/publish", "api/logout", "api/certificates/abc/status", "api/policies"} {
		if res, data := c.do("POST", path, "{}", map[string]string{"X-CSRF-Token": ""}); res.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s without the CSRF token = %d %s, want 403", path, res.StatusCode, data)
		}
	}
	var things struct {
		Things []struct{ Name string } `json:"things"`
	}
	c.call("GET", "api/things", nil, &things, 200)
	if len(things.Things) != 0 {
		t.Errorf("refused requests created things: %v", things.Things)
	}
}

type created struct {
	Thing         string `json:"thing"`
	ThingCreated  bool   `json:"thingCreated"`
	CertificateID string `json:"certificateId"`
	Download      string `json:"download"`
	FileName      string `json:"fileName"`
	Port          int    `json:"port"`
}

func TestCreateThingWizardZIP(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	c := newClient(t, h)
	c.signIn()
	var cr created
	c.call("POST", "api/things", map[string]any{"name": "wizard-1", "keyType": "ec", "attributes": map[string]string{"room": "lab"},
		"board": "w5100s-evb-pico"}, &cr, 200)
	if !cr.ThingCreated || cr.Thing != "wizard-1" || len(cr.CertificateID) != 64 || cr.FileName != "wizard-1.zip" {
		t.Fatalf("create = %+v", cr)
	}
	dl := strings.TrimPrefix(cr.Download, "/console/")
	res, data := c.do("GET", dl, nil, nil)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("download = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*zip.File{}
	var names []string
	for _, f := range zr.File {
		files[f.Name] = f
		names = append(names, f.Name)
	}
	slices.Sort(names)
	want := []string{}
	for _, n := range []string{devicebundle.CertPEM, devicebundle.KeyPEM, devicebundle.PublicPEM, devicebundle.RootCA,
		devicebundle.CertDER, devicebundle.KeyDER, devicebundle.BoardCert, devicebundle.BoardKey, devicebundle.DeviceJSON,
		"cert/root-CA.der", "main.py", "README.md"} {
		want = append(want, "wizard-1/"+n)
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("ZIP files (-want +got):\n%s", diff)
	}
	for _, s := range devicebundle.SecretFiles {
		if f := files["wizard-1/"+s]; f != nil && f.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", s, f.Mode().Perm())
		}
	}
	read := func(name string) []byte {
		rc, err := files["wizard-1/"+name].Open()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		return b
	}
	var dev devicebundle.Device
	if err := json.Unmarshal(read(devicebundle.DeviceJSON), &dev); err != nil {
		t.Fatal(err)
	}
	if dev.ThingName != "wizard-1" || dev.CertificateID != cr.CertificateID || dev.KeyType != "ec" || dev.MQTTPort != cr.Port || dev.Endpoint != "localhost" {
		t.Errorf("device.json = %+v", dev)
	}
	// Offered once.
	if res, _ := c.do("GET", dl, nil, nil); res.StatusCode != http.StatusGone {
		t.Errorf("second download = %d, want 410", res.StatusCode)
	}

	// The files connect as the device (the default policy lets it use its
	// own name as client id).
	tc := (&hubtest.Device{CertPEM: read(devicebundle.CertPEM), KeyPEM: read(devicebundle.KeyPEM), CA: h.Endpoints.RootCA}).TLSConfig(t)
	if err := connectV3(t, h.Endpoints.MQTT, tc, "wizard-1"); err != nil {
		t.Fatalf("connect with the wizard's files: %v", err)
	}

	// The thing page shows the certificate, its policy, and the attribute.
	var th struct {
		Attributes   map[string]string `json:"attributes"`
		Certificates []struct {
			ID       string   `json:"id"`
			Status   string   `json:"status"`
			Policies []string `json:"policies"`
		} `json:"certificates"`
	}
	c.call("GET", "api/things/wizard-1", nil, &th, 200)
	if len(th.Certificates) != 1 || th.Certificates[0].ID != cr.CertificateID || th.Certificates[0].Status != "ACTIVE" ||
		!slices.Equal(th.Certificates[0].Policies, []string{"thingcore-default-thing-policy"}) || th.Attributes["room"] != "lab" {
		t.Errorf("thing page = %+v", th)
	}
	// A bad name is refused before anything is created.
	if res, _ := c.do("POST", "api/things", map[string]string{"name": "bad name"}, nil); res.StatusCode != 400 {
		t.Errorf("create with a bad name = %d, want 400", res.StatusCode)
	}
}

// connectV3 connects an MQTT 3.1.1 client over mutual TLS and disconnects.
func connectV3(t testing.TB, addr string, tc *tls.Config, clientID string) error {
	t.Helper()
	o := mqtt3.NewClientOptions().AddBroker("tls://" + addr).SetClientID(clientID).SetTLSConfig(tc).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second)
	cl := mqtt3.NewClient(o)
	tok := cl.Connect()
	if !tok.WaitTimeout(waitTimeout) {
		return context.DeadlineExceeded
	}
	if err := tok.Error(); err != nil {
		return err
	}
	cl.Disconnect(100)
	return nil
}

// sseEvent is one Server-Sent Event.
type sseEvent struct{ name, data string }

// openStream opens a Server-Sent Events stream and returns its events.
func (c *client) openStream(path string) <-chan sseEvent {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", c.url(path), nil)
	res, err := c.http.Do(req)
	if err != nil {
		cancel()
		c.t.Fatal(err)
	}
	if res.StatusCode != 200 {
		cancel()
		c.t.Fatalf("GET %s = %d", path, res.StatusCode)
	}
	ch := make(chan sseEvent, 64)
	done := make(chan struct{})
	c.t.Cleanup(func() {
		cancel()
		res.Body.Close()
		<-done
	})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(res.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			case line == "" && ev.name != "":
				select {
				case ch <- ev:
				case <-ctx.Done():
					return
				}
				ev = sseEvent{}
			}
		}
	}()
	return ch
}

func next(t testing.TB, ch <-chan sseEvent, name string) sseEvent {
	t.Helper()
	timeout := time.After(waitTimeout)
	for {
		select {
		case ev := <-ch:
			if ev.name == name {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %q event after %s", name, waitTimeout)
		}
	}
}

func TestLiveStreamAndPublish(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	c := newClient(t, h)
	c.signIn()
	if res, _ := c.do("GET", "api/stream?filter="+url.QueryEscape("a/#/b"), nil, nil); res.StatusCode != 400 {
		t.Errorf("stream with a bad filter = %d, want 400", res.StatusCode)
	}
	ch := c.openStream("api/stream?filter=" + url.QueryEscape("$aws/things/+/shadow/update") + "&filter=" + url.QueryEscape("$aws/things/+/shadow/+"))
	next(t, ch, "subscribed")
	// A device publishes; the console sees it once although two filters match.
	d := h.NewDevice(t, "streamer")
	o := mqtt3.NewClientOptions().AddBroker("tls://" + h.Endpoints.MQTT).SetClientID("streamer").SetTLSConfig(d.TLSConfig(t)).SetAutoReconnect(false)
	dev := mqtt3.NewClient(o)
	if tok := dev.Connect(); !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
		t.Fatalf("device connect: %v", tok.Error())
	}
	defer dev.Disconnect(100)
	if tok := dev.Publish("$aws/things/streamer/shadow/update", 1, false, `{"state":{"reported":{"t":1}}}`); !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
		t.Fatalf("device publish: %v", tok.Error())
	}
	ev := next(t, ch, "message")
	var m struct {
		Topic   string `json:"topic"`
		Payload string `json:"payload"`
		QoS     int    `json:"qos"`
	}
	json.Unmarshal([]byte(ev.data), &m)
	if m.Topic != "$aws/things/streamer/shadow/update" || m.Payload != `{"state":{"reported":{"t":1}}}` || m.QoS != 1 {
		t.Errorf("streamed message = %+v", m)
	}
	// The console publishes as the hub, with user properties.
	got := make(chan *broker.Message, 1)
	unsub, err := h.Broker().Subscribe("console/test", func(m *broker.Message) {
		select {
		case got <- m:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unsub()
	c.call("POST", "api/publish", map[string]any{"topic": "console/test", "qos": 1, "payload": "hi",
		"userProperties": []map[string]string{{"key": "k", "value": "v"}}}, nil, 200)
	select {
	case m := <-got:
		if string(m.Payload) != "hi" || len(m.UserProperties) != 1 || m.UserProperties[0].Key != "k" {
			t.Errorf("published = %q %v", m.Payload, m.UserProperties)
		}
	case <-time.After(waitTimeout):
		t.Fatal("console publish not delivered")
	}
	if res, _ := c.do("POST", "api/publish", map[string]any{"topic": "a/+/b", "payload": "x"}, nil); res.StatusCode != 400 {
		t.Errorf("publish to a filter = %d, want 400", res.StatusCode)
	}
	// Events after the message: no duplicate from the second filter.
	select {
	case ev := <-ch:
		if ev.name == "message" {
			t.Errorf("second message event %s: a message matching two filters is shown once", ev.data)
		}
	case <-time.After(200 * time.Millisecond): // nothing more is expected
	}

	stats := c.openStream("api/stats")
	var s struct {
		Connections int64 `json:"connections"`
	}
	json.Unmarshal([]byte(next(t, stats, "stats").data), &s)
	if s.Connections != 1 {
		t.Errorf("stats connections = %d, want 1", s.Connections)
	}
}

func TestDeactivatedCertificateRefusalInConnectionLog(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	c := newClient(t, h)
	c.signIn()
	d := h.NewDevice(t, "sensor-9")
	if err := connectV3(t, h.Endpoints.MQTT, d.TLSConfig(t), "sensor-9"); err != nil {
		t.Fatalf("connect while ACTIVE: %v", err)
	}
	c.call("POST", "api/certificates/"+d.CertID+"/status", map[string]string{"status": "INACTIVE"}, nil, 200)
	if res, _ := c.do("POST", "api/certificates/"+d.CertID+"/status", map[string]string{"status": "BOGUS"}, nil); res.StatusCode != 400 {
		t.Errorf("bogus status = %d, want 400", res.StatusCode)
	}
	if err := connectV3(t, h.Endpoints.MQTT, d.TLSConfig(t), "sensor-9"); err == nil {
		t.Fatal("connect with an INACTIVE certificate succeeded")
	}
	var log struct {
		Log []struct {
			Kind          string `json:"kind"`
			ClientID      string `json:"clientId"`
			CertificateID string `json:"certificateId"`
			Reason        string `json:"reason"`
		} `json:"log"`
	}
	deadline := time.Now().Add(waitTimeout)
	for {
		c.call("GET", "api/diagnostics?q=sensor-9", nil, &log, 200)
		if len(log.Log) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	if len(log.Log) == 0 {
		t.Fatal("connection log has no entry for sensor-9")
	}
	e := log.Log[0]
	if e.Kind != "refused" || e.CertificateID != d.CertID || !strings.Contains(e.Reason, "INACTIVE, not ACTIVE") {
		t.Errorf("connection log entry = %+v, want a refusal saying the certificate is INACTIVE", e)
	}
	c.call("GET", "api/diagnostics?q=nobody-matches", nil, &log, 200)
	if len(log.Log) != 0 {
		t.Errorf("filtered log = %+v, want empty", log.Log)
	}
}

func TestPolicies(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	c := newClient(t, h)
	c.signIn()
	d := h.NewDevice(t, "pol-dev")

	// A document that does not validate points at the statement.
	var e struct {
		Message   string `json:"message"`
		Statement *int   `json:"statement"`
		Field     string `json:"field"`
	}
	bad := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"},{"Effect":"Maybe","Action":"iot:Publish","Resource":"*"}]}`
	c.call("POST", "api/policies/thingcore-default-thing-policy/versions", map[string]any{"document": bad}, &e, 400)
	if e.Statement == nil || *e.Statement != 1 || e.Field != "Effect" {
		t.Errorf("validation error = %+v, want statement 1, field Effect", e)
	}
	good := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`
	c.call("POST", "api/policies", map[string]any{"name": "connect-any", "document": good}, nil, 200)
	c.call("POST", "api/policies/connect-any/attach", map[string]any{"target": d.CertID}, nil, 200)
	var p struct {
		Versions []struct {
			VersionID string `json:"versionId"`
		} `json:"versions"`
		Targets []string `json:"targets"`
	}
	c.call("GET", "api/policies/connect-any", nil, &p, 200)
	if len(p.Versions) != 1 || !slices.Equal(p.Targets, []string{d.CertARN}) {
		t.Errorf("policy = %+v, want one version attached to %s", p, d.CertARN)
	}

	type decision struct {
		Allowed   bool            `json:"allowed"`
		Policy    string          `json:"policy"`
		Statement *int            `json:"statement"`
		Reason    string          `json:"reason"`
		Document  json.RawMessage `json:"statementDocument"`
	}
	for _, tt := range []struct {
		name, client, action, resource string
		allowed                        bool
		policy                         string
	}{
		{"connect as own thing", "pol-dev", "iot:Connect", "pol-dev", true, "connect-any"},
		{"publish own shadow", "pol-dev", "iot:Publish", "$aws/things/pol-dev/shadow/update", true, "thingcore-default-thing-policy"},
		{"publish another thing's shadow", "pol-dev", "iot:Publish", "$aws/things/other/shadow/update", false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got decision
			c.call("POST", "api/authorize", map[string]string{"certificateId": d.CertID, "clientId": tt.client, "action": tt.action, "resource": tt.resource}, &got, 200)
			if got.Allowed != tt.allowed || got.Policy != tt.policy {
				t.Errorf("authorize(%s %s) = %+v, want allowed %v by %q", tt.action, tt.resource, got, tt.allowed, tt.policy)
			}
			if got.Allowed && (got.Statement == nil || len(got.Document) == 0) {
				t.Errorf("authorize(%s) names no statement: %+v", tt.action, got)
			}
		})
	}
	c.call("POST", "api/policies/connect-any/detach", map[string]any{"target": d.CertARN}, nil, 200)
	c.call("GET", "api/policies/connect-any", nil, &p, 200)
	if len(p.Targets) != 0 {
		t.Errorf("after detach targets = %v", p.Targets)
	}
}

func TestShadowEditorReachesDevice(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	if h.Shadows() == nil {
		t.Skip("the hub runs no shadow service")
	}
	c := newClient(t, h)
	c.signIn()
	h.NewDevice(t, "lamp")
	delta := make(chan []byte, 4)
	unsub, err := h.Broker().Subscribe("$aws/things/lamp/shadow/update/delta", func(m *broker.Message) {
		select {
		case delta <- m.Payload:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unsub()
	if res, _ := c.do("GET", "api/things/lamp/shadow", nil, nil); res.StatusCode != 404 {
		t.Errorf("missing shadow = %d, want 404", res.StatusCode)
	}
	c.call("POST", "api/things/lamp/shadow", map[string]any{"state": map[string]any{"desired": map[string]any{"on": true}}}, nil, 200)
	select {
	case p := <-delta:
		var d struct {
			State map[string]any `json:"state"`
		}
		json.Unmarshal(p, &d)
		if d.State["on"] != true {
			t.Errorf("delta = %s, want state.on true", p)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no delta after the console set desired")
	}
	var doc struct {
		State struct {
			Desired map[string]any `json:"desired"`
		} `json:"state"`
		Version int `json:"version"`
	}
	c.call("GET", "api/things/lamp/shadow", nil, &doc, 200)
	if doc.State.Desired["on"] != true || doc.Version != 1 {
		t.Errorf("shadow = %+v", doc)
	}
	if res, _ := c.do("POST", "api/things/lamp/shadow", "{not json", nil); res.StatusCode != 400 {
		t.Errorf("invalid JSON update = %d, want 400", res.StatusCode)
	}
	c.call("DELETE", "api/things/lamp/shadow", nil, nil, 200)
	if res, _ := c.do("GET", "api/things/lamp/shadow", nil, nil); res.StatusCode != 404 {
		t.Errorf("deleted shadow = %d, want 404", res.StatusCode)
	}
}

// TestMain fails the package if a test leaves a goroutine behind: live
// streams end with their request, and every hub is drained.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConsolePasswordSignIn(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := hub.SetConsolePassword(dir, "short"); err == nil {
		t.Error("SetConsolePassword accepted a 5-character password")
	}
	const pw = "correct horse battery staple"
	if err := hub.SetConsolePassword(dir, pw); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, hub.ConsolePasswordFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	h := hubtest.Start(t, hubtest.Options{Config: hub.Config{DataDir: dir}})
	c := newClient(t, h)
	var methods struct {
		Password bool `json:"password"`
	}
	c.call("GET", "api/login", nil, &methods, 200)
	if !methods.Password {
		t.Error("GET api/login does not offer the password")
	}
	if res, _ := c.do("POST", "api/login", map[string]string{"password": pw + "x"}, nil); res.StatusCode != 401 {
		t.Errorf("wrong password = %d, want 401", res.StatusCode)
	}
	var s struct {
		User string `json:"user"`
	}
	c.call("POST", "api/login", map[string]string{"password": pw}, &s, 200)
	if s.User != "console password" {
		t.Errorf("user = %q", s.User)
	}
	c.call("GET", "api/things", nil, nil, 200)
}
