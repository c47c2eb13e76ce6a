package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCertStatusChanges(t *testing.T) {
	th := startHub(t)
	dir := th.createThing(t, "status-device")
	var dev deviceJSON
	b, err := os.ReadFile(filepath.Join(dir, fileDeviceJSON))
	if err != nil {
		t.Fatal(err)
	}
	mustUnmarshal(t, string(b), &dev)
	id := dev.CertificateID

	describe := func(t *testing.T) certView {
		t.Helper()
		var v struct {
			CertificateDescription certView `json:"certificateDescription"`
		}
		mustUnmarshal(t, th.mustAdmin(t, "cert", "describe", id, "--output", "json").stdout, &v)
		return v.CertificateDescription
	}
	if got := describe(t); got.Status != "ACTIVE" || got.CertificateID != id || !strings.Contains(got.CertificatePem, "BEGIN CERTIFICATE") {
		t.Fatalf("new certificate: %+v, want ACTIVE with its PEM", got)
	}

	// Steps run in order: each starts from the status the last one left.
	for _, tc := range []struct {
		verb, want string
	}{
		{"deactivate", "INACTIVE"},
		{"activate", "ACTIVE"},
		{"deactivate", "INACTIVE"},
		{"revoke", "REVOKED"},
	} {
		t.Run(tc.verb+" to "+tc.want, func(t *testing.T) {
			r := th.mustAdmin(t, "cert", tc.verb, id)
			if !strings.Contains(r.stdout, tc.want) {
				t.Errorf("cert %s output %q, want it to name %s", tc.verb, r.stdout, tc.want)
			}
			if got := describe(t).Status; got != tc.want {
				t.Errorf("status after cert %s = %s, want %s", tc.verb, got, tc.want)
			}
		})
	}

	t.Run("list", func(t *testing.T) {
		var v struct {
			Certificates []certView `json:"certificates"`
		}
		mustUnmarshal(t, th.mustAdmin(t, "cert", "list", "--output", "json").stdout, &v)
		if len(v.Certificates) != 1 || v.Certificates[0].CertificateID != id || v.Certificates[0].Status != "REVOKED" {
			t.Errorf("cert list = %+v, want the one REVOKED certificate %s", v.Certificates, id)
		}
		if r := th.mustAdmin(t, "cert", "list"); !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, "REVOKED") {
			t.Errorf("cert list table:\n%s", r.stdout)
		}
	})

	t.Run("delete", func(t *testing.T) {
		r := th.admin(t, "cert", "delete", id)
		if r.code != exitError || !strings.Contains(r.stderr, "--force") {
			t.Errorf("cert delete of an attached certificate: exit %d, stderr %q; want exit 1 pointing at --force", r.code, r.stderr)
		}
		r = th.mustAdmin(t, "cert", "delete", id, "--force")
		if !strings.Contains(r.stdout, "Detached certificate "+id+" from status-device") {
			t.Errorf("cert delete --force output:\n%s", r.stdout)
		}
		if r := th.admin(t, "cert", "describe", id); r.code != exitError || !strings.Contains(r.stderr, "ResourceNotFoundException") {
			t.Errorf("describe after delete: exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

func TestCertRegisterWithoutCA(t *testing.T) {
	th := startHub(t)
	th.mustAdmin(t, "thing", "create", "reg-device", "--out", filepath.Join(t.TempDir(), "reg-device"))
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der := selfSigned(t, key)
	path := filepath.Join(t.TempDir(), "device.crt.der") // DER input is accepted
	if err := os.WriteFile(path, der, 0o644); err != nil {
		t.Fatal(err)
	}
	r := th.mustAdmin(t, "cert", "register", path, "--without-ca", "--thing", "reg-device")
	if !strings.Contains(r.stdout, "Registered certificate") || !strings.Contains(r.stdout, "Attached it to reg-device") {
		t.Errorf("cert register output:\n%s", r.stdout)
	}
	var v thingView
	mustUnmarshal(t, th.mustAdmin(t, "thing", "describe", "reg-device", "--output", "json").stdout, &v)
	if len(v.Principals) != 2 {
		t.Errorf("reg-device principals = %v, want its own certificate and the registered one", v.Principals)
	}
	if r := th.admin(t, "cert", "register", path, "--without-ca", "--ca-file", path); r.code != exitUsage {
		t.Errorf("--without-ca with --ca-file: exit %d, want %d", r.code, exitUsage)
	}
}

// selfSigned returns a self-signed client certificate for key, as DER.
func selfSigned(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "self-signed device"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestCertConvert(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	certDER := selfSigned(t, ecKey)
	pkcs1 := x509.MarshalPKCS1PrivateKey(rsaKey)
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }

	for _, tc := range []struct {
		name     string
		file     string // input file name
		in       []byte
		args     []string
		wantFile string // output file name
		want     []byte
		wantMode os.FileMode
		wantKind string
	}{
		{"PEM certificate to DER", "certificate.pem.crt", pemOf("CERTIFICATE", certDER), nil,
			"certificate.crt.der", certDER, 0o644, "certificate"},
		{"RSA key to DER", "private.pem.key", pemOf("RSA PRIVATE KEY", pkcs1), nil,
			"private.key.der", pkcs1, 0o600, "RSA private key, PKCS#1, 2048 bits"},
		{"EC key to DER", "ec.pem", pemOf("EC PRIVATE KEY", sec1), nil,
			"ec.der", sec1, 0o600, "EC private key, SEC1, P-256"},
		{"PKCS#8 RSA key to PKCS#1 DER", "pkcs8.pem.key", pemOf("PRIVATE KEY", pkcs8), nil,
			"pkcs8.key.der", pkcs1, 0o600, "RSA private key, PKCS#1, 2048 bits"},
		{"DER certificate to PEM", "certificate.crt.der", certDER, nil,
			"certificate.pem.crt", pemOf("CERTIFICATE", certDER), 0o644, "certificate"},
		{"DER RSA key to PEM", "private.key.der", pkcs1, nil,
			"private.pem.key", pemOf("RSA PRIVATE KEY", pkcs1), 0o600, "RSA private key, PKCS#1"},
		{"explicit --to and --out", "key.bin", pemOf("EC PRIVATE KEY", sec1), []string{"--to", "der", "--out", "cert/privateKey.key.der"},
			"cert/privateKey.key.der", sec1, 0o600, "EC private key, SEC1, P-256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "cert"), 0o700); err != nil {
				t.Fatal(err)
			}
			in := filepath.Join(dir, tc.file)
			if err := os.WriteFile(in, tc.in, 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"cert", "convert", in, "--output", "json"}
			for i := 0; i < len(tc.args); i++ {
				a := tc.args[i]
				if a == "--out" {
					i++
					a = filepath.Join(dir, tc.args[i])
					args = append(args, "--out")
				}
				args = append(args, a)
			}
			r := runCLI(t, args...)
			if r.code != exitOK {
				t.Fatalf("cert convert: exit %d, stderr %s", r.code, r.stderr)
			}
			var res convertResult
			mustUnmarshal(t, r.stdout, &res)
			out := filepath.Join(dir, tc.wantFile)
			if res.Output != out || res.OutputKind != tc.wantKind {
				t.Errorf("cert convert reported output %s (%s), want %s (%s)", res.Output, res.OutputKind, out, tc.wantKind)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(tc.want) {
				t.Errorf("%s holds %d bytes, not the expected %d", tc.wantFile, len(got), len(tc.want))
			}
			fi, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tc.wantMode {
				t.Errorf("mode of %s = %v, want %v", tc.wantFile, fi.Mode().Perm(), tc.wantMode)
			}

			// Converting again does not replace the output.
			if again := runCLI(t, args...); again.code != exitError || !strings.Contains(again.stderr, "--force") {
				t.Errorf("second convert: exit %d, stderr %q; want exit 1 pointing at --force", again.code, again.stderr)
			}
		})
	}

	t.Run("table output", func(t *testing.T) {
		t.Parallel()
		in := filepath.Join(t.TempDir(), "private.pem.key")
		if err := os.WriteFile(in, pemOf("RSA PRIVATE KEY", pkcs1), 0o600); err != nil {
			t.Fatal(err)
		}
		r := runCLI(t, "cert", "convert", in)
		if r.code != exitOK || !strings.Contains(r.stdout, "Converted") || !strings.Contains(r.stdout, "openssl rsa") {
			t.Errorf("cert convert: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		pemCert := filepath.Join(dir, "c.pem")
		garbage := filepath.Join(dir, "garbage.txt")
		if err := os.WriteFile(pemCert, pemOf("CERTIFICATE", certDER), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(garbage, []byte("hello"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			args []string
			code int
			want string
		}{
			{"PEM to PEM", []string{pemCert, "--to", "pem"}, exitError, "PEM already"},
			{"bad --to", []string{pemCert, "--to", "txt"}, exitUsage, "want der or pem"},
			{"not a certificate or key", []string{garbage}, exitError, "not PEM"},
			{"missing file", []string{filepath.Join(dir, "none")}, exitError, "no such file"},
		} {
			r := runCLI(t, append([]string{"cert", "convert"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%s: exit %d, stderr %q; want exit %d mentioning %q", tc.name, r.code, r.stderr, tc.code, tc.want)
			}
		}
	})
}

func TestDefaultConvertName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, to, want string }{
		{"certificate.pem.crt", "der", "certificate.crt.der"},
		{"private.pem.key", "der", "private.key.der"},
		{"dir/abc123-certificate.pem.crt", "der", "dir/abc123-certificate.crt.der"},
		{"ca.pem", "der", "ca.der"},
		{"key", "der", "key.der"},
		{"certificate.crt.der", "pem", "certificate.pem.crt"},
		{"private.key.der", "pem", "private.pem.key"},
		{"ca.der", "pem", "ca.pem"},
		{"blob", "pem", "blob.pem"},
	} {
		if got := defaultConvertName(tc.in, tc.to); got != tc.want {
			t.Errorf("defaultConvertName(%q, %q) = %q, want %q", tc.in, tc.to, got, tc.want)
		}
	}
}

// The JSON shapes are those `aws iot` prints; keep the names.
func TestCertViewJSONNames(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(certView{CertificateArn: "a", CertificateID: "i", Status: "ACTIVE", Validity: &validityView{NotAfter: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"certificateArn":"a","certificateId":"i","status":"ACTIVE","validity":{"notAfter":"x"}}`; got != want {
		t.Errorf("certView JSON = %s, want %s", got, want)
	}
}
