package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// startSub runs `thingcore sub` in the background and waits until it has
// subscribed; the returned channel yields its exit code.
func startSub(t *testing.T, args ...string) (stdout, stderr *syncBuffer, code <-chan int) {
	t.Helper()
	stdout, stderr = newSyncBuffer(), newSyncBuffer()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan int, 1)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		done <- run(ctx, append([]string{"sub"}, args...), stdout, stderr)
	}()
	if !stderr.waitContains("Subscribed to", exited, 30*time.Second) {
		t.Fatalf("sub did not subscribe: %s", stderr.String())
	}
	return stdout, stderr, done
}

func waitExit(t *testing.T, code <-chan int, want int, stdout, stderr *syncBuffer) {
	t.Helper()
	select {
	case c := <-code:
		if c != want {
			t.Fatalf("sub exit %d, want %d\nstdout: %s\nstderr: %s", c, want, stdout.String(), stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("sub did not exit\nstdout: %s\nstderr: %s", stdout.String(), stderr.String())
	}
}

// sub and pub as the admin and as a device: messages printed pretty, the
// device's policy refusing another thing's topics with exit code 3, and
// --timeout with exit code 4.
func TestSubPub(t *testing.T) {
	th := startHub(t)
	dir := th.createThing(t, "sensor")
	adminFlags := []string{"--data-dir", th.dataDir, "--endpoint", th.endpoint}

	t.Run("admin sees a device's publish", func(t *testing.T) {
		stdout, stderr, code := startSub(t, append([]string{"$aws/things/+/shadow/update", "--count", "1"}, adminFlags...)...)
		r := runCLI(t, "pub", "--dir", dir, "$aws/things/sensor/shadow/update", "-m", `{"state":{"reported":{"t":21}}}`, "--qos", "1")
		if r.code != exitOK || !strings.Contains(r.stdout, "as sensor") {
			t.Fatalf("pub --dir: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		waitExit(t, code, exitOK, stdout, stderr)
		for _, want := range []string{"$aws/things/sensor/shadow/update", `"reported": {`, `"t": 21`} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("sub output lacks %q:\n%s", want, stdout.String())
			}
		}
	})

	t.Run("device sees the admin's publish", func(t *testing.T) {
		stdout, stderr, code := startSub(t, "--dir", dir, "things/sensor/cmd", "--count", "1", "--output", "json")
		th.mustAdmin(t, "pub", "things/sensor/cmd", "-m", `{"led":"on"}`)
		waitExit(t, code, exitOK, stdout, stderr)
		if want := `"topic":"things/sensor/cmd"`; !strings.Contains(stdout.String(), want) || !strings.Contains(stdout.String(), `"payload":{"led":"on"}`) {
			t.Errorf("sub --output json = %s", stdout.String())
		}
	})

	t.Run("policy refuses another thing's topics", func(t *testing.T) {
		r := runCLI(t, "sub", "--dir", dir, "$aws/things/other/shadow/update", "--count", "1")
		if r.code != exitRefused {
			t.Errorf("sub of another thing's topic: exit %d, want %d\n%s", r.code, exitRefused, r.stderr)
		}
		r = runCLI(t, "pub", "--dir", dir, "things/other/cmd", "-m", "x", "--qos", "1")
		if r.code != exitRefused || !strings.Contains(r.stderr, "0x87") {
			t.Errorf("pub to another thing's topic: exit %d, want %d\n%s", r.code, exitRefused, r.stderr)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		r := runCLI(t, append([]string{"sub", "quiet/topic", "--count", "1", "--timeout", "300ms"}, adminFlags...)...)
		if r.code != exitTimeout || !strings.Contains(r.stderr, "0 received") {
			t.Errorf("sub --timeout: exit %d, want %d\n%s", r.code, exitTimeout, r.stderr)
		}
	})
}
