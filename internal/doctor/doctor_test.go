package doctor

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/thingcore/thingcore/internal/devicebundle"
	"github.com/thingcore/thingcore/internal/pki"
	"github.com/thingcore/thingcore/internal/testcert"
)

// writeFolder writes a device folder with a certificate from a throwaway CA
// (also its root-CA.pem) and device.json pointing at endpoint.
func writeFolder(t *testing.T, endpoint string) (string, *testcert.CA) {
	t.Helper()
	ca := testcert.NewCA(t)
	c := ca.ClientCert(t, testcert.KeyRSA, "dev-1")
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	host, portStr, err := net.SplitHostPort(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(portStr)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})
	dev := devicebundle.NewDevice("dev-1", host, port, pki.CertificateID(c.Certificate[0]), "arn:aws:iot:us-east-1:000000000000:cert/x", pki.KeyRSA)
	files, err := devicebundle.Files(devicebundle.Credentials{
		CertificatePEM: certPEM,
		PrivateKeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		PublicKeyPEM:   []byte("unused"),
	}, ca.CertPEM, dev)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "dev-1")
	if err := devicebundle.WriteDir(dir, files); err != nil {
		t.Fatal(err)
	}
	return dir, ca
}

// closedEndpoint returns a local address nothing listens on.
func closedEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestDoctorStepTableOrder(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, s := range steps {
		for _, n := range s.needs {
			if !seen[n] {
				t.Errorf("step %s needs %s, which is not an earlier step", s.id, n)
			}
		}
		if seen[s.id] {
			t.Errorf("step %s appears twice", s.id)
		}
		seen[s.id] = true
	}
}

// TestDoctorRunWithoutHub: without the hub's API the registry steps cannot be
// checked, do not block the network steps, and the report does not fail
// because of them.
func TestDoctorRunWithoutHub(t *testing.T) {
	t.Parallel()
	dir, _ := writeFolder(t, closedEndpoint(t))
	rep := Run(context.Background(), Config{Dir: dir}, Deps{HubUnavailable: "no admin credentials"})
	want := map[string]Status{
		"files": StatusPass, "key": StatusPass, "validity": StatusPass, "chain": StatusPass,
		"registered": StatusUnknown, "thing": StatusUnknown, "policy": StatusUnknown,
		"tcp": StatusFail, "tls": StatusSkip, "connect": StatusSkip, "publish": StatusSkip, "shadow": StatusSkip,
	}
	for _, s := range rep.Steps {
		if s.Status != want[s.ID] {
			t.Errorf("step %s = %s (%s), want %s", s.ID, s.Status, s.Summary, want[s.ID])
		}
	}
	if tcp, _ := rep.Step("tcp"); tcp.Cause != CauseConnRefused {
		t.Errorf("tcp cause = %q, want %q", tcp.Cause, CauseConnRefused)
	}
	if reg, _ := rep.Step("registered"); reg.Summary != "cannot check: no admin credentials" {
		t.Errorf("registered summary = %q", reg.Summary)
	}
	if rep.OK {
		t.Errorf("report OK with a failed step")
	}
}

func TestDoctorFilesProblems(t *testing.T) {
	t.Parallel()
	csrKey := testcert.NewCA(t).Key // any signer
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "dev-1"}}, csrKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		breakIt   func(t *testing.T, dir string)
		wantCause string
	}{
		{"good", func(*testing.T, string) {}, ""},
		{"swapped PEM pair", func(t *testing.T, dir string) {
			swap(t, filepath.Join(dir, devicebundle.CertPEM), filepath.Join(dir, devicebundle.KeyPEM))
		}, CauseSwapped},
		{"swapped DER pair", func(t *testing.T, dir string) {
			swap(t, filepath.Join(dir, devicebundle.BoardCert), filepath.Join(dir, devicebundle.BoardKey))
		}, CauseSwapped},
		{"encrypted key", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, devicebundle.KeyPEM), pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0x30, 0}}))
		}, CauseEncryptedKey},
		{"legacy encrypted key", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, devicebundle.KeyPEM), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY",
				Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: []byte{1}}))
		}, CauseEncryptedKey},
		{"CSR instead of certificate", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, devicebundle.CertPEM), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}))
		}, CauseCSR},
		{"public key instead of private key (DER)", func(t *testing.T, dir string) {
			pub, err := x509.MarshalPKIXPublicKey(csrKey.Public())
			if err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(dir, devicebundle.BoardKey), pub)
		}, CausePublicKey},
		{"garbage certificate", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, devicebundle.CertDER), []byte("hello"))
		}, CauseUnreadable},
		{"no root CA", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, devicebundle.RootCA))
		}, CauseMissingFile},
		{"no device.json", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, devicebundle.DeviceJSON))
		}, CauseMissingFile},
		{"device.json without thing", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, devicebundle.DeviceJSON), []byte(`{"endpoint":"x","mqtt_port":8883}`))
		}, CauseDeviceJSON},
		{"only the DER pair", func(t *testing.T, dir string) {
			for _, f := range []string{devicebundle.CertPEM, devicebundle.KeyPEM, devicebundle.CertDER, devicebundle.KeyDER} {
				os.Remove(filepath.Join(dir, f))
			}
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, _ := writeFolder(t, "localhost:8883")
			tc.breakIt(t, dir)
			r := &run{cfg: Config{Dir: dir, HubRootCAPath: "root"}, deps: Deps{}}
			got := r.checkFiles(context.Background())
			if tc.wantCause == "" {
				if got.Status != StatusPass {
					t.Errorf("checkFiles = %s %s (%s), want pass", got.Status, got.Cause, got.Summary)
				}
				return
			}
			if got.Status != StatusFail || got.Cause != tc.wantCause {
				t.Errorf("checkFiles = %s %s (%s), want fail %s", got.Status, got.Cause, got.Summary, tc.wantCause)
			}
			if got.Fix == "" {
				t.Errorf("checkFiles failed without a fix: %s", got.Summary)
			}
		})
	}
}

func TestDoctorKeyMismatchAndDERPair(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		replace   []string // files replaced by the other folder's
		wantCause string
	}{
		{"good", nil, ""},
		{"other device's PEM key", []string{devicebundle.KeyPEM}, CauseKeyMismatch},
		{"other device's DER certificate", []string{devicebundle.BoardCert}, CauseDERMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, _ := writeFolder(t, "localhost:8883")
			other, _ := writeFolder(t, "localhost:8883")
			for _, f := range tc.replace {
				b, err := os.ReadFile(filepath.Join(other, f))
				if err != nil {
					t.Fatal(err)
				}
				write(t, filepath.Join(dir, f), b)
			}
			r := &run{cfg: Config{Dir: dir}}
			if res := r.checkFiles(context.Background()); res.Status != StatusPass {
				t.Fatalf("checkFiles = %s (%s)", res.Status, res.Summary)
			}
			got := r.checkKey(context.Background())
			if tc.wantCause == "" && got.Status != StatusPass || tc.wantCause != "" && got.Cause != tc.wantCause {
				t.Errorf("checkKey = %s %s (%s), want cause %q", got.Status, got.Cause, got.Summary, tc.wantCause)
			}
		})
	}
}

func TestDoctorReportJSONHasEveryStep(t *testing.T) {
	t.Parallel()
	dir, _ := writeFolder(t, closedEndpoint(t))
	rep := Run(context.Background(), Config{Dir: dir}, Deps{})
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range back.Steps {
		ids = append(ids, s.ID)
	}
	var want []string
	for _, s := range Steps() {
		want = append(want, s[0])
	}
	if !slices.Equal(ids, want) {
		t.Errorf("report steps = %v, want %v", ids, want)
	}
}

func swap(t *testing.T, a, b string) {
	t.Helper()
	da, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	write(t, a, db)
	write(t, b, da)
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDoctorQuotedCommand(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, reason, want string }{
		{"thingcore command", "certificate x is INACTIVE, not ACTIVE (activate it with `thingcore cert activate x`)", "thingcore cert activate x"},
		{"aws command after another quote", "policy `p` is missing (`aws iot attach-policy --policy-name p`)", "aws iot attach-policy --policy-name p"},
		{"none", "not authorized", ""},
		{"unterminated", "run `thingcore thing create", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := quotedCommand(tc.reason); got != tc.want {
				t.Errorf("quotedCommand(%q) = %q, want %q", tc.reason, got, tc.want)
			}
		})
	}
}
