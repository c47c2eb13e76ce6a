package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/google/go-cmp/cmp"

	"github.com/thingcore/thingcore/internal/doctor"
	"github.com/thingcore/thingcore/internal/hub"
	"github.com/thingcore/thingcore/internal/pki"
	"github.com/thingcore/thingcore/internal/testcert"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// doctorFolder is a device folder under test.
type doctorFolder struct {
	dir    string
	certID string
}

func (f doctorFolder) path(name string) string { return filepath.Join(f.dir, filepath.FromSlash(name)) }

func (f doctorFolder) read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(f.path(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f doctorFolder) write(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(f.path(name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// editDeviceJSON changes one field of device.json.
func (f doctorFolder) editDeviceJSON(t *testing.T, edit func(*deviceJSON)) {
	t.Helper()
	var d deviceJSON
	if err := json.Unmarshal(f.read(t, fileDeviceJSON), &d); err != nil {
		t.Fatal(err)
	}
	edit(&d)
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	f.write(t, fileDeviceJSON, b)
}

// replacePair writes certPEM and keyPEM (and their DER forms) over the
// folder's pair.
func (f doctorFolder) replacePair(t *testing.T, certPEM, keyPEM []byte) {
	t.Helper()
	if certPEM != nil {
		der, err := pki.CertToDER(certPEM)
		if err != nil {
			t.Fatal(err)
		}
		f.write(t, fileCertPEM, certPEM)
		f.write(t, fileCertDER, der)
		f.write(t, fileBoardCert, der)
	}
	der, err := pki.KeyToDER(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	f.write(t, fileKeyPEM, keyPEM)
	f.write(t, fileKeyDER, der)
	f.write(t, fileBoardKey, der)
}

// newDoctorFolder creates a thing with `thing create` and returns its folder.
func (th *testHub) newDoctorFolder(t *testing.T, name string) doctorFolder {
	t.Helper()
	f := doctorFolder{dir: th.createThing(t, name)}
	var d deviceJSON
	if err := json.Unmarshal(f.read(t, fileDeviceJSON), &d); err != nil {
		t.Fatal(err)
	}
	f.certID = d.CertificateID
	return f
}

// doctor runs `thingcore doctor DIR` against the hub with extra flags.
func (th *testHub) doctor(t *testing.T, dir string, extra ...string) result {
	t.Helper()
	return runCLI(t, append([]string{"doctor", dir, "--data-dir", th.dataDir, "--api-endpoint", th.endpoint}, extra...)...)
}

// adminClient returns the CLI's API client for changes the CLI has no
// command for.
func (th *testHub) adminClient(t *testing.T) *admin {
	t.Helper()
	ad, err := (&adminFlags{dataDir: th.dataDir, endpoint: th.endpoint}).connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ad.close)
	return ad
}

// closedPort returns a local port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, p, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	return p
}

func TestDoctor(t *testing.T) {
	// The hub's certificates name localhost only, so that a device using
	// 127.0.0.1 hits the classic LAN mistake.
	th := startHub(t, func(c *hub.Config) { c.ServerNames = []string{"localhost"} })
	ctx := context.Background()
	other := th.newDoctorFolder(t, "doctor-other")

	tests := []struct {
		name string
		// breakIt breaks one thing of a good folder and returns extra
		// doctor flags.
		breakIt func(t *testing.T, f doctorFolder) []string
		// wantFail is the first failed step and its cause; "" for none.
		wantFail, wantCause string
		// wantIn is text the failed step's summary must contain.
		wantIn string
		golden string // testdata file of the text output, if any
	}{
		{name: "good", golden: "doctor_good.golden"},
		{
			name: "wrong key",
			breakIt: func(t *testing.T, f doctorFolder) []string {
				f.replacePair(t, nil, other.read(t, fileKeyPEM))
				return nil
			},
			wantFail: "key", wantCause: doctor.CauseKeyMismatch, wantIn: "is not the key of",
		},
		{
			name: "swapped cert and key",
			breakIt: func(t *testing.T, f doctorFolder) []string {
				c, k := f.read(t, fileCertPEM), f.read(t, fileKeyPEM)
				f.write(t, fileCertPEM, k)
				f.write(t, fileKeyPEM, c)
				return nil
			},
			wantFail: "files", wantCause: doctor.CauseSwapped, wantIn: "swapped",
		},
		{
			name: "public key as private key",
			breakIt: func(t *testing.T, f doctorFolder) []string {
				f.write(t, fileKeyPEM, f.read(t, filePublicPEM))
				return nil
			},
			wantFail: "files", wantCause: doctor.CausePublicKey, wantIn: "public key",
		},
		{
			name: "inactive cert",
			breakIt: func(t *testing.T, f doctorFolder) []string {
				th.mustAdmin(t, "cert", "deactivate", f.certID)
				return nil
			},
			wantFail: "registered", wantCause: doctor.CauseInactive, wantIn: "INACTIVE",
		},
		{
			name: "revoked cert",
			breakIt: func(t *testing.T, f doctorFolder) []string {
				th.mustAdmin(t, "cert", "revoke", f.certID)
				return nil
			},
			wantFail: "registered", wantCause: doctor.CauseRevoked, wantIn: "REVOKED",
		},
		{
			name: "unknown CA",
			breakIt: func(t *testing.T, f doctorFolder) []string {
				ca := testcert.NewCA(t)
				c := ca.ClientCert(t, testcert.KeyRSA, "doctor-unknown-ca")
				keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
				if err != nil {
					t.Fatal(err)
				}
				f.replacePair(t, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}),
					pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
				return nil
			},
			wantFail: "chain", wantCause: doctor.CauseUnknownCA, wantIn: "neither the hub CA",
		},
		{
			name: "bad endpoint name",
			breakIt: func(t *testing.T, f doctorFolder) []string {
				return []string{"--endpoint", net.JoinHostPort("127.0.0.1", strconv.Itoa(th.mqttPort))}
			},
			wantFail: "tls", wantCause: doctor.CauseServerName, wantIn: "not 127.0.0.1",
			golden: "doctor_bad_endpoint.golden",
		},
		{
			name: "no policy attached",
			breakIt: func(t *testing.T, f doctorFolder) []string {
				ad := th.adminClient(t)
				d, err := ad.iot.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(f.certID)})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := ad.iot.DetachPolicy(ctx, &iot.DetachPolicyInput{PolicyName: aws.String(defaultPolicyName),
					Target: d.CertificateDescription.CertificateArn}); err != nil {
					t.Fatal(err)
				}
				return nil
			},
			wantFail: "policy", wantCause: doctor.CauseNoPolicy, wantIn: "no policy attached",
		},
		{
			name: "wrong client id",
			breakIt: func(t *testing.T, f doctorFolder) []string {
				f.editDeviceJSON(t, func(d *deviceJSON) { d.ClientID = "not-the-thing" })
				return nil
			},
			wantFail: "policy", wantCause: doctor.CauseClientID, wantIn: `client id "not-the-thing" is not the thing name`,
		},
		{
			name: "thing not attached",
			breakIt: func(t *testing.T, f doctorFolder) []string {
				var d deviceJSON
				json.Unmarshal(f.read(t, fileDeviceJSON), &d)
				th.mustAdmin(t, "thing", "detach", d.ThingName, f.certID)
				return nil
			},
			wantFail: "thing", wantCause: doctor.CauseThingNotAttached, wantIn: "is not attached to thing",
		},
		{
			// Without admin credentials the registry steps cannot be
			// checked; the hub's CONNACK reason string names the cause.
			name: "inactive cert without admin credentials",
			breakIt: func(t *testing.T, f doctorFolder) []string {
				th.mustAdmin(t, "cert", "deactivate", f.certID)
				return []string{"--data-dir", t.TempDir()}
			},
			wantFail: "connect", wantCause: doctor.CauseConnectRefused, wantIn: "is INACTIVE, not ACTIVE",
		},
		{
			name: "policy allows connect only",
			breakIt: func(t *testing.T, f doctorFolder) []string {
				connectOnlyPolicy(t, th, f)
				return nil
			},
			wantFail: "policy", wantCause: doctor.CausePolicyDenies, wantIn: "iot:Publish on $aws/things/",
		},
		{
			name: "publish denied without admin credentials",
			breakIt: func(t *testing.T, f doctorFolder) []string {
				connectOnlyPolicy(t, th, f)
				return []string{"--data-dir", t.TempDir()}
			},
			wantFail: "publish", wantCause: doctor.CausePublishDenied, wantIn: "PUBACK 0x87 Not authorized",
		},
		{
			name: "hub not running",
			breakIt: func(t *testing.T, f doctorFolder) []string {
				return []string{"--endpoint", net.JoinHostPort("127.0.0.1", closedPort(t)),
					"--api-endpoint", "https://" + net.JoinHostPort("localhost", closedPort(t))}
			},
			wantFail: "tcp", wantCause: doctor.CauseConnRefused, wantIn: "connection refused",
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			thing := "doctor-" + strconv.Itoa(i)
			f := th.newDoctorFolder(t, thing)
			var extra []string
			if tc.breakIt != nil {
				extra = tc.breakIt(t, f)
			}
			r := th.doctor(t, f.dir, append(extra, "--output", "json")...)
			var rep doctor.Report
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
				t.Fatalf("doctor --output json: %v\nstdout:\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
			}
			wantCode := exitError
			if tc.wantFail == "" {
				wantCode = exitOK
			}
			if r.code != wantCode {
				t.Errorf("doctor exit code = %d, want %d\nstderr: %s", r.code, wantCode, r.stderr)
			}
			failed := rep.Failed()
			if tc.wantFail == "" {
				for _, s := range rep.Steps {
					if s.Status != doctor.StatusPass {
						t.Errorf("step %s = %s (%s), want pass", s.ID, s.Status, s.Summary)
					}
				}
			} else {
				if len(failed) == 0 {
					t.Fatalf("doctor: no step failed, want %s (%s)\n%s", tc.wantFail, tc.wantCause, r.stdout)
				}
				got := failed[0]
				if got.ID != tc.wantFail || got.Cause != tc.wantCause {
					t.Errorf("first failed step = %s (%s: %s), want %s (%s)", got.ID, got.Cause, got.Summary, tc.wantFail, tc.wantCause)
				}
				if !strings.Contains(got.Summary, tc.wantIn) {
					t.Errorf("step %s summary = %q, want it to contain %q", got.ID, got.Summary, tc.wantIn)
				}
				if got.Fix == "" {
					t.Errorf("step %s failed without a FIX", got.ID)
				}
				// The steps that need the failed one are skipped, not run.
				if s, _ := rep.Step("shadow"); s.Status != doctor.StatusSkip {
					t.Errorf("step shadow = %s, want skip after %s failed", s.Status, got.ID)
				}
			}
			if t.Failed() {
				t.Log("doctor's text output:\n" + th.doctor(t, f.dir, extra...).stdout)
			}
			if tc.golden != "" {
				text := th.doctor(t, f.dir, extra...)
				checkGolden(t, tc.golden, normalizeDoctor(text.stdout, f.dir, thing))
			}
		})
	}
}

// connectOnlyPolicy replaces the folder certificate's policies with one
// that allows iot:Connect and nothing else.
func connectOnlyPolicy(t *testing.T, th *testHub, f doctorFolder) {
	t.Helper()
	ctx := context.Background()
	ad := th.adminClient(t)
	d, err := ad.iot.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(f.certID)})
	if err != nil {
		t.Fatal(err)
	}
	arn := d.CertificateDescription.CertificateArn
	name := "connect-only-" + f.certID[:8]
	if _, err := ad.iot.CreatePolicy(ctx, &iot.CreatePolicyInput{PolicyName: aws.String(name), PolicyDocument: aws.String(
		`{"Version":"2012-10-17","Statement":[{"Sid":"ConnectOnly","Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ad.iot.AttachPolicy(ctx, &iot.AttachPolicyInput{PolicyName: aws.String(name), Target: arn}); err != nil {
		t.Fatal(err)
	}
	if _, err := ad.iot.DetachPolicy(ctx, &iot.DetachPolicyInput{PolicyName: aws.String(defaultPolicyName), Target: arn}); err != nil {
		t.Fatal(err)
	}
}

// normalizeDoctor replaces what changes between runs: the folder, ports,
// certificate ids and times.
func normalizeDoctor(s, dir, thing string) string {
	s = strings.ReplaceAll(s, dir, "DIR")
	s = strings.ReplaceAll(s, thing, "THING")
	for _, re := range []struct{ re, with string }{
		{`\b[0-9a-f]{64}\b`, "CERT_ID"},
		{`\b[0-9a-f]{12}…`, "CERT_ID…"},
		{`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`, "TIME"},
		{`(127\.0\.0\.1|localhost|\]):\d+`, "$1:PORT"},
		{`shadow version \d+`, "shadow version N"},
	} {
		s = regexp.MustCompile(re.re).ReplaceAllString(s, re.with)
	}
	return s
}

// checkGolden compares got with testdata/name, rewriting it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}
