package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// listedPackage is the part of `go list -json` output the rules read.
type listedPackage struct {
	ImportPath   string
	Name         string
	Doc          string
	GoFiles      []string
	CgoFiles     []string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Module       *struct{ Path string }
	Error        *struct{ Err string }
}

// module is the result of listing every package in the module once.
type module struct {
	path string          // module path from go.mod
	pkgs []listedPackage // every package matched by ./...
}

// rel returns importPath relative to the module root and whether it is in
// the module at all. The root package itself is ".".
func (m module) rel(importPath string) (string, bool) {
	if importPath == m.path {
		return ".", true
	}
	r, ok := strings.CutPrefix(importPath, m.path+"/")
	return r, ok
}

var (
	loadOnce   sync.Once
	loadResult module
	loadErr    error
)

// loadModule runs `go list -e -json ./...` from the module root once per
// test binary. -e keeps packages that fail to build in the listing, so a
// package mid-edit still has its imports checked.
func loadModule(t *testing.T) module {
	t.Helper()
	loadOnce.Do(func() { loadResult, loadErr = listModule() })
	if loadErr != nil {
		t.Fatalf("list module packages: %v", loadErr)
	}
	return loadResult
}

func listModule() (module, error) {
	gomod, err := goCmd("", "env", "GOMOD")
	if err != nil {
		return module{}, err
	}
	gomodPath := strings.TrimSpace(string(gomod))
	if gomodPath == "" || gomodPath == "/dev/null" {
		return module{}, errors.New("not inside a Go module (go env GOMOD is empty)")
	}
	root := filepath.Dir(gomodPath)

	modPath, err := goCmd(root, "list", "-m", "-f", "{{.Path}}")
	if err != nil {
		return module{}, err
	}
	out, err := goCmd(root, "list", "-e", "-json", "./...")
	if err != nil {
		return module{}, err
	}
	m := module{path: strings.TrimSpace(string(modPath))}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return module{}, err
		}
		m.pkgs = append(m.pkgs, p)
	}
	return m, nil
}

// goCmd runs the go command (which `go test` puts first on PATH) in dir.
func goCmd(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, &goCmdError{args: args, err: err, stderr: strings.TrimSpace(stderr.String())}
	}
	return out, nil
}

type goCmdError struct {
	args   []string
	err    error
	stderr string
}

func (e *goCmdError) Error() string {
	return "go " + strings.Join(e.args, " ") + ": " + e.err.Error() + ": " + e.stderr
}

func (e *goCmdError) Unwrap() error { return e.err }

// under reports whether rel (a path relative to the module root) is dir or
// a package below it.
func under(rel, dir string) bool {
	return rel == dir || strings.HasPrefix(rel, dir+"/")
}

// isStd reports whether importPath belongs to the standard library: its
// first element has no dot. "C" (cgo) is not standard library.
func isStd(importPath string) bool {
	if importPath == "C" {
		return false
	}
	first, _, _ := strings.Cut(importPath, "/")
	return !strings.Contains(first, ".")
}

// dep is one import seen from one package.
type dep struct {
	path     string // full import path
	rel      string // path relative to the module root when inModule
	inModule bool
}

// rule constrains the imports of the packages it applies to.
type rule struct {
	name string
	// subject is the module-relative directory the rule protects; the rule
	// is skipped while no package exists at or below it.
	subject string
	// appliesTo selects importers by module-relative path.
	appliesTo func(importer string) bool
	// tests also checks TestImports and XTestImports, not just Imports.
	tests bool
	// allowed reports whether importer may import d.
	allowed func(importer string, d dep) bool
	reason  string
}

// pureLeaf is a rule that pkg imports the standard library only.
func pureLeaf(pkg, reason string) rule {
	return rule{
		name:      pkg + " is stdlib only",
		subject:   pkg,
		appliesTo: func(p string) bool { return under(p, pkg) },
		allowed: func(_ string, d dep) bool {
			return isStd(d.path) || (d.inModule && under(d.rel, pkg))
		},
		reason: reason,
	}
}

var rules = []rule{
	{
		name:      "packet is stdlib only",
		subject:   "internal/mqtt/packet",
		appliesTo: func(p string) bool { return under(p, "internal/mqtt/packet") },
		allowed: func(_ string, d dep) bool {
			return isStd(d.path) || (d.inModule && under(d.rel, "internal/mqtt/packet"))
		},
		reason: "the MQTT codec is a pure leaf under the broker, the fuzzers and the future device SDK; " +
			"third-party codecs belong in its tests only, as oracles",
	},
	{
		name:      "topic is stdlib only",
		subject:   "internal/mqtt/topic",
		appliesTo: func(p string) bool { return under(p, "internal/mqtt/topic") },
		allowed: func(_ string, d dep) bool {
			return isStd(d.path) || (d.inModule && under(d.rel, "internal/mqtt/topic"))
		},
		reason: "topic names, filters and the subscription tree are pure logic the broker and policy engine share",
	},
	pureLeaf("internal/policy", "the policy language is pure logic: the hub, the console's test form and "+
		"the HTTP data plane evaluate the same documents the same way"),
	pureLeaf("internal/pki", "certificate authority and conversion logic must not depend on storage or "+
		"transport, so the CLI and the hub convert and verify identically"),
	{
		name:      "httpapi imports no thingcore package",
		subject:   "internal/httpapi",
		appliesTo: func(p string) bool { return under(p, "internal/httpapi") },
		allowed: func(_ string, d dep) bool {
			return !d.inModule || under(d.rel, "internal/httpapi")
		},
		reason: "the AWS HTTP API base sits under every operation package (iotapi, the data plane); " +
			"importing one of them would make a cycle",
	},
	pureLeaf("internal/shadow", "the shadow document logic is pure: the MQTT service, the HTTP data plane "+
		"and the console apply the same merge and produce the same responses"),
	pureLeaf("internal/memtrim", "a process-wide memory policy with no dependencies"),
	pureLeaf("internal/gcpace", "a process-wide garbage-collection policy with no dependencies"),
	{
		name:      "broker imports stdlib, x/ and mqtt only",
		subject:   "internal/broker",
		appliesTo: func(p string) bool { return under(p, "internal/broker") },
		allowed: func(_ string, d dep) bool {
			switch {
			case isStd(d.path), strings.HasPrefix(d.path, "golang.org/x/"):
				return true
			case d.inModule:
				return under(d.rel, "internal/mqtt") || under(d.rel, "internal/broker")
			}
			return false
		},
		reason: "the broker defines the interfaces it needs (Authenticator, SessionStore, Forwarder, ...) " +
			"and the composition root plugs in implementations; it must not reach for transport, hub or third-party code",
	},
	{
		name:      "transport has no module imports",
		subject:   "internal/transport",
		appliesTo: func(p string) bool { return under(p, "internal/transport") },
		allowed: func(_ string, d dep) bool {
			return !d.inModule || under(d.rel, "internal/transport")
		},
		reason: "transport owns sockets, TLS and WebSocket framing with no MQTT semantics; " +
			"the composition root joins it to the broker",
	},
	{
		name:      "shadowsvc imports broker, kvstore and shadow only",
		subject:   "internal/shadowsvc",
		appliesTo: func(p string) bool { return under(p, "internal/shadowsvc") },
		allowed: func(_ string, d dep) bool {
			if !d.inModule {
				return true
			}
			for _, ok := range []string{"internal/shadowsvc", "internal/shadow", "internal/broker", "internal/kvstore", "internal/mqtt"} {
				if under(d.rel, ok) {
					return true
				}
			}
			return false
		},
		reason: "the shadow service talks to devices through the broker's in-process API and keeps shadows in KV; " +
			"the data plane and console call it, never the reverse",
	},
	{
		name:      "dataplane imports httpapi, shadow, policy and broker types only",
		subject:   "internal/dataplane",
		appliesTo: func(p string) bool { return under(p, "internal/dataplane") },
		allowed: func(_ string, d dep) bool {
			if !d.inModule {
				return isStd(d.path)
			}
			for _, ok := range []string{"internal/dataplane", "internal/httpapi", "internal/shadow", "internal/policy",
				"internal/broker", "internal/mqtt"} {
				if under(d.rel, ok) {
					return true
				}
			}
			return false
		},
		reason: "the iot-data API reaches the shadow service, the broker and device authentication through interfaces " +
			"the composition root fills; importing hub, shadowsvc, the stores or transport would invert the layers",
	},
	{
		name:      "device imports no internal package",
		subject:   "device",
		appliesTo: func(p string) bool { return under(p, "device") },
		allowed: func(_ string, d dep) bool {
			return !d.inModule || under(d.rel, "device")
		},
		reason: "device is the public Go device SDK: users import it from other modules, where internal/ is out of reach " +
			"(its tests may run a real hub)",
	},
	{
		name:      "simulate imports device only",
		subject:   "internal/simulate",
		appliesTo: func(p string) bool { return under(p, "internal/simulate") },
		allowed: func(_ string, d dep) bool {
			if !d.inModule {
				return isStd(d.path)
			}
			return under(d.rel, "internal/simulate") || under(d.rel, "device")
		},
		reason: "the simulator is a fleet of ordinary devices: it must see the hub only as devices do, through the public " +
			"device SDK, so that it measures what users get and runs against AWS IoT Core too",
	},
	{
		name:      "simulate only from cmd and bench",
		subject:   "internal/simulate",
		appliesTo: func(p string) bool { return !under(p, "internal/simulate") && !under(p, "cmd") && !under(p, "bench") },
		tests:     true,
		allowed: func(_ string, d dep) bool {
			return !d.inModule || !under(d.rel, "internal/simulate")
		},
		reason: "the simulator is a load tool for the CLI (and bench/ programs); the hub and its parts must not depend on it",
	},
	{
		name:      "console imports the stores, pki, policy, shadow and broker types only",
		subject:   "internal/console",
		appliesTo: func(p string) bool { return under(p, "internal/console") },
		allowed: func(_ string, d dep) bool {
			if !d.inModule {
				return isStd(d.path)
			}
			for _, ok := range []string{"internal/console", "internal/broker", "internal/mqtt", "internal/registry",
				"internal/policystore", "internal/policy", "internal/pki", "internal/shadow", "internal/devicebundle", "examples"} {
				if under(d.rel, ok) {
					return true
				}
			}
			return false
		},
		reason: "the console is a client of the parts the composition root gives it (stores, CA, broker API, shadow service " +
			"behind an interface); it must not reach for the hub, transport, KV or the AWS API packages, and ships no " +
			"third-party code to browsers or the binary",
	},
	{
		name:      "console only from hub",
		subject:   "internal/console",
		appliesTo: func(p string) bool { return !under(p, "internal/console") && !under(p, "internal/hub") },
		tests:     true,
		allowed: func(_ string, d dep) bool {
			return !d.inModule || !under(d.rel, "internal/console")
		},
		reason: "the console acts as the admin: only the composition root may mount it, behind its sign-in",
	},
	{
		name:      "doctor imports stdlib, packet, policy, pki and devicebundle only",
		subject:   "internal/doctor",
		appliesTo: func(p string) bool { return under(p, "internal/doctor") },
		allowed: func(_ string, d dep) bool {
			if !d.inModule {
				return isStd(d.path)
			}
			for _, ok := range []string{"internal/doctor", "internal/mqtt/packet", "internal/policy", "internal/pki", "internal/devicebundle"} {
				if under(d.rel, ok) {
					return true
				}
			}
			return false
		},
		reason: "the doctor sees the hub as a device does (files, TCP, TLS, MQTT on the wire) and asks the registry through " +
			"its own small Hub interface, so the CLI (over the AWS API) and the console (over the stores) can both run it; " +
			"it must not reach for the hub, the stores, the broker or the AWS SDK",
	},
	{
		name:    "testcert only from tests and bench",
		subject: "internal/testcert",
		// brokertest is the test harness (itself imported only by tests).
		appliesTo: func(p string) bool {
			return !under(p, "bench") && !under(p, "internal/testcert") && !under(p, "internal/brokertest")
		},
		allowed: func(_ string, d dep) bool {
			return !d.inModule || !under(d.rel, "internal/testcert")
		},
		reason: "testcert mints throwaway CAs and keys; in a shipped binary it would be a path to trusting test keys",
	},
	{
		name:    "hub only from cmd",
		subject: "internal/hub",
		// hubtest is the test harness that runs a real hub; only tests import it.
		appliesTo: func(p string) bool {
			return !under(p, "cmd") && !under(p, "internal/hub") && !under(p, "internal/hubtest")
		},
		allowed: func(_ string, d dep) bool {
			return !d.inModule || !under(d.rel, "internal/hub")
		},
		reason: "internal/hub is the composition root that knows every part; anything below importing it inverts the layers",
	},
	{
		name:      "nothing imports cmd",
		subject:   "cmd",
		appliesTo: func(string) bool { return true },
		tests:     true,
		allowed: func(_ string, d dep) bool {
			return !d.inModule || !under(d.rel, "cmd")
		},
		reason: "cmd/ holds programs, the top of the graph; shared code belongs in internal/",
	},
}

func TestImportRules(t *testing.T) {
	m := loadModule(t)
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			if !slices.ContainsFunc(m.pkgs, func(p listedPackage) bool {
				rel, ok := m.rel(p.ImportPath)
				return ok && under(rel, r.subject)
			}) {
				t.Skipf("no package at %s yet", r.subject)
			}
			var violations []string
			for _, p := range m.pkgs {
				importer, ok := m.rel(p.ImportPath)
				if !ok || !r.appliesTo(importer) {
					continue
				}
				check := func(list string, imports []string) {
					for _, imp := range imports {
						rel, in := m.rel(imp)
						if !r.allowed(importer, dep{path: imp, rel: rel, inModule: in}) {
							violations = append(violations, importer+" ("+list+") imports "+imp)
						}
					}
				}
				check("Imports", p.Imports)
				if r.tests {
					check("TestImports", p.TestImports)
					check("XTestImports", p.XTestImports)
				}
			}
			if len(violations) > 0 {
				t.Errorf("%d import(s) break the rule %q:\n\t%s\nreason: %s",
					len(violations), r.name, strings.Join(violations, "\n\t"), r.reason)
			}
		})
	}
}

func TestPackageDocs(t *testing.T) {
	const reason = "every package says what it owns and who may import it (STYLE.md rule 12)"
	m := loadModule(t)
	var missing []string
	for _, p := range m.pkgs {
		rel, ok := m.rel(p.ImportPath)
		if !ok {
			continue
		}
		if len(p.GoFiles)+len(p.CgoFiles) == 0 {
			// Test-only directories have no package clause go doc reads.
			continue
		}
		if strings.TrimSpace(p.Doc) == "" {
			missing = append(missing, rel)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d package(s) have no package doc comment:\n\t%s\nreason: %s",
			len(missing), strings.Join(missing, "\n\t"), reason)
	}
}

// TestModuleListed guards the rules against passing vacuously: the listing
// must contain this package.
func TestModuleListed(t *testing.T) {
	m := loadModule(t)
	if !slices.ContainsFunc(m.pkgs, func(p listedPackage) bool { return p.ImportPath == m.path+"/internal/archtest" }) {
		t.Fatalf("go list ./... in module %s did not list internal/archtest; got %d packages", m.path, len(m.pkgs))
	}
}

func TestUnder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rel, dir string
		want     bool
	}{
		{"internal/mqtt", "internal/mqtt", true},
		{"internal/mqtt/packet", "internal/mqtt", true},
		{"internal/mqttx", "internal/mqtt", false},
		{"internal", "internal/mqtt", false},
	}
	for _, tt := range tests {
		t.Run(tt.rel+"_in_"+tt.dir, func(t *testing.T) {
			t.Parallel()
			if got := under(tt.rel, tt.dir); got != tt.want {
				t.Errorf("under(%q, %q) = %v, want %v", tt.rel, tt.dir, got, tt.want)
			}
		})
	}
}

func TestIsStd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path string
		want bool
	}{
		{"net/http", true},
		{"crypto/tls", true},
		{"C", false},
		{"golang.org/x/sync/errgroup", false},
		{"github.com/thingcore/thingcore/internal/broker", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			if got := isStd(tt.path); got != tt.want {
				t.Errorf("isStd(%q) = %v, want %v", tt.path, got, tt.want)
			}
		})
	}
}
