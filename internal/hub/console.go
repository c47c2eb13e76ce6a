package hub

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/console"
	"github.com/thingcore/thingcore/internal/lifecycle"
	"github.com/thingcore/thingcore/internal/policystore"
	"github.com/thingcore/thingcore/internal/registry"
)

// newConsole builds the web console (served under console.Prefix on the
// HTTPS API port) as the admin identity.
func (h *Hub) newConsole(b *broker.Broker, pk *pkiState, creds AdminCredentials, reg *registry.Registry,
	pol *policystore.Store, events *lifecycle.Sink, shadows console.Shadows) (*console.Console, error) {
	rootCA, err := os.ReadFile(RootCAPath(h.cfg.DataDir))
	if err != nil {
		return nil, fmt.Errorf("hub: console: %w", err)
	}
	password, err := loadConsolePassword(h.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	return console.New(console.Config{Region: h.cfg.Region, AccountID: h.cfg.AccountID, DefaultPolicyName: DefaultPolicyName},
		console.Deps{
			Registry: reg, Policies: pol, CA: pk.ca, RootCAPEM: rootCA, Broker: b, Refusals: events, Shadows: shadows,
			Admin:    console.Admin{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey},
			Password: password,
			Endpoint: h.deviceEndpoint,
			CertificateStatusChanged: func(certID string, status registry.CertStatus) {
				h.certificateStatusChanged(b, certID, status)
			},
			Logger: h.log, Now: time.Now,
		})
}

// deviceEndpoint is the host and MQTT/TLS port a device bundle names: the
// first server name, and the MQTT listener's port (or the ALPN port).
func (h *Hub) deviceEndpoint() (string, int) {
	eps := h.Endpoints()
	addr := eps.MQTT
	if addr == "" {
		addr = eps.ALPN
	}
	port := 8883
	if _, p, err := net.SplitHostPort(addr); err == nil {
		if n, err := strconv.Atoi(p); err == nil {
			port = n
		}
	}
	return eps.Host, port
}

// withConsole serves the console under console.Prefix and everything else
// with api. AWS's APIs have no route there.
func withConsole(api http.Handler, con *console.Console) http.Handler {
	if con == nil {
		return api
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, console.Prefix):
			con.ServeHTTP(w, r)
		case r.URL.Path == strings.TrimSuffix(console.Prefix, "/"):
			http.Redirect(w, r, console.Prefix, http.StatusFound)
		default:
			api.ServeHTTP(w, r)
		}
	})
}

// consoleOnly serves the console and nothing else (the plain HTTP listener
// on loopback): other paths are sent to the console's start page. A request
// must name a loopback host (localhost, 127.0.0.1 or ::1): a web page whose
// DNS name is rebound to 127.0.0.1 still sends its own name as the Host, and
// is answered 421 Misdirected Request.
func consoleOnly(con *console.Console) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMisdirectedRequest)
			_ = json.NewEncoder(w).Encode(struct {
				Message string `json:"message"`
			}{"the console on plain HTTP answers only to localhost, 127.0.0.1 or [::1], not to " + strconv.Quote(r.Host)})
			return
		}
		if strings.HasPrefix(r.URL.Path, console.Prefix) {
			con.ServeHTTP(w, r)
			return
		}
		http.Redirect(w, r, console.Prefix, http.StatusFound)
	})
}

// loopbackHost reports whether host, a request's Host with or without a
// port, is localhost, 127.0.0.1 or ::1.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	switch strings.ToLower(strings.TrimSuffix(host, ".")) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// consoleComponent runs the console's lifecycle-event follower; its
// shutdown ends the live streams before the HTTP servers drain (components
// are drained in reverse order, and this one comes after the listeners).
func consoleComponent(con *console.Console) component {
	return component{name: "console", serve: con.Serve, shutdown: con.Shutdown}
}

// ConsolePasswordFile is the file, inside the data directory, that holds
// the console password's hash (PBKDF2-SHA256), written 0600 by
// `thingcore console password`.
const ConsolePasswordFile = "console-password.json"

// consolePassword is the stored form of the console password.
type consolePassword struct {
	Algorithm  string `json:"algorithm"` // "pbkdf2-sha256"
	Iterations int    `json:"iterations"`
	Salt       []byte `json:"salt"`
	Hash       []byte `json:"hash"`
}

// passwordIterations is PBKDF2's work factor (OWASP's 2023 advice for
// SHA-256).
const passwordIterations = 600_000

// minPasswordLen is the shortest console password accepted.
const minPasswordLen = 12

// SetConsolePassword stores the hash of password as the console password of
// dataDir, replacing any earlier one.
func SetConsolePassword(dataDir, password string) error {
	if len(password) < minPasswordLen {
		return fmt.Errorf("hub: console password: use at least %d characters", minPasswordLen)
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return fmt.Errorf("hub: console password: %w", err)
	}
	hash, err := pbkdf2.Key(sha256.New, password, salt, passwordIterations, 32)
	if err != nil {
		return fmt.Errorf("hub: console password: %w", err)
	}
	data, err := json.MarshalIndent(consolePassword{"pbkdf2-sha256", passwordIterations, salt, hash}, "", "  ")
	if err != nil {
		return fmt.Errorf("hub: console password: %w", err)
	}
	path := filepath.Join(dataDir, ConsolePasswordFile)
	tmp := path + ".new"
	_ = os.Remove(tmp)
	if err := writeSecret(tmp, append(data, '\n')); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("hub: console password: %w", err)
	}
	return nil
}

// loadConsolePassword returns the checker of dataDir's console password, or
// nil when none is set.
func loadConsolePassword(dataDir string) (func(string) bool, error) {
	path := filepath.Join(dataDir, ConsolePasswordFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("hub: console password: %w", err)
	}
	var p consolePassword
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("hub: console password %s: %w", path, err)
	}
	if p.Algorithm != "pbkdf2-sha256" || p.Iterations < 1 || len(p.Salt) == 0 || len(p.Hash) == 0 {
		return nil, fmt.Errorf("hub: console password %s: unknown format", path)
	}
	return func(password string) bool {
		got, err := pbkdf2.Key(sha256.New, password, p.Salt, p.Iterations, len(p.Hash))
		return err == nil && subtle.ConstantTimeCompare(got, p.Hash) == 1
	}, nil
}
