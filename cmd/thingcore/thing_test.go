package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/thingcore/thingcore/internal/hub"
)

func TestThingCreateWritesDeviceFolder(t *testing.T) {
	th := startHub(t)
	for _, tc := range []struct {
		name    string
		keyType string
		wantKey func(any) bool
	}{
		{"rsa", "rsa", func(k any) bool { _, ok := k.(*rsa.PrivateKey); return ok }},
		{"ec", "ec", func(k any) bool { _, ok := k.(*ecdsa.PrivateKey); return ok }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			thing := "device-" + tc.name
			dir := filepath.Join(t.TempDir(), thing)
			r := th.mustAdmin(t, "thing", "create", thing, "--key-type", tc.keyType, "--out", dir,
				"--mqtt-port", strconv.Itoa(th.mqttPort), "--attr", "room=kitchen")

			// Every file, with its mode.
			modes := map[string]fs.FileMode{
				fileCertPEM: 0o644, fileKeyPEM: 0o600, filePublicPEM: 0o644, fileRootCA: 0o644,
				fileCertDER: 0o644, fileKeyDER: 0o600, fileBoardCert: 0o644, fileBoardKey: 0o600, fileDeviceJSON: 0o644,
			}
			for name, want := range modes {
				fi, err := os.Stat(filepath.Join(dir, name))
				if err != nil {
					t.Errorf("device folder: %v", err)
					continue
				}
				if got := fi.Mode().Perm(); got != want {
					t.Errorf("mode of %s = %v, want %v", name, got, want)
				}
			}
			read := func(name string) []byte {
				t.Helper()
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				return b
			}

			// The DER files parse and are the PEMs' contents.
			certBlock, _ := pem.Decode(read(fileCertPEM))
			if certBlock == nil || certBlock.Type != "CERTIFICATE" {
				t.Fatalf("%s holds no CERTIFICATE block", fileCertPEM)
			}
			certDER := read(fileCertDER)
			if !bytes.Equal(certDER, certBlock.Bytes) {
				t.Errorf("%s is not the DER of %s", fileCertDER, fileCertPEM)
			}
			cert, err := x509.ParseCertificate(certDER)
			if err != nil {
				t.Fatalf("parse %s: %v", fileCertDER, err)
			}
			keyBlock, _ := pem.Decode(read(fileKeyPEM))
			if keyBlock == nil {
				t.Fatalf("%s holds no PEM block", fileKeyPEM)
			}
			keyDER := read(fileKeyDER)
			if !bytes.Equal(keyDER, keyBlock.Bytes) {
				t.Errorf("%s (%d bytes) is not the DER of %s (%s, %d bytes)", fileKeyDER, len(keyDER), fileKeyPEM, keyBlock.Type, len(keyBlock.Bytes))
			}
			key, err := parseTraditionalKey(keyDER)
			if err != nil {
				t.Fatalf("parse %s: %v", fileKeyDER, err)
			}
			if !tc.wantKey(key) {
				t.Errorf("%s holds a %T, want a %s key", fileKeyDER, key, tc.keyType)
			}
			if !publicKeysEqual(t, cert.PublicKey, key) {
				t.Errorf("%s does not belong to %s", fileKeyDER, fileCertDER)
			}
			if !bytes.Equal(read(fileBoardCert), certDER) || !bytes.Equal(read(fileBoardKey), keyDER) {
				t.Errorf("cert/ does not hold the same DER pair")
			}
			pubBlock, _ := pem.Decode(read(filePublicPEM))
			if pubBlock == nil {
				t.Fatalf("%s holds no PEM block", filePublicPEM)
			}
			if pub, err := x509.ParsePKIXPublicKey(pubBlock.Bytes); err != nil || !publicKeysEqual(t, pub, key) {
				t.Errorf("%s does not hold the key's public key (err %v)", filePublicPEM, err)
			}
			ca, err := os.ReadFile(hub.RootCAPath(th.dataDir))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(read(fileRootCA), ca) {
				t.Errorf("%s is not the hub's root CA", fileRootCA)
			}

			var dev deviceJSON
			if err := json.Unmarshal(read(fileDeviceJSON), &dev); err != nil {
				t.Fatalf("device.json: %v", err)
			}
			want := deviceJSON{
				ThingName: thing, ClientID: thing, Endpoint: "localhost", MQTTPort: th.mqttPort,
				CertificateID: dev.CertificateID, CertificateARN: dev.CertificateARN, KeyType: tc.keyType,
			}
			if diff := cmp.Diff(want, dev, cmp.FilterPath(func(p cmp.Path) bool {
				return p.Last().String() == ".Files" || p.Last().String() == ".Topics"
			}, cmp.Ignore())); diff != "" {
				t.Errorf("device.json (-want +got):\n%s", diff)
			}
			if len(dev.CertificateID) != 64 || !strings.HasSuffix(dev.CertificateARN, ":cert/"+dev.CertificateID) {
				t.Errorf("device.json certificate id %q, arn %q", dev.CertificateID, dev.CertificateARN)
			}
			if got, want := dev.Topics["shadow_update"], "$aws/things/"+thing+"/shadow/update"; got != want {
				t.Errorf("device.json shadow_update topic = %q, want %q", got, want)
			}

			for _, s := range []string{
				dev.CertificateID, "stored nowhere else",
				"mosquitto_pub -h localhost -p " + strconv.Itoa(th.mqttPort) + " --cafile root-CA.pem --cert certificate.pem.crt --key private.pem.key -i " + thing +
					" -t '$aws/things/" + thing + "/shadow/update' -m '{\"state\":{\"reported\":{\"temperature\":22}}}'",
			} {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("thing create output lacks %q:\n%s", s, r.stdout)
				}
			}
			if strings.Contains(r.stdout+r.stderr, string(keyBlock.Bytes[:16])) || strings.Contains(r.stdout, "PRIVATE KEY-----") {
				t.Errorf("thing create printed the private key")
			}

			// The thing is registered, with the certificate attached.
			var got thingView
			if err := json.Unmarshal([]byte(th.mustAdmin(t, "thing", "describe", thing, "--output", "json").stdout), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{dev.CertificateARN}, got.Principals); diff != "" {
				t.Errorf("thing principals (-want +got):\n%s", diff)
			}

			// A second create into the same folder refuses to touch the key.
			again := th.admin(t, "thing", "create", thing+"-again", "--out", dir)
			if again.code != exitError || !strings.Contains(again.stderr, "refusing to overwrite") {
				t.Errorf("second create into %s: exit %d, stderr %q; want exit 1 refusing to overwrite", dir, again.code, again.stderr)
			}
			if !bytes.Equal(read(fileKeyDER), keyDER) {
				t.Errorf("second create changed the key")
			}
		})
	}
}

func parseTraditionalKey(der []byte) (any, error) {
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return x509.ParseECPrivateKey(der)
}

func publicKeysEqual(t *testing.T, pub any, key any) bool {
	t.Helper()
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k.PublicKey.Equal(pub)
	case *ecdsa.PrivateKey:
		return k.PublicKey.Equal(pub)
	}
	t.Fatalf("key type %T", key)
	return false
}

func TestThingListAndDescribeJSON(t *testing.T) {
	th := startHub(t)
	empty := th.mustAdmin(t, "thing", "list", "--output", "json")
	var list struct {
		Things []thingView `json:"things"`
	}
	if err := json.Unmarshal([]byte(empty.stdout), &list); err != nil || list.Things == nil || len(list.Things) != 0 {
		t.Errorf("thing list on an empty hub = %q (err %v), want {\"things\": []}", empty.stdout, err)
	}

	dirA := th.createThing(t, "alpha", "--attr", "room=kitchen", "--attr", "floor=1")
	th.createThing(t, "beta")
	var devA deviceJSON
	b, _ := os.ReadFile(filepath.Join(dirA, fileDeviceJSON))
	if err := json.Unmarshal(b, &devA); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		args []string
		got  func(t *testing.T, out string) any
		want any
	}{
		{
			name: "list",
			args: []string{"thing", "list", "--output", "json"},
			got: func(t *testing.T, out string) any {
				var v struct {
					Things []thingView `json:"things"`
				}
				mustUnmarshal(t, out, &v)
				var names []string
				for _, th := range v.Things {
					names = append(names, th.ThingName+" "+formatAttributes(th.Attributes)+" arn="+strconv.FormatBool(strings.HasSuffix(th.ThingArn, ":thing/"+th.ThingName)))
				}
				return names
			},
			want: []string{"alpha floor=1,room=kitchen arn=true", "beta  arn=true"},
		},
		{
			name: "describe",
			args: []string{"thing", "describe", "alpha", "--output", "json"},
			got: func(t *testing.T, out string) any {
				var v thingView
				mustUnmarshal(t, out, &v)
				v.ThingID, v.DefaultClientID = "", ""
				return v
			},
			want: thingView{
				ThingName: "alpha", ThingArn: "arn:aws:iot:us-east-1:000000000000:thing/alpha",
				Attributes: map[string]string{"room": "kitchen", "floor": "1"}, Version: 1,
				Principals: []string{devA.CertificateARN},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := th.mustAdmin(t, tc.args...)
			if diff := cmp.Diff(tc.want, tc.got(t, r.stdout)); diff != "" {
				t.Errorf("thingcore %s (-want +got):\n%s", strings.Join(tc.args, " "), diff)
			}
		})
	}

	t.Run("table", func(t *testing.T) {
		r := th.mustAdmin(t, "thing", "list")
		if !strings.Contains(r.stdout, "NAME") || !strings.Contains(r.stdout, "alpha") || !strings.Contains(r.stdout, "floor=1,room=kitchen") {
			t.Errorf("thing list table:\n%s", r.stdout)
		}
	})

	t.Run("delete", func(t *testing.T) {
		r := th.admin(t, "thing", "delete", "beta")
		if r.code != exitError || !strings.Contains(r.stderr, "--force") {
			t.Errorf("thing delete with a certificate attached: exit %d, stderr %q; want exit 1 pointing at --force", r.code, r.stderr)
		}
		th.mustAdmin(t, "thing", "delete", "beta", "--force")
		if r := th.admin(t, "thing", "describe", "beta"); r.code != exitError || !strings.Contains(r.stderr, "ResourceNotFoundException") {
			t.Errorf("describe after delete: exit %d, stderr %q; want ResourceNotFoundException", r.code, r.stderr)
		}
	})
}

func mustUnmarshal(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("unmarshal %q: %v", s, err)
	}
}

// A failure after the thing and certificate exist says what was created and
// how to remove it.
func TestThingCreateFailureReportsWhatWasCreated(t *testing.T) {
	th := startHub(t)
	dir := filepath.Join(t.TempDir(), "broken")
	// A directory where the certificate file goes: writing it fails after
	// the key files are written.
	if err := os.MkdirAll(filepath.Join(dir, fileCertPEM), 0o700); err != nil {
		t.Fatal(err)
	}
	r := th.admin(t, "thing", "create", "broken", "--out", dir)
	if r.code != exitError {
		t.Fatalf("thing create into a broken folder: exit %d, want 1\nstderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"created before the failure: thing broken; certificate ", "thingcore cert delete ", "thingcore thing delete broken --force"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("thing create error lacks %q:\n%s", want, r.stderr)
		}
	}
	// The cleanup it suggests works.
	var certID string
	if _, after, ok := strings.Cut(r.stderr, "thingcore cert delete "); ok {
		certID, _, _ = strings.Cut(after, " ")
	}
	th.mustAdmin(t, "cert", "delete", certID, "--force")
	th.mustAdmin(t, "thing", "delete", "broken", "--force")
}
