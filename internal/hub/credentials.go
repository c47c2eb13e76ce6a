package hub

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// AdminCredentials are the access key pair that signs admin API requests
// (SigV4), created at first start. The secret is written 0600 and never
// logged.
type AdminCredentials struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
}

// AdminCredentialsFile is the file, inside the data directory, that holds
// the admin credentials.
const AdminCredentialsFile = "admin-credentials.json"

// LoadOrCreateAdminCredentials returns the admin credentials of dataDir,
// creating them on first use. created reports whether they are new (the
// caller prints them once).
func LoadOrCreateAdminCredentials(dataDir string) (creds AdminCredentials, created bool, err error) {
	path := filepath.Join(dataDir, AdminCredentialsFile)
	data, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(data, &creds); err != nil {
			return creds, false, fmt.Errorf("hub: admin credentials %s: %w", path, err)
		}
		if creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
			return creds, false, fmt.Errorf("hub: admin credentials %s: empty key", path)
		}
		return creds, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return creds, false, fmt.Errorf("hub: admin credentials: %w", err)
	}
	creds = AdminCredentials{
		AccessKeyID:     "AKIA" + randomString(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
		SecretAccessKey: randomString(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"),
	}
	out, _ := json.MarshalIndent(creds, "", "  ")
	if err := writeSecret(path, append(out, '\n')); err != nil {
		return creds, false, err
	}
	return creds, true, nil
}

// writeSecret writes a file readable by its owner only, refusing to replace
// an existing one.
func writeSecret(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("hub: write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("hub: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("hub: write %s: %w", path, err)
	}
	return nil
}

func randomString(n int, alphabet string) string {
	buf := make([]byte, n)
	_, _ = rand.Read(buf)
	for i, b := range buf {
		buf[i] = alphabet[int(b)%len(alphabet)]
	}
	return string(buf)
}
