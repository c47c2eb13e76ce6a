package main

import (
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thingcore/thingcore/internal/hub"
)

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in stdout for exit 0, stderr otherwise
	}{
		{"root -h", []string{"-h"}, exitOK, "Usage: thingcore <command>"},
		{"root help", []string{"help"}, exitOK, "thing create my-device"},
		{"root --help", []string{"--help"}, exitOK, "Commands:"},
		{"help thing create", []string{"help", "thing", "create"}, exitOK, "Usage: thingcore thing create NAME [flags]"},
		{"thing -h", []string{"thing", "-h"}, exitOK, "Usage: thingcore thing <command>"},
		{"thing create -h", []string{"thing", "create", "-h"}, exitOK, "--key-type TYPE"},
		{"cert convert --help", []string{"cert", "convert", "--help"}, exitOK, "Examples:"},
		{"cert help", []string{"cert", "help"}, exitOK, "convert"},
		{"serve -h", []string{"serve", "-h"}, exitOK, "THINGCORE_DATA_DIR"},
		{"version -h", []string{"version", "-h"}, exitOK, "--output FORMAT"},
		{"no command", nil, exitUsage, "Usage: thingcore <command>"},
		{"unknown command", []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"unknown verb", []string{"thing", "frobnicate"}, exitUsage, "Run 'thingcore thing -h' for usage."},
		{"unknown flag", []string{"thing", "list", "--nope"}, exitUsage, "flag provided but not defined: -nope"},
		{"missing argument", []string{"thing", "describe"}, exitUsage, "want NAME"},
		{"bad output", []string{"thing", "list", "--output", "yaml"}, exitUsage, "want table or json"},
		{"help unknown", []string{"help", "nope"}, exitUsage, `unknown command "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, tc.args...)
			out := r.stdout
			if tc.code != exitOK {
				out = r.stderr
			}
			if r.code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("thingcore %s: exit %d, want %d; output lacks %q:\nstdout:\n%s\nstderr:\n%s",
					strings.Join(tc.args, " "), r.code, tc.code, tc.want, r.stdout, r.stderr)
			}
		})
	}
}

func TestEveryLeafHasHelpAndExamples(t *testing.T) {
	t.Parallel()
	var walk func(c *command, path []string)
	walk = func(c *command, path []string) {
		path = append(path, c.name)
		if len(c.examples) == 0 {
			t.Errorf("%s has no examples", strings.Join(path, " "))
		}
		for _, s := range c.subs {
			walk(s, path)
		}
		if len(c.subs) == 0 {
			r := runCLI(t, append(path[1:], "-h")...)
			if r.code != exitOK || !strings.Contains(r.stdout, "Usage: "+strings.Join(path, " ")) {
				t.Errorf("%s -h: exit %d, stdout %q", strings.Join(path, " "), r.code, r.stdout)
			}
		}
	}
	walk(rootCommand(), nil)
}

func TestParseInterspersed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		args    []string
		wantPos []string
		wantOut string
		wantF   bool
	}{
		{"flags first", []string{"--out", "d", "a"}, []string{"a"}, "d", false},
		{"flags after", []string{"a", "--out", "d", "--force"}, []string{"a"}, "d", true},
		{"mixed", []string{"a", "--force", "b", "--out=d"}, []string{"a", "b"}, "d", true},
		{"double dash", []string{"a", "--", "--out", "b"}, []string{"a", "--out", "b"}, "", false},
		{"none", nil, nil, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			out := fs.String("out", "", "")
			force := fs.Bool("force", false, "")
			pos, err := parseInterspersed(fs, tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantPos, pos); diff != "" || *out != tc.wantOut || *force != tc.wantF {
				t.Errorf("parseInterspersed(%q): positional (-want +got) %s, out %q, force %v", tc.args, diff, *out, *force)
			}
		})
	}
}

func TestResolveServeConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "thingcore.json")
	if err := os.WriteFile(file, []byte(`{"data_dir": "/from/file", "mqtt_addr": ":1", "https_addr": ":2", "server_names": ["file.lan"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		file  string
		env   map[string]string
		flags map[string][]string
		want  func(c *serveConfig)
	}{
		{name: "defaults", want: func(c *serveConfig) {}},
		{name: "file", file: file, want: func(c *serveConfig) {
			c.hub.DataDir, c.hub.MQTTAddr, c.hub.HTTPSAddr, c.hub.ServerNames = "/from/file", ":1", ":2", []string{"file.lan"}
		}},
		{name: "env over file", file: file,
			env: map[string]string{"THINGCORE_DATA_DIR": "/from/env", "THINGCORE_SERVER_NAMES": "a.lan, 10.0.0.1",
				"THINGCORE_INSECURE_ALLOW_ALL": "true", "THINGCORE_LOG_LEVEL": "debug", "THINGCORE_SHUTDOWN_TIMEOUT": "3s"},
			want: func(c *serveConfig) {
				c.hub.DataDir, c.hub.MQTTAddr, c.hub.HTTPSAddr, c.hub.ServerNames = "/from/env", ":1", ":2", []string{"a.lan", "10.0.0.1"}
				c.hub.InsecureAllowAll, c.level, c.hub.ShutdownTimeout = true, slog.LevelDebug, 3*time.Second
			}},
		{name: "flags over env over file", file: file,
			env:   map[string]string{"THINGCORE_DATA_DIR": "/from/env", "THINGCORE_MQTT_ADDR": ":3", "THINGCORE_ALLOW_RSA_KEY_EXCHANGE": "1"},
			flags: map[string][]string{"data-dir": {"/from/flag"}, "server-name": {"x.lan", "y.lan"}, "allow-rsa-key-exchange": {"false"}},
			want: func(c *serveConfig) {
				c.hub.DataDir, c.hub.MQTTAddr, c.hub.HTTPSAddr, c.hub.ServerNames = "/from/flag", ":3", ":2", []string{"x.lan", "y.lan"}
			}},
		{name: "empty env turns a listener off", env: map[string]string{"THINGCORE_HTTPS_ADDR": ""},
			want: func(c *serveConfig) { c.hub.HTTPSAddr = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := &env{lookupEnv: func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }}
			got, err := e.resolveServeConfig(serveSettings(), tc.file, tc.flags)
			if err != nil {
				t.Fatal(err)
			}
			want := serveConfig{hub: hub.DefaultConfig(), level: slog.LevelInfo}
			tc.want(&want)
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(serveConfig{})); diff != "" {
				t.Errorf("resolveServeConfig (-want +got):\n%s", diff)
			}
		})
	}

	for _, tc := range []struct {
		name  string
		env   map[string]string
		flags map[string][]string
		want  string
	}{
		{"bad env bool", map[string]string{"THINGCORE_INSECURE_ALLOW_ALL": "maybe"}, nil, "THINGCORE_INSECURE_ALLOW_ALL"},
		{"bad level", nil, map[string][]string{"log-level": {"loud"}}, "--log-level"},
		{"bad timeout", nil, map[string][]string{"shutdown-timeout": {"-1s"}}, "--shutdown-timeout"},
	} {
		e := &env{lookupEnv: func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }}
		if _, err := e.resolveServeConfig(serveSettings(), "", tc.flags); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one naming %s", tc.name, err, tc.want)
		}
	}
}

// TestServe runs `thingcore serve` in-process: it prints its endpoints and,
// on first start only, the admin secret (to stdout, never to the logs),
// then stops cleanly when its context ends.
func TestServe(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	serve := func(t *testing.T) (stdout, stderr string) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		out, errOut := newSyncBuffer(), newSyncBuffer()
		done := make(chan int, 1)
		go func() {
			done <- run(ctx, []string{"serve", "--data-dir", dataDir, "--mqtt-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0",
				"--server-name", "localhost", "--server-name", "127.0.0.1", "--log-level", "debug"}, out, errOut)
		}()
		stopped := make(chan struct{})
		if !out.waitContains("thingcore thing create my-device", stopped, 30*time.Second) {
			cancel()
			t.Fatalf("serve did not print its endpoints:\nstdout:\n%s\nstderr:\n%s", out, errOut)
		}
		cancel()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("serve exit %d after its context ended, want 0\nstderr:\n%s", code, errOut)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop within 30s of its context ending")
		}
		return out.String(), errOut.String()
	}

	first, firstLog := serve(t)
	creds, err := readAdminCredentials(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dataDir, hub.AdminCredentialsFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin credentials file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	for _, want := range []string{"MQTT over TLS (devices)", "HTTPS API", "https://localhost:", hub.RootCAPath(dataDir),
		creds.AccessKeyID, creds.SecretAccessKey, "shown this once", "--data-dir " + dataDir, "--endpoint https://localhost:", "--mqtt-port "} {
		if !strings.Contains(first, want) {
			t.Errorf("first serve output lacks %q:\n%s", want, first)
		}
	}
	if strings.Contains(firstLog, creds.SecretAccessKey) {
		t.Errorf("the admin secret appears in the logs")
	}

	second, secondLog := serve(t)
	if strings.Contains(second+secondLog, creds.SecretAccessKey) {
		t.Errorf("second serve printed the admin secret again:\n%s", second)
	}
	if !strings.Contains(second, creds.AccessKeyID) {
		t.Errorf("second serve output lacks the access key id:\n%s", second)
	}
}

func TestAdminClientErrors(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	r := runCLI(t, "thing", "list", "--data-dir", empty)
	if r.code != exitError || !strings.Contains(r.stderr, "no admin credentials") || !strings.Contains(r.stderr, "thingcore serve") {
		t.Errorf("thing list with an empty data dir: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(empty, hub.AdminCredentialsFile)); err == nil {
		t.Errorf("a client command created admin credentials")
	}
	if r := runCLI(t, "thing", "list", "--endpoint", "http://localhost:8443"); r.code != exitUsage {
		t.Errorf("--endpoint http://: exit %d, want %d", r.code, exitUsage)
	}
}

// Failures common to a first setup get a hint naming the likely cause.
func TestAdminClientHints(t *testing.T) {
	a, b := startHub(t), startHub(t)
	localhostOnly := startHub(t, func(c *hub.Config) { c.ServerNames = []string{"localhost"} })
	for _, tc := range []struct {
		name, dataDir, endpoint, want string
	}{
		{"hub not running", a.dataDir, "https://localhost:1", "is the hub running"},
		{"another hub's data dir", a.dataDir, b.endpoint, "is --data-dir the hub's?"},
		{"name not in the server certificate", localhostOnly.dataDir, strings.Replace(localhostOnly.endpoint, "localhost", "127.0.0.1", 1), "is not valid for"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, "thing", "list", "--data-dir", tc.dataDir, "--endpoint", tc.endpoint)
			if r.code != exitError || !strings.Contains(r.stderr, "hint: ") || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("thing list: exit %d, stderr %q; want exit 1 with hint %q", r.code, r.stderr, tc.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "version", "--output", "json")
	var v map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v["version"] == "" || !strings.HasPrefix(v["go_version"], "go") {
		t.Errorf("version --output json = %q (err %v)", r.stdout, err)
	}
}
