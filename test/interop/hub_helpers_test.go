package interop

// Helpers for the TestHub* tests, which drive third-party clients against a
// whole hub (internal/hubtest) rather than a bare broker: AWS's own tools on
// the control plane, device clients on the MQTT listener.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/thingcore/thingcore/internal/hubtest"
)

// Debian's AWS CLI v2 and Python. Other copies may come earlier on PATH (an
// AWS CLI v1 and a pyenv Python without boto3), so the tests name these
// paths; scripts/install-deps.sh installs them.
const (
	awsCLIPath  = "/usr/bin/aws"
	python3Path = "/usr/bin/python3"
)

// needAWSCLIv2 returns the path of the AWS CLI, checking that it is v2.
func needAWSCLIv2(t *testing.T) string {
	t.Helper()
	if why := awsCLIProblem(); why != "" {
		missing(t, why)
	}
	return awsCLIPath
}

// needBoto3 returns the path of a Python that can import boto3.
func needBoto3(t *testing.T) string {
	t.Helper()
	if why := boto3Problem(); why != "" {
		missing(t, why)
	}
	return python3Path
}

// The tool checks run once per test binary: each starts a Python.
var (
	awsCLIProblem = sync.OnceValue(func() string {
		if _, err := os.Stat(awsCLIPath); err != nil {
			return fmt.Sprintf("AWS CLI v2 (Debian package awscli) not installed (%v); run scripts/install-deps.sh", err)
		}
		out, err := toolCheck(awsCLIPath, "--version")
		if v := strings.TrimSpace(out); err != nil || !strings.HasPrefix(v, "aws-cli/2.") {
			return fmt.Sprintf("%s --version = %q (%v), want aws-cli/2.x; run scripts/install-deps.sh", awsCLIPath, v, err)
		}
		return ""
	})
	boto3Problem = sync.OnceValue(func() string {
		if out, err := toolCheck(python3Path, "-c", "import boto3"); err != nil {
			return fmt.Sprintf("%s cannot import boto3 (Debian package python3-boto3): %v %s; run scripts/install-deps.sh", python3Path, err, out)
		}
		return ""
	})
)

// toolCheck runs a short check command in an empty environment and returns
// its combined output.
func toolCheck(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + os.TempDir(), "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// minimalEnv is the environment of an AWS client subprocess: nothing of the
// caller's (no AWS_PROFILE, no ~/.aws, no proxies), an empty HOME.
func minimalEnv(t *testing.T) []string {
	t.Helper()
	return []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + t.TempDir(),
		"LANG=C.UTF-8",
		"PYTHONDONTWRITEBYTECODE=1",
	}
}

// awsEnv is minimalEnv plus what an AWS SDK needs to reach the hub's
// control plane: the admin key id with the given secret, the region, and the
// hub's root CA as the trust bundle.
func awsEnv(t *testing.T, h *hubtest.Hub, secret string) []string {
	t.Helper()
	return append(minimalEnv(t),
		"AWS_ACCESS_KEY_ID="+h.Creds.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+secret,
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CA_BUNDLE="+h.Endpoints.RootCA,
		"AWS_PAGER=",
	)
}

// apiURL is the hub's HTTPS API under the name its certificate carries.
func apiURL(t *testing.T, h *hubtest.Hub) string {
	t.Helper()
	return "https://localhost:" + hostPort(t, h.Endpoints.HTTPS)
}

// hostPort returns the port of a "host:port" address.
func hostPort(t *testing.T, addr string) string {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		t.Fatalf("address %q has no port", addr)
	}
	return addr[i+1:]
}

// runEnv is run with the environment env (and nothing else).
func runEnv(t *testing.T, env []string, name string, args ...string) result {
	t.Helper()
	p := startEnv(t, env, name, args...)
	code := p.wait(t)
	return result{stdout: p.stdout.String(), stderr: p.stderr.String(), code: code}
}

// startEnv is start with the environment env and no input.
func startEnv(t *testing.T, env []string, name string, args ...string) *proc {
	t.Helper()
	return launch(t, nil, env, name, args...)
}

// decodeJSON decodes a tool's JSON output into a generic object.
func decodeJSON(t *testing.T, what, out string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%s: output is not a JSON object (%v): %q", what, err, out)
	}
	return m
}

// jsonKeys returns an object's field names, sorted.
func jsonKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// writeDeviceFiles writes a device folder from PEMs an AWS tool returned, as
// a user following AWS's docs would: certificate.pem.crt, private.pem.key
// and the hub's root CA.
func writeDeviceFiles(t *testing.T, h *hubtest.Hub, certPEM, keyPEM string) *hubtest.Device {
	t.Helper()
	dir := t.TempDir()
	d := &hubtest.Device{
		Dir: dir, CertFile: filepath.Join(dir, "certificate.pem.crt"), KeyFile: filepath.Join(dir, "private.pem.key"),
		CA: filepath.Join(dir, "root-CA.pem"), CertPEM: []byte(certPEM), KeyPEM: []byte(keyPEM),
	}
	ca, err := os.ReadFile(h.Endpoints.RootCA)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{d.CertFile, d.CertPEM, 0o644}, {d.KeyFile, d.KeyPEM, 0o600}, {d.CA, ca, 0o644}} {
		if err := os.WriteFile(f.path, f.data, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// mqttConnect connects to the hub's MQTT listener with the device's
// certificate and client id over MQTT 3.1.1 (paho), then disconnects. It
// returns the connect error.
func mqttConnect(t *testing.T, h *hubtest.Hub, d *hubtest.Device, clientID string) error {
	t.Helper()
	o := paho.NewClientOptions().AddBroker("ssl://" + h.Endpoints.MQTT).SetClientID(clientID).
		SetTLSConfig(d.TLSConfig(t)).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(10 * time.Second).SetProtocolVersion(4)
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(20 * time.Second) {
		return errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return err
	}
	c.Disconnect(100)
	return nil
}

// mqttStay connects like mqttConnect and stays connected until the test
// ends; the channel is closed when the hub drops the connection.
func mqttStay(t *testing.T, h *hubtest.Hub, d *hubtest.Device, clientID string) <-chan struct{} {
	t.Helper()
	lost := make(chan struct{})
	var once sync.Once
	o := paho.NewClientOptions().AddBroker("ssl://" + h.Endpoints.MQTT).SetClientID(clientID).
		SetTLSConfig(d.TLSConfig(t)).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(10 * time.Second).SetProtocolVersion(4).
		SetConnectionLostHandler(func(paho.Client, error) { once.Do(func() { close(lost) }) })
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("MQTT connect as %s: %v", clientID, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return lost
}

// waitOutput polls p's stdout and stderr until one matches want, failing
// the test after timeout or if p exits first.
func waitOutput(t *testing.T, p *proc, timeout time.Duration, want *regexp.Regexp) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	match := func() bool { return want.MatchString(p.stdout.String()) || want.MatchString(p.stderr.String()) }
	for {
		if match() {
			return
		}
		select {
		case <-p.done:
			if match() {
				return
			}
			t.Fatalf("%s exited (%v) before printing %q\nstdout: %s\nstderr: %s", p.name, p.err, want, p.stdout.String(), p.stderr.String())
		case <-time.After(10 * time.Millisecond): // polling interval
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not print %q within %s\nstdout: %s\nstderr: %s", p.name, want, timeout, p.stdout.String(), p.stderr.String())
		}
	}
}
