package shadow

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files and the fuzz seed corpus")

// t0 is the clock of the tests: 2020-06-03T00:00:00Z.
var t0 = time.Unix(1591142400, 0)

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

// mustApply parses body and applies it to d at now, failing on any error.
func mustApply(t testing.TB, d *Document, body string, now time.Time) (accepted, documents, delta []byte) {
	t.Helper()
	u, e := ParseUpdate([]byte(body), Limits{})
	if e != nil {
		t.Fatalf("ParseUpdate(%s) = %v", body, e)
	}
	a, docs, dl, e := d.Apply(u, now, Limits{})
	if e != nil {
		t.Fatalf("Apply(%s) = %v", body, e)
	}
	return a, docs, dl
}
