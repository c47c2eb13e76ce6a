package hub

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/thingcore/thingcore/internal/pki"
)

// Files of the hub's PKI inside the data directory. Private keys are 0600.
const (
	rootCACertFile   = "ca/root-ca.pem"
	rootCAKeyFile    = "ca/root-ca.key"
	serverECCert     = "server/server-ec.pem"
	serverECKey      = "server/server-ec.key"
	serverRSACert    = "server/server-rsa.pem"
	serverRSAKey     = "server/server-rsa.key"
	serverNamesFile  = "server/names.txt"
	rootCACommonName = "thingcore Root CA"
)

// RootCAPath returns where the hub's root CA certificate (the equivalent of
// AmazonRootCA1.pem) is kept in dataDir.
func RootCAPath(dataDir string) string { return filepath.Join(dataDir, rootCACertFile) }

// pkiState is the hub's CA and its server certificates.
type pkiState struct {
	ca          *pki.CA
	serverCerts []tls.Certificate // ECDSA first, then RSA
	names       []string
	createdCA   bool
}

// loadOrCreatePKI loads the CA and server certificates from dataDir,
// creating what is missing. Server certificates are issued again when the
// configured names change or they are within 30 days of expiry.
func loadOrCreatePKI(dataDir string, names []string, now time.Time) (*pkiState, error) {
	st := &pkiState{names: names}
	certPath, keyPath := filepath.Join(dataDir, rootCACertFile), filepath.Join(dataDir, rootCAKeyFile)
	certPEM, err := os.ReadFile(certPath)
	switch {
	case err == nil:
		keyPEM, err := os.ReadFile(keyPath)
		if err != nil {
			return nil, fmt.Errorf("hub: root CA key: %w", err)
		}
		if st.ca, err = pki.LoadCA(certPEM, keyPEM); err != nil {
			return nil, fmt.Errorf("hub: root CA %s: %w", certPath, err)
		}
	case errors.Is(err, fs.ErrNotExist):
		ca, keyPEM, err := pki.NewRootCA(rootCACommonName, 0, now)
		if err != nil {
			return nil, fmt.Errorf("hub: create root CA: %w", err)
		}
		if err := writeSecret(keyPath, keyPEM); err != nil {
			return nil, err
		}
		if err := writePublic(certPath, ca.CertPEM); err != nil {
			return nil, err
		}
		st.ca, st.createdCA = ca, true
	default:
		return nil, fmt.Errorf("hub: root CA: %w", err)
	}

	wantNames := strings.Join(names, "\n") + "\n"
	haveNames, _ := os.ReadFile(filepath.Join(dataDir, serverNamesFile))
	reissue := string(haveNames) != wantNames
	for _, kt := range []struct {
		kind      pki.KeyType
		cert, key string
	}{{kind: pki.KeyEC, cert: serverECCert, key: serverECKey}, {kind: pki.KeyRSA, cert: serverRSACert, key: serverRSAKey}} {
		cp, kp := filepath.Join(dataDir, kt.cert), filepath.Join(dataDir, kt.key)
		c, err := tls.LoadX509KeyPair(cp, kp)
		if err == nil && !reissue && c.Leaf != nil && now.Add(30*24*time.Hour).Before(c.Leaf.NotAfter) {
			st.serverCerts = append(st.serverCerts, c)
			continue
		}
		certPEM, keyPEM, err := st.ca.IssueServer(kt.kind, names, 0, now)
		if err != nil {
			return nil, fmt.Errorf("hub: issue %s server certificate: %w", kt.kind, err)
		}
		_ = os.Remove(kp)
		if err := writeSecret(kp, keyPEM); err != nil {
			return nil, err
		}
		if err := writePublic(cp, certPEM); err != nil {
			return nil, err
		}
		c, err = tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("hub: server certificate: %w", err)
		}
		st.serverCerts = append(st.serverCerts, c)
	}
	if reissue {
		if err := writePublic(filepath.Join(dataDir, serverNamesFile), []byte(wantNames)); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// writePublic writes a non-secret file (certificates), replacing it.
func writePublic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("hub: write %s: %w", path, err)
	}
	return nil
}

// defaultServerNames returns "localhost", the host name and every local IP
// address, the names a device on this machine or the LAN may use.
func defaultServerNames() []string {
	names := []string{"localhost"}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		names = append(names, h)
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLinkLocalUnicast() {
			names = append(names, ipn.IP.String())
		}
	}
	if !slices.Contains(names, "127.0.0.1") {
		names = append(names, "127.0.0.1")
	}
	return names
}
