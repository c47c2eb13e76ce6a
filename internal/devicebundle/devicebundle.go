// Package devicebundle lays out the files a device needs to connect, as
// `thingcore thing create` writes them to a folder and the web console's
// create wizard offers them as a ZIP: the PEM certificate and keys as AWS's
// console names them, the hub's root CA, the DER pair for MicroPython (also
// under cert/ as the W5100S-EVB-Pico recipe's main.py reads it) and
// device.json. The CLI and the console share it so that both give a device
// the same files.
//
// It is pure apart from writing the folder or the archive it is asked to:
// it imports pki, examples (the board projects) and the standard library. cmd/thingcore and
// internal/console import it.
package devicebundle

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/thingcore/thingcore/examples"
	"github.com/thingcore/thingcore/internal/pki"
)

// File names inside a bundle. The PEM names are those AWS's console offers
// (without the certificate-id prefix); the DER names are those the
// MicroPython recipe's openssl commands write; cert/ holds the DER pair under
// the names its main.py reads, so the folder can be copied to the board as
// is.
const (
	CertPEM    = "certificate.pem.crt"
	KeyPEM     = "private.pem.key"
	PublicPEM  = "public.pem.key"
	RootCA     = "root-CA.pem"
	CertDER    = "certificate.crt.der"
	KeyDER     = "private.key.der"
	BoardCert  = "cert/certificate.crt.der"
	BoardKey   = "cert/privateKey.key.der"
	DeviceJSON = "device.json"
	// BoardRootCA is the hub's root CA as DER beside the board's pair, for
	// a board project that verifies the server.
	BoardRootCA = "cert/root-CA.der"
)

// SecretFiles are the files that hold the private key: written 0600 and
// never replaced.
var SecretFiles = []string{KeyPEM, KeyDER, BoardKey}

// Device is device.json: what a device program needs besides the key and
// certificate.
type Device struct {
	ThingName      string            `json:"thing_name"`
	ClientID       string            `json:"client_id"`
	Endpoint       string            `json:"endpoint"`
	MQTTPort       int               `json:"mqtt_port"`
	CertificateID  string            `json:"certificate_id"`
	CertificateARN string            `json:"certificate_arn"`
	KeyType        string            `json:"key_type"`
	Files          map[string]string `json:"files"`
	Topics         map[string]string `json:"topics"`
}

// NewDevice returns device.json for a thing whose client id is its name,
// connecting to host:port with the given certificate.
func NewDevice(thing, host string, port int, certID, certARN string, keyType pki.KeyType) Device {
	return Device{
		ThingName: thing, ClientID: thing, Endpoint: host, MQTTPort: port,
		CertificateID: certID, CertificateARN: certARN, KeyType: string(keyType),
		Files: map[string]string{
			"certificate_pem": CertPEM, "private_key_pem": KeyPEM, "public_key_pem": PublicPEM,
			"root_ca": RootCA, "certificate_der": BoardCert, "private_key_der": BoardKey,
		},
		Topics: map[string]string{
			"shadow_update":           ShadowTopic(thing, "update"),
			"shadow_update_accepted":  ShadowTopic(thing, "update/accepted"),
			"shadow_update_rejected":  ShadowTopic(thing, "update/rejected"),
			"shadow_update_delta":     ShadowTopic(thing, "update/delta"),
			"shadow_update_documents": ShadowTopic(thing, "update/documents"),
			"shadow_get":              ShadowTopic(thing, "get"),
			"shadow_get_accepted":     ShadowTopic(thing, "get/accepted"),
			"shadow_get_rejected":     ShadowTopic(thing, "get/rejected"),
		},
	}
}

// ShadowTopic is the classic shadow topic $aws/things/THING/shadow/SUFFIX.
func ShadowTopic(thing, suffix string) string { return "$aws/things/" + thing + "/shadow/" + suffix }

// Credentials are a device's certificate and key pair, PEM encoded.
type Credentials struct {
	CertificatePEM []byte
	PrivateKeyPEM  []byte
	PublicKeyPEM   []byte
}

// File is one file of a bundle; Name uses '/' as separator.
type File struct {
	Name   string
	Data   []byte
	Secret bool // holds the private key: mode 0600, never replaced
}

// Files returns the bundle's files, secrets first (so that writing them can
// fail before anything else exists, never after).
func Files(c Credentials, rootCAPEM []byte, dev Device) ([]File, error) {
	certDER, err := pki.CertToDER(c.CertificatePEM)
	if err != nil {
		return nil, fmt.Errorf("convert certificate to DER: %w", err)
	}
	keyDER, err := pki.KeyToDER(c.PrivateKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("convert private key to DER: %w", err)
	}
	devJSON, err := json.MarshalIndent(dev, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("device.json: %w", err)
	}
	return []File{
		{KeyPEM, c.PrivateKeyPEM, true},
		{KeyDER, keyDER, true},
		{BoardKey, keyDER, true},
		{CertPEM, c.CertificatePEM, false},
		{PublicPEM, c.PublicKeyPEM, false},
		{RootCA, rootCAPEM, false},
		{CertDER, certDER, false},
		{BoardCert, certDER, false},
		{DeviceJSON, append(devJSON, '\n'), false},
	}, nil
}

// WriteDir writes files into dir: secrets 0600 refusing to replace an
// existing file, the others 0644.
func WriteDir(dir string, files []File) error {
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fmt.Errorf("create device folder: %w", err)
		}
		var err error
		if f.Secret {
			err = writeSecret(p, f.Data)
		} else {
			err = os.WriteFile(p, f.Data, 0o644)
			if err != nil {
				err = fmt.Errorf("write %s: %w", p, err)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func writeSecret(p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// WriteZip writes files as a ZIP archive into w, under the folder dir
// (e.g. the thing name), secrets with mode 0600 so that unzip restores it.
func WriteZip(w io.Writer, dir string, files []File, modified time.Time) error {
	zw := zip.NewWriter(w)
	for _, f := range files {
		h := &zip.FileHeader{Name: path.Join(dir, f.Name), Method: zip.Deflate, Modified: modified}
		if f.Secret {
			h.SetMode(0o600)
		} else {
			h.SetMode(0o644)
		}
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return fmt.Errorf("devicebundle: zip %s: %w", f.Name, err)
		}
		if _, err := fw.Write(f.Data); err != nil {
			return fmt.Errorf("devicebundle: zip %s: %w", f.Name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("devicebundle: zip: %w", err)
	}
	return nil
}

// BoardFiles returns board b's MicroPython project filled in for thing at
// host:port, with the root CA as DER (BoardRootCA): what `thing create
// --board` adds to the folder and the console's wizard to the ZIP.
func BoardFiles(b examples.Board, host string, port int, thing string, rootCAPEM []byte) ([]File, error) {
	project, err := b.Project(examples.Settings{Endpoint: host, Port: port, ThingName: thing})
	if err != nil {
		return nil, err
	}
	caDER, err := pki.CertToDER(rootCAPEM)
	if err != nil {
		return nil, fmt.Errorf("devicebundle: root CA to DER: %w", err)
	}
	files := []File{{Name: BoardRootCA, Data: caDER}}
	for _, f := range project {
		files = append(files, File{Name: f.Name, Data: f.Data})
	}
	return files, nil
}
