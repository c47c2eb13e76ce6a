package pki

import (
	"bytes"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// TestFixturesGolden runs Detect, the conversions and CertificateID over
// the public fixtures in testdata/fixtures (made once with OpenSSL; no
// private keys) and compares a summary with testdata/fixtures.golden.
// Regenerate with: go test ./internal/pki/ -run TestFixturesGolden -update
func TestFixturesGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "fixtures", "*"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	if len(files) == 0 {
		t.Fatal("no fixtures in testdata/fixtures")
	}
	var out bytes.Buffer
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "%s\n", filepath.Base(f))
		kind, isPEM, err := Detect(data)
		if err != nil {
			t.Errorf("Detect(%s): %v", f, err)
			continue
		}
		der := data
		if isPEM {
			b, _ := pem.Decode(data)
			der = b.Bytes
		}
		fmt.Fprintf(&out, "  kind=%s pem=%v sha256=%s\n", kind, isPEM, CertificateID(der))
		if kind == KindCertificate {
			cert, err := ParseCertificatePEM(data)
			if isPEM && err != nil {
				t.Errorf("ParseCertificatePEM(%s): %v", f, err)
			}
			if !isPEM {
				p, _, err := ToPEM(data)
				if err != nil {
					t.Fatal(err)
				}
				cert, _ = ParseCertificatePEM(p)
			}
			fmt.Fprintf(&out, "  subject=%q issuer=%q certificateId=%s\n", cert.Subject, cert.Issuer, CertificateID(cert.Raw))
		}
		if !isPEM {
			p, _, err := ToPEM(data)
			if err != nil {
				t.Errorf("ToPEM(%s): %v", f, err)
			}
			fmt.Fprintf(&out, "  topem=%q\n", bytes.SplitN(p, []byte("\n"), 2)[0])
		}
	}
	golden := filepath.Join("testdata", "fixtures.golden")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("fixture summary differs from %s (run with -update if intended):\ngot:\n%s\nwant:\n%s", golden, out.Bytes(), want)
	}
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fixtures", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFixtureChain checks an OpenSSL-made CA and device certificate the
// way RegisterCertificate would.
func TestFixtureChain(t *testing.T) {
	t.Parallel()
	ca, err := ParseCertificatePEM(readFixture(t, "ca-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	// The fixtures were made on 2026-11-27 and last 25 years.
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	cert, err := VerifyIssuedBy(readFixture(t, "device-cert.pem"), ca, at)
	if err != nil {
		t.Fatalf("VerifyIssuedBy: %v", err)
	}
	der, err := CertToDER(readFixture(t, "device-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if want := readFixture(t, "device-cert.der"); !bytes.Equal(der, want) || !bytes.Equal(cert.Raw, want) {
		t.Error("CertToDER or the parsed certificate differs from openssl's DER fixture")
	}
}
