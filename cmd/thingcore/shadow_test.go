package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
)

// The shadow commands drive the hub's data plane: update, get, list named
// shadows, delete, and the errors AWS gives for a missing shadow.
func TestShadowCommands(t *testing.T) {
	th := startHub(t)
	steps := []struct {
		name string
		args []string
		code int
		// stdout (or stderr for failures) must contain each of these.
		want []string
	}{
		{"get missing", []string{"shadow", "get", "lamp"}, exitError,
			[]string{"GetThingShadow: ResourceNotFoundException: No shadow exists with name: 'lamp'"}},
		{"update desired", []string{"shadow", "update", "lamp", "--desired", `{"led":"on"}`}, exitOK,
			[]string{"Updated the shadow of lamp: version 1"}},
		{"update reported json", []string{"shadow", "update", "lamp", "--reported", `{"led":"off"}`, "--output", "json"}, exitOK,
			[]string{`"reported": {`, `"version": 2`}},
		{"get table", []string{"shadow", "get", "lamp"}, exitOK,
			[]string{"Version:", "2", `Desired:   {"led":"on"}`, `Delta:     {"led":"on"}`}},
		{"update named from file", []string{"shadow", "update", "lamp", "--name", "env", "--file", writeTemp(t, `{"state":{"reported":{"t":21}}}`)}, exitOK,
			[]string{"Updated the shadow of lamp (env): version 1"}},
		{"version conflict", []string{"shadow", "update", "lamp", "--doc", `{"state":{"desired":{"a":1}},"version":1}`}, exitError,
			[]string{"UpdateThingShadow: ConflictException: Version conflict"}},
		{"missing state", []string{"shadow", "update", "lamp", "--doc", `{"led":"on"}`}, exitError,
			[]string{"InvalidRequestException: Missing required node: state"}},
		{"list", []string{"shadow", "list", "lamp"}, exitOK, []string{"env"}},
		{"list json", []string{"shadow", "list", "lamp", "--output", "json"}, exitOK, []string{`"results": [`, `"env"`}},
		{"delete named", []string{"shadow", "delete", "lamp", "--name", "env"}, exitOK,
			[]string{"Deleted the shadow of lamp (env) (it was at version 1)"}},
		{"get deleted named", []string{"shadow", "get", "lamp", "--name", "env"}, exitError, []string{"ResourceNotFoundException"}},
		{"no state flag", []string{"shadow", "update", "lamp"}, exitUsage, []string{"give --desired, --reported, --doc or --file"}},
		{"bad json", []string{"shadow", "update", "lamp", "--desired", "{led:on}"}, exitUsage, []string{"--desired is not valid JSON"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := th.admin(t, s.args...)
			out := r.stdout
			if s.code != exitOK {
				out = r.stderr
			}
			if r.code != s.code {
				t.Fatalf("thingcore %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(s.args, " "), r.code, s.code, r.stdout, r.stderr)
			}
			for _, w := range s.want {
				if !strings.Contains(out, w) {
					t.Errorf("thingcore %s output lacks %q:\n%s", strings.Join(s.args, " "), w, out)
				}
			}
		})
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "doc.json")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// `shadow watch` prints the delta and documents of an update made while it
// runs; `pub` reaches broker subscribers.
func TestShadowWatchAndPub(t *testing.T) {
	th := startHub(t)
	stdout, stderr := newSyncBuffer(), newSyncBuffer()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		done <- run(ctx, []string{"shadow", "watch", "lamp", "--count", "2", "--output", "json",
			"--data-dir", th.dataDir, "--endpoint", th.endpoint}, stdout, stderr)
	}()
	if !stderr.waitContains("Watching the shadow of lamp", exited, 30*time.Second) {
		t.Fatalf("watch did not start: %s", stderr.String())
	}
	th.mustAdmin(t, "shadow", "update", "lamp", "--desired", `{"led":"on"}`)
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("watch exit %d: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("watch did not print two messages: %s", stdout.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	topics := map[string]json.RawMessage{}
	for _, l := range lines {
		var ev struct {
			Topic   string
			Payload json.RawMessage
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("watch line %q: %v", l, err)
		}
		topics[ev.Topic] = ev.Payload
	}
	if d := topics["$aws/things/lamp/shadow/update/delta"]; !strings.Contains(string(d), `"state":{"led":"on"}`) {
		t.Errorf("watch output lacks the delta: %s", stdout.String())
	}
	if _, ok := topics["$aws/things/lamp/shadow/update/documents"]; !ok {
		t.Errorf("watch output lacks the documents: %s", stdout.String())
	}

	got := make(chan *broker.Message, 1)
	unsub, err := th.h.Broker().Subscribe("things/lamp/cmd", func(m *broker.Message) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	defer unsub()
	r := th.mustAdmin(t, "pub", "things/lamp/cmd", "-m", "hello", "--qos", "1", "--retain")
	if !strings.Contains(r.stdout, "Published 5 bytes to things/lamp/cmd") {
		t.Errorf("pub output %q", r.stdout)
	}
	select {
	case m := <-got:
		if string(m.Payload) != "hello" || m.QoS != 1 || !m.Retain {
			t.Errorf("received %+v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the published message did not arrive")
	}
}
