package policy

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files and the fuzz seed corpus")

const (
	testRegion  = "us-east-1"
	testAccount = "123456789012"
)

// res builds a resource ARN in the test region and account.
func res(resourceType, name string) string { return ARN(testRegion, testAccount, resourceType, name) }

func mustParse(t testing.TB, doc string) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse(%s) error: %v", doc, err)
	}
	return p
}

func readExample(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "examples", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkGolden compares got with testdata/<name>, rewriting it under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s mismatch (run with -update if intended)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// evalCase is one request against a set of policies.
type evalCase struct {
	name     string
	action   string
	resource string
	ctx      Context
	allowed  bool
	// reason, if set, is the expected Decision.Reason.
	reason string
}

// evaluateBoth evaluates c with Set.Evaluate and Bound.Evaluate, fails if
// they disagree, and returns the decision.
func evaluateBoth(t *testing.T, s *Set, c evalCase) Decision {
	t.Helper()
	got := s.Evaluate(Request{Action: c.action, Resource: c.resource, Context: c.ctx})
	bound := s.Bind(c.ctx).Evaluate(c.action, c.resource)
	if got != bound {
		t.Errorf("Set.Evaluate(%s %s) = %+v, but Bound.Evaluate = %+v", c.action, c.resource, got, bound)
	}
	return got
}

// runCases runs cases as subtests and returns golden lines, one per case.
func runCases(t *testing.T, s *Set, cases []evalCase) []string {
	t.Helper()
	lines := make([]string, len(cases))
	for i, c := range cases {
		got := evaluateBoth(t, s, c)
		shown := c.resource
		if len(shown) > 120 {
			shown = shown[:120] + "..."
		}
		lines[i] = fmt.Sprintf("%s: %s %s -> %s", c.name, c.action, shown, got.Reason)
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got.Allowed != c.allowed {
				t.Errorf("Evaluate(%s %s) = %+v, want allowed=%v", c.action, c.resource, got, c.allowed)
			}
			if c.reason != "" && got.Reason != c.reason {
				t.Errorf("Evaluate(%s %s).Reason = %q, want %q", c.action, c.resource, got.Reason, c.reason)
			}
		})
	}
	return lines
}

// dump describes the compiled form of p, for golden files.
func dump(p *Policy) string {
	var b strings.Builder
	for i := range p.stmts {
		st := &p.stmts[i]
		fmt.Fprintf(&b, "statement %d: %s", i, st.effect)
		if st.hasSid {
			fmt.Fprintf(&b, " sid=%q", st.sid)
		}
		b.WriteString("\n  actions:")
		if st.notAction {
			b.WriteString(" (NotAction)")
		}
		for a, name := range knownActions {
			if st.mask&(1<<a) != 0 {
				b.WriteString(" " + name)
			}
		}
		b.WriteString("\n  resources")
		if st.notRes {
			b.WriteString(" (NotResource)")
		}
		b.WriteString(":\n")
		for _, r := range st.resources {
			b.WriteString("    " + dumpPattern(r) + "\n")
		}
		for _, c := range st.conditions {
			fmt.Fprintf(&b, "  condition %s op=%d set=%d ifExists=%v key=%s (%s", c.operator, c.op, c.set, c.ifExists, c.key.name, keyKindNames[c.key.kind])
			if c.key.attr != "" {
				fmt.Fprintf(&b, " %s", c.key.attr)
			}
			b.WriteString("):")
			for _, v := range c.values {
				b.WriteString(" " + dumpPattern(v))
			}
			for _, p := range c.prefixes {
				b.WriteString(" " + p.String())
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

var keyKindNames = [...]string{"unknown", "client id", "certificate id", "thing name", "thing type", "thing attribute",
	"is attached", "certificate name", "certificate alternative name", "certificate serial", "available keys", "source ip"}

func dumpPattern(p pattern) string {
	var parts []string
	for _, t := range p.toks {
		switch t.kind {
		case tokLit:
			parts = append(parts, fmt.Sprintf("%q", t.text))
		case tokStar:
			parts = append(parts, "*")
		case tokQuest:
			parts = append(parts, "?")
		case tokVar:
			parts = append(parts, fmt.Sprintf("var(%s)", t.key.name))
		}
	}
	return strings.Join(parts, " ")
}
