// Package e2e runs thingcore's web console in a real browser: Playwright
// (npm playwright-core, in test/e2e/node_modules) drives Debian's chromium
// against a hub from internal/hubtest, with mosquitto_pub and mosquitto_sub
// as the device.
//
// A test whose tool is missing is skipped, unless THINGCORE_INTEROP_REQUIRED=1
// (set by scripts/test.sh), when it fails instead. Run
// scripts/install-deps.sh to install chromium, the mosquitto clients and
// test/e2e/node_modules. Screenshots go to test/e2e/out/ (or
// $THINGCORE_E2E_OUT).
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/thingcore/thingcore/internal/hubtest"
)

// requiredEnv makes missing tools a failure rather than a skip.
const requiredEnv = "THINGCORE_INTEROP_REQUIRED"

// browserTimeout bounds the whole browser run.
const browserTimeout = 3 * time.Minute

func missing(t *testing.T, why string) {
	t.Helper()
	if os.Getenv(requiredEnv) == "1" {
		t.Fatalf("%s (%s=1 makes this a failure)", why, requiredEnv)
	}
	t.Skip(why)
}

func need(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		missing(t, fmt.Sprintf("%s not found on PATH (%v); run scripts/install-deps.sh", tool, err))
	}
	return p
}

// chromiumPath is Debian's chromium, or $THINGCORE_CHROMIUM.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("THINGCORE_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		missing(t, fmt.Sprintf("chromium not found at %s (%v); run scripts/install-deps.sh (Debian package chromium)", p, err))
	}
	return p
}

type result struct {
	OK    bool `json:"ok"`
	Steps struct {
		ZIP              string `json:"zip"`
		CertificateID    string `json:"certificateId"`
		MessageLatencyMS int    `json:"messageLatencyMs"`
		Delta            string `json:"delta"`
		Refusal          string `json:"refusal"`
		Authorization    string `json:"authorization"`
	} `json:"steps"`
	Screenshots []string `json:"screenshots"`
}

// TestConsoleInBrowser is issue 6's acceptance flow, end to end.
func TestConsoleInBrowser(t *testing.T) {
	node := need(t, "node")
	need(t, "mosquitto_pub")
	need(t, "mosquitto_sub")
	need(t, "python3")
	browser := chromiumPath(t)
	if _, err := os.Stat(filepath.Join("node_modules", "playwright-core", "package.json")); err != nil {
		missing(t, fmt.Sprintf("npm package playwright-core is not installed in test/e2e/node_modules (%v); run scripts/install-deps.sh", err))
	}
	out := os.Getenv("THINGCORE_E2E_OUT")
	if out == "" {
		abs, err := filepath.Abs("out")
		if err != nil {
			t.Fatal(err)
		}
		out = abs
	}
	h := hubtest.Start(t, hubtest.Options{})
	if h.Shadows() == nil {
		t.Fatal("the hub runs no shadow service; the shadow editor step needs one")
	}
	_, port, err := splitPort(h.Endpoints.MQTT)
	if err != nil {
		t.Fatal(err)
	}
	scenario := map[string]any{
		"url": h.APIURL(), "accessKeyId": h.Creds.AccessKeyID, "secretAccessKey": h.Creds.SecretAccessKey,
		"thing": "e2e-sensor", "mqttHost": "localhost", "mqttPort": port,
		"chromium": browser, "outDir": out, "workDir": t.TempDir(),
	}
	arg, err := json.Marshal(scenario)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "console.mjs", string(arg))
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	runErr := cmd.Run()
	t.Logf("browser run took %s; screenshots in %s", time.Since(start).Round(time.Millisecond), out)
	if runErr != nil {
		t.Fatalf("node console.mjs: %v\nstdout: %s\nstderr: %s", runErr, stdout.String(), stderr.String())
	}
	var r result
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &r); err != nil || !r.OK {
		t.Fatalf("node console.mjs output %q: %v (stderr: %s)", stdout.String(), err, stderr.String())
	}
	s := r.Steps
	t.Logf("downloaded %s (certificate %s); message shown %d ms after mosquitto_pub started; delta %s; refusal %q; %s",
		s.ZIP, s.CertificateID, s.MessageLatencyMS, s.Delta, s.Refusal, s.Authorization)
	if s.ZIP != "e2e-sensor.zip" || len(s.CertificateID) != 64 {
		t.Errorf("download = %q, certificate %q", s.ZIP, s.CertificateID)
	}
	if s.MessageLatencyMS > 2000 {
		t.Errorf("message shown after %d ms, want within 2 s", s.MessageLatencyMS)
	}
	if s.Authorization != "Allowed" {
		t.Errorf("authorization test = %q, want Allowed", s.Authorization)
	}
	if len(r.Screenshots) < 8 {
		t.Errorf("screenshots = %v, want one per page", r.Screenshots)
	}
	for _, p := range r.Screenshots {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Errorf("screenshot %s: %v", p, err)
		}
	}
}

func splitPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	return host, port, err
}
