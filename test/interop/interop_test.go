// Package interop drives third-party MQTT clients (mosquitto_pub and
// mosquitto_sub, mqtt.js, the AWS IoT Device SDK v2 for JavaScript) as
// external processes against a real broker from internal/brokertest, because
// our own client cannot catch our own misreadings of the spec.
//
// A test whose tool is missing is skipped, unless THINGCORE_INTEROP_REQUIRED=1
// (set by scripts/test.sh), when it fails instead. Run
// scripts/install-deps.sh to install the tools and test/interop/node_modules.
package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: every
// broker is shut down by brokertest's cleanup and every process is waited for
// by its test's cleanup.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// requiredEnv makes missing interop tools a failure rather than a skip.
const requiredEnv = "THINGCORE_INTEROP_REQUIRED"

// procTimeout bounds every external process a test starts.
const procTimeout = 60 * time.Second

// need returns the path of an external tool. When it is missing the test is
// skipped, or fails when THINGCORE_INTEROP_REQUIRED=1.
func need(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		missing(t, fmt.Sprintf("%s not found on PATH (%v); run scripts/install-deps.sh", tool, err))
	}
	return p
}

// needNodeModules returns the path of node, checking that each npm package is
// installed in test/interop/node_modules.
func needNodeModules(t *testing.T, pkgs ...string) string {
	t.Helper()
	node := need(t, "node")
	for _, p := range pkgs {
		if _, err := os.Stat(filepath.Join("node_modules", p, "package.json")); err != nil {
			missing(t, fmt.Sprintf("npm package %s is not installed in test/interop/node_modules (%v); run scripts/install-deps.sh", p, err))
		}
	}
	return node
}

func missing(t *testing.T, why string) {
	t.Helper()
	if os.Getenv(requiredEnv) == "1" {
		t.Fatalf("%s (%s=1 makes this a failure)", why, requiredEnv)
	}
	t.Skip(why)
}

// syncBuffer is a bytes.Buffer safe for a process writing while a test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is an external process started by a test. Cleanup kills it if it is
// still running and waits for it.
type proc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{}
	err            error // set before done is closed
}

// start starts name with args, stdin as its input (nil for none). The process
// is killed after procTimeout.
func start(t *testing.T, stdin io.Reader, name string, args ...string) *proc {
	t.Helper()
	return launch(t, stdin, nil, name, args...)
}

// launch starts name with args, stdin as its input and env as its whole
// environment (nil: this process's). The process is killed after procTimeout
// and waited for by the test's cleanup.
func launch(t *testing.T, stdin io.Reader, env []string, name string, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	p := &proc{name: filepath.Base(name), done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, name, args...)
	p.cmd.Stdin = stdin
	p.cmd.Env = env
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		defer close(p.done)
		p.err = p.cmd.Wait()
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
	})
	return p
}

// wait waits for the process to exit and returns its exit code; it fails the
// test if the process was killed by its timeout.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	<-p.done
	code := p.cmd.ProcessState.ExitCode()
	var ee *exec.ExitError
	if p.err != nil && !errors.As(p.err, &ee) {
		t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", p.name, p.err, p.stdout.String(), p.stderr.String())
	}
	if code == -1 {
		t.Fatalf("%s was killed (%v; timeout %s)\nstdout: %s\nstderr: %s", p.name, p.err, procTimeout, p.stdout.String(), p.stderr.String())
	}
	return code
}

// kill sends SIGKILL and waits for the process to go.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("kill %s: %v", p.name, err)
	}
	<-p.done
}

// result is a finished process.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, strings.TrimSpace(r.stdout), strings.TrimSpace(r.stderr))
}

// run runs a process to completion.
func run(t *testing.T, stdin io.Reader, name string, args ...string) result {
	t.Helper()
	p := start(t, stdin, name, args...)
	code := p.wait(t)
	return result{stdout: p.stdout.String(), stderr: p.stderr.String(), code: code}
}
