package hub_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/thingcore/thingcore/internal/hub"
	"github.com/thingcore/thingcore/internal/hubtest"
)

// With console_http_addr the console is also on plain HTTP on loopback,
// with its security headers, and nothing else is: the AWS API stays on
// HTTPS.
func TestConsoleOverLocalHTTP(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{Config: hub.Config{ConsoleHTTPAddr: "127.0.0.1:0"}})
	base := "http://" + h.Endpoints.ConsoleHTTP
	if h.Endpoints.ConsoleHTTP == "" {
		t.Fatal("no ConsoleHTTP endpoint")
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(base + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("GET /console/ = %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	resp, err = client.Get(base + "/things")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/console/" {
		t.Errorf("GET /things on the console port = %d %q, want a redirect to /console/", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// The loopback console refuses a request naming another host: a page whose
// DNS name was rebound to 127.0.0.1 (DNS rebinding) sends its own name.
func TestConsoleOverLocalHTTPRefusesOtherHosts(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{Config: hub.Config{ConsoleHTTPAddr: "127.0.0.1:0"}})
	_, port, err := net.SplitHostPort(h.Endpoints.ConsoleHTTP)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range []struct {
		host string
		want int
	}{
		{"evil.example", http.StatusMisdirectedRequest},
		{"evil.example:" + port, http.StatusMisdirectedRequest},
		{"localhost.evil.example", http.StatusMisdirectedRequest},
		{"127.0.0.2:" + port, http.StatusMisdirectedRequest},
		{"localhost:" + port, http.StatusOK},
		{"LOCALHOST", http.StatusOK},
		{"127.0.0.1:" + port, http.StatusOK},
		{"[::1]:" + port, http.StatusOK},
		{"[::1]", http.StatusOK},
	} {
		t.Run(tt.host, func(t *testing.T) {
			req, err := http.NewRequest("GET", "http://"+h.Endpoints.ConsoleHTTP+"/console/api/login", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tt.host
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("GET /console/api/login with Host %q = %d %s, want %d", tt.host, resp.StatusCode, body, tt.want)
			}
		})
	}
}
