package hub_test

import (
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
