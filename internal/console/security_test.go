package console_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thingcore/thingcore/internal/hub"
	"github.com/thingcore/thingcore/internal/hubtest"
)

// A burst of password sign-ins runs at most a couple of PBKDF2 checks at
// once; the rest are answered 429 at once instead of taking the CPUs.
func TestPasswordSignInBurstRefusedWith429(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	const pw = "correct horse battery staple"
	if err := hub.SetConsolePassword(dir, pw); err != nil {
		t.Fatal(err)
	}
	h := hubtest.Start(t, hubtest.Options{Config: hub.Config{DataDir: dir}})
	c := newClient(t, h)
	const burst = 24
	type answer struct {
		status int
		body   string
		err    error
	}
	answers := make(chan answer, burst)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, err := http.NewRequest("POST", c.url("api/login"), strings.NewReader(`{"password":"wrong password, long enough"}`))
			if err != nil {
				answers <- answer{err: err}
				return
			}
			req.Header.Set("Content-Type", "application/json")
			res, err := c.http.Do(req)
			if err != nil {
				answers <- answer{err: err}
				return
			}
			defer res.Body.Close()
			var b bytes.Buffer
			_, _ = b.ReadFrom(res.Body)
			answers <- answer{status: res.StatusCode, body: b.String()}
		}()
	}
	close(start)
	wg.Wait()
	close(answers)
	counts := map[int]int{}
	for a := range answers {
		if a.err != nil {
			t.Fatalf("POST api/login: %v", a.err)
		}
		counts[a.status]++
		if a.status == http.StatusTooManyRequests && !strings.Contains(a.body, "too many sign-in attempts at once; try again") {
			t.Errorf("429 body = %s, want the reason", a.body)
		}
	}
	if counts[http.StatusTooManyRequests] == 0 || counts[http.StatusUnauthorized] == 0 ||
		counts[http.StatusTooManyRequests]+counts[http.StatusUnauthorized] != burst {
		t.Errorf("%d parallel wrong-password sign-ins answered %v, want some 401 and the rest 429", burst, counts)
	}
	// The slots are given back: a sign-in after the burst is checked.
	var s struct {
		User string `json:"user"`
	}
	c.call("POST", "api/login", map[string]string{"password": pw}, &s, 200)
	if s.User != "console password" {
		t.Errorf("user = %q", s.User)
	}
}

// Refused sign-ins are logged at most once a second; the next line counts
// the ones held back.
func TestRefusedSignInLogIsRateLimited(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	c := newClient(t, h)
	wrong := map[string]string{"accessKeyId": h.Creds.AccessKeyID, "secretAccessKey": "wrong"}
	refusedLines := func() []string {
		var out []string
		for _, l := range h.Logs.Lines() {
			if strings.Contains(l, `"msg":"console: sign-in refused"`) {
				out = append(out, l)
			}
		}
		return out
	}
	began := time.Now()
	const attempts = 20
	for range attempts {
		if res, body := c.do("POST", "api/login", wrong, nil); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong secret = %d %s, want 401", res.StatusCode, body)
		}
	}
	limit := int(time.Since(began)/time.Second) + 1
	if n := len(refusedLines()); n == 0 || n > limit {
		t.Fatalf("%d refused sign-ins logged %d lines, want 1 to %d (one a second)", attempts, n, limit)
	}
	// Keep failing until the next line is due: it carries the count.
	deadline := time.Now().Add(waitTimeout)
	for {
		c.do("POST", "api/login", wrong, nil)
		lines := refusedLines()
		if last := lines[len(lines)-1]; len(lines) > 1 {
			var l struct {
				Suppressed int    `json:"suppressed"`
				Reason     string `json:"reason"`
			}
			if err := json.Unmarshal([]byte(last), &l); err != nil {
				t.Fatal(err)
			}
			if l.Suppressed < attempts-1 || l.Reason == "" {
				t.Errorf("next refused sign-in line %s: suppressed %d, want at least %d, and a reason", last, l.Suppressed, attempts-1)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no second refused sign-in line")
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

// The live stream refuses shared subscriptions and requests that another
// site makes.
func TestLiveStreamRefusesSharedAndCrossSite(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	c := newClient(t, h)
	c.signIn()
	for _, tt := range []struct {
		name    string
		filters []string
		site    string
		want    int
		msg     string
	}{
		{"shared subscription", []string{"$share/g/sensors/#"}, "", http.StatusBadRequest, "take messages away from the group's members"},
		{"shared beside a plain filter", []string{"a/b", "$share/g/a/#"}, "same-origin", http.StatusBadRequest, "shared subscriptions"},
		{"cross-site", []string{"a/b"}, "cross-site", http.StatusForbidden, "cross-origin"},
		{"same-site", []string{"a/b"}, "same-site", http.StatusForbidden, "cross-origin"},
		{"same-origin", []string{"a/b"}, "same-origin", http.StatusOK, ""},
		{"typed URL", []string{"a/b"}, "none", http.StatusOK, ""},
		{"no Sec-Fetch-Site", []string{"a/b"}, "", http.StatusOK, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{"filter": tt.filters}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, "GET", c.url("api/stream?"+q.Encode()), nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.site != "" {
				req.Header.Set("Sec-Fetch-Site", tt.site)
			}
			res, err := c.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != tt.want {
				t.Fatalf("GET api/stream %v, Sec-Fetch-Site %q = %d, want %d", tt.filters, tt.site, res.StatusCode, tt.want)
			}
			if tt.msg != "" {
				var e struct {
					Message string `json:"message"`
				}
				if err := json.NewDecoder(res.Body).Decode(&e); err != nil || !strings.Contains(e.Message, tt.msg) {
					t.Errorf("GET api/stream %v: message %q (%v), want it to contain %q", tt.filters, e.Message, err, tt.msg)
				}
			}
		})
	}
}

// The console's publishes get the checks a device's PUBLISH gets.
func TestConsolePublishAppliesClientPublishRules(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	c := newClient(t, h)
	c.signIn()
	for _, tt := range []struct {
		name string
		body map[string]any
		msg  string
	}{
		{"retained $ topic", map[string]any{"topic": "$aws/things/t1/shadow/update", "retain": true, "payload": "{}"}, "cannot be retained"},
		{"reserved response topic", map[string]any{"topic": "$aws/things/t1/shadow/update/accepted", "payload": "{}"}, "reserved topic"},
		{"payload too large", map[string]any{"topic": "big/payload", "payload": strings.Repeat("x", 128*1024+1)}, "the limit is"},
		{"too many levels", map[string]any{"topic": strings.Repeat("a/", 8) + "a", "payload": "x"}, ""},
		{"empty topic", map[string]any{"topic": "", "payload": "x"}, "empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var e struct {
				Message string `json:"message"`
			}
			c.call("POST", "api/publish", tt.body, &e, http.StatusBadRequest)
			if e.Message == "" || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("POST api/publish %s: message %q, want it to contain %q", tt.name, e.Message, tt.msg)
			}
		})
	}
	// A device's request topic stays allowed.
	c.call("POST", "api/publish", map[string]any{"topic": "$aws/things/t1/shadow/get", "payload": ""}, nil, http.StatusOK)
}

// A thing name with ':' gives a ZIP whose folder and file name use '_'.
func TestCreateThingWithColonNamesFilesWithUnderscore(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	c := newClient(t, h)
	c.signIn()
	var cr created
	c.call("POST", "api/things", map[string]any{"name": "plant:line-1:sensor"}, &cr, 200)
	if cr.Thing != "plant:line-1:sensor" || cr.FileName != "plant_line-1_sensor.zip" {
		t.Fatalf("create = %+v, want thing plant:line-1:sensor in plant_line-1_sensor.zip", cr)
	}
	res, data := c.do("GET", strings.TrimPrefix(cr.Download, "/console/"), nil, nil)
	if res.StatusCode != 200 {
		t.Fatalf("download = %d", res.StatusCode)
	}
	if got, want := res.Header.Get("Content-Disposition"), `attachment; filename="plant_line-1_sensor.zip"`; got != want {
		t.Errorf("Content-Disposition = %q, want %q", got, want)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if !strings.HasPrefix(f.Name, "plant_line-1_sensor/") {
			t.Errorf("ZIP entry %q, want it in the folder plant_line-1_sensor/", f.Name)
		}
	}
}
