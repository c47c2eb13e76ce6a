package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thingcore/thingcore/examples"
	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/devicebundle"
	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

// standinsDir holds the CPython stand-ins for MicroPython's machine, network,
// umqtt.simple, time and ssl that the board's main.py runs with in these
// tests (see its sitecustomize.py).
const standinsDir = "../../examples/w5100s-evb-pico/testdata/standins"

// needPython returns python3's path. Without it the test is skipped, or
// fails when THINGCORE_INTEROP_REQUIRED=1.
func needPython(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("THINGCORE_INTEROP_REQUIRED") == "1" {
			t.Fatalf("python3 is required (THINGCORE_INTEROP_REQUIRED=1): %v", err)
		}
		t.Skipf("python3 not found: %v", err)
	}
	return p
}

// board is main.py running under CPython with the stand-ins.
type board struct {
	stdout, stderr *syncBuffer
	done           chan struct{} // closed when the process has exited
	err            error         // the exit error, set before done closes
}

// runBoard starts `python3 main.py` in dir with the stand-ins on PYTHONPATH
// and env added; cleanup kills it if it still runs and waits for it.
func runBoard(t *testing.T, python, dir string, env ...string) *board {
	t.Helper()
	standins, err := filepath.Abs(standinsDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	cmd := exec.CommandContext(ctx, python, "main.py")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"PYTHONPATH=" + standins, "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1"}, env...)...)
	b := &board{stdout: newSyncBuffer(), stderr: newSyncBuffer(), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = b.stdout, b.stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start python3 main.py: %v", err)
	}
	go func() {
		b.err = cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-b.done
		if t.Failed() || testing.Verbose() {
			t.Logf("main.py stdout:\n%s\nstderr:\n%s", b.stdout, b.stderr)
		}
	})
	return b
}

// wait waits for the program to exit and fails the test unless it exited 0.
func (b *board) wait(t *testing.T) {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(60 * time.Second):
		t.Fatal("main.py still runs after 60s")
	}
	if b.err != nil {
		t.Fatalf("main.py: %v", b.err)
	}
}

// subscribeJSON collects the messages on topic, parsed as JSON; with from
// set, only those the client from published.
func subscribeJSON(t *testing.T, th *testHub, topic, from string) <-chan map[string]any {
	t.Helper()
	got := make(chan map[string]any, 64)
	unsubscribe, err := th.h.Broker().Subscribe(topic, func(m *broker.Message) {
		if from != "" && m.PublisherID != from {
			return
		}
		var doc map[string]any
		if err := json.Unmarshal(m.Payload, &doc); err != nil {
			doc = map[string]any{"invalid JSON": string(m.Payload)}
		}
		select {
		case got <- doc:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unsubscribe)
	return got
}

// deviceReports collects the shadow update documents the thing itself
// publishes (not those the test publishes).
func deviceReports(t *testing.T, th *testHub, thing string) <-chan map[string]any {
	t.Helper()
	return subscribeJSON(t, th, shadowTopic(thing, "update"), thing)
}

// nextReport returns the next message from msgs. Once main.py has exited it
// waits a little longer only, as messages may still be on their way.
func nextReport(t *testing.T, msgs <-chan map[string]any, b *board) map[string]any {
	t.Helper()
	select {
	case doc := <-msgs:
		return doc
	case <-time.After(30 * time.Second):
		t.Fatal("no message within 30s")
	case <-b.done:
		select {
		case doc := <-msgs:
			return doc
		case <-time.After(5 * time.Second):
		}
		t.Fatalf("main.py exited (%v) and no further message came", b.err)
	}
	return nil
}

// TestMicroPythonBoardReportsShadow writes a board project with thing
// create --board, runs its main.py unchanged under CPython against a real
// hub, and checks that it connects with the thing's DER pair over the TLS
// the board's mbedTLS speaks and publishes valid shadow documents.
func TestMicroPythonBoardReportsShadow(t *testing.T) {
	python := needPython(t)
	th := startHub(t)
	for _, tc := range []struct {
		name, board, keyType, umqttAPI string
		wantNIC                        string // in the stand-ins' log
		wantLED                        string // main.py's LED_PIN line
	}{
		{"pico umqtt 1.3 ssl_params", "w5100s-evb-pico", "rsa", "params", "WIZNET5K on SPI0 at 2000000 Hz", "LED_PIN = 25 "},
		{"pico umqtt 1.4 SSLContext", "w5100s-evb-pico", "rsa", "context", "WIZNET5K on SPI0 at 2000000 Hz", "LED_PIN = 25 "},
		{"wifi ec key", "micropython-wifi", "ec", "context", "WLAN.connect(", `LED_PIN = "LED" `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			thing := "board-" + tc.board + "-" + tc.umqttAPI + "-" + tc.keyType
			dir := th.createThing(t, thing, "--board", tc.board, "--key-type", tc.keyType)
			mainPy, err := os.ReadFile(filepath.Join(dir, "main.py"))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{
				"\nENDPOINT = \"localhost\" ", "\nPORT = " + strconv.Itoa(th.mqttPort) + " ",
				"\nTHING_NAME = \"" + thing + "\" ", "\n" + tc.wantLED,
			} {
				if !strings.Contains(string(mainPy), want) {
					t.Errorf("main.py lacks %q", want)
				}
			}
			for _, f := range []string{fileBoardCert, fileBoardKey, devicebundle.BoardRootCA, "README.md"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("device folder: %v", err)
				}
			}

			reports := deviceReports(t, th, thing)
			accepted := subscribeJSON(t, th, shadowTopic(thing, "update/accepted"), "")
			b := runBoard(t, python, dir, "STANDIN_TIME_SCALE=20", "STANDIN_MAX_PUBLISHES=3", "STANDIN_UMQTT="+tc.umqttAPI)
			b.wait(t)
			var got []map[string]any
			for range 3 {
				got = append(got, nextReport(t, reports, b))
			}
			for i, doc := range got {
				reported, _ := doc["state"].(map[string]any)["reported"].(map[string]any)
				if len(doc) != 1 || len(doc["state"].(map[string]any)) != 1 || reported == nil {
					t.Fatalf("report %d = %v, want {\"state\":{\"reported\":{...}}}", i, doc)
				}
				if reported["counter"] != float64(i) {
					t.Errorf("report %d counter = %v, want %d", i, reported["counter"], i)
				}
				if temp, ok := reported["temperature"].(float64); !ok || temp < 20 || temp > 30 {
					t.Errorf("report %d temperature = %v, want the stand-in ADC's ~25", i, reported["temperature"])
				}
				if hum, ok := reported["humidity"].(float64); !ok || hum < 40 || hum > 50 {
					t.Errorf("report %d humidity = %v, want 40 to 50", i, reported["humidity"])
				}
			}
			// The Device Shadow service accepts each one.
			for i := range 3 {
				if doc := nextReport(t, accepted, b); doc["version"] != float64(i+1) {
					t.Errorf("update/accepted %d = %v, want version %d", i, doc, i+1)
				}
			}
			first := got[0]["state"].(map[string]any)["reported"].(map[string]any)
			if first["led"] != "off" || first["interval"] != float64(20) {
				t.Errorf("first report = %v, want led off and interval 20 too", first)
			}

			out, log := b.stdout.String(), b.stderr.String()
			for _, want := range []string{"connected to localhost as " + thing} {
				if !strings.Contains(out, want) {
					t.Errorf("main.py's output lacks %q", want)
				}
			}
			for _, bad := range []string{"rejected", "error"} {
				if strings.Contains(out, bad) {
					t.Errorf("main.py's output has %q", bad)
				}
			}
			// The board's mbedTLS: TLS 1.2 with an AES-CBC suite.
			if !strings.Contains(log, "standin: TLS TLSv1.2 ") || !strings.Contains(log, "-SHA") || strings.Contains(log, "GCM") {
				t.Errorf("stand-in log lacks a TLS 1.2 CBC handshake")
			}
			if !strings.Contains(log, tc.wantNIC) {
				t.Errorf("stand-in log lacks %q", tc.wantNIC)
			}
		})
	}
}

// TestMicroPythonBoardAppliesDesired sets the thing's desired led and
// interval through the Device Shadow service while main.py runs, and checks
// that the board switches its LED and reports exactly what it applied.
func TestMicroPythonBoardAppliesDesired(t *testing.T) {
	python := needPython(t)
	th := startHub(t)
	const thing = "pico-led"
	dir := filepath.Join(t.TempDir(), thing)
	r := th.mustAdmin(t, "thing", "create", thing, "--board", "w5100s-evb-pico", "--out", dir, "--mqtt-port", strconv.Itoa(th.mqttPort))
	for _, want := range []string{"MicroPython project for the WIZnet W5100S-EVB-Pico", "on the board localhost is the board itself",
		"Thonny", "Upload the cert/ folder and main.py", "thingcore doctor " + dir} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("thing create --board output lacks %q:\n%s", want, r.stdout)
		}
	}
	reports := deviceReports(t, th, thing)
	// Real time: no periodic report (every 20 s) comes between the two.
	b := runBoard(t, python, dir, "STANDIN_MAX_PUBLISHES=2")

	first := nextReport(t, reports, b)
	if _, ok := first["state"].(map[string]any)["reported"].(map[string]any)["temperature"]; !ok {
		t.Fatalf("first report = %v, want temperature", first)
	}
	desired := `{"state":{"desired":{"led":"on","interval":5}}}`
	if err := th.h.Broker().Publish(&broker.Message{Topic: shadowTopic(thing, "update"), Payload: []byte(desired)}); err != nil {
		t.Fatal(err)
	}
	got := nextReport(t, reports, b)
	want := map[string]any{"state": map[string]any{"reported": map[string]any{"led": "on", "interval": float64(5)}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report after desired %s (-want +got):\n%s", desired, diff)
	}
	b.wait(t)
	if !strings.Contains(b.stderr.String(), "standin: Pin(25) = 1") {
		t.Errorf("the on-board LED (GP25) was not switched on")
	}

	// The shadow has the board's state and no delta left.
	accepted := subscribeJSON(t, th, shadowTopic(thing, "get/accepted"), "")
	if err := th.h.Broker().Publish(&broker.Message{Topic: shadowTopic(thing, "get")}); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	select {
	case doc = <-accepted:
	case <-time.After(30 * time.Second):
		t.Fatal("no get/accepted within 30s")
	}
	state, _ := doc["state"].(map[string]any)
	reported, _ := state["reported"].(map[string]any)
	if _, ok := state["delta"]; ok || reported["led"] != "on" || reported["interval"] != float64(5) {
		t.Errorf("shadow after the board's report = %v, want reported led on, interval 5 and no delta", doc)
	}
}

// TestMicroPythonBoardReconnects cuts the board's connection from the hub's
// side and checks that main.py connects again and reports its state again.
func TestMicroPythonBoardReconnects(t *testing.T) {
	python := needPython(t)
	th := startHub(t)
	const thing = "pico-reconnect"
	dir := th.createThing(t, thing, "--board", "w5100s-evb-pico")
	reports := deviceReports(t, th, thing)
	b := runBoard(t, python, dir, "STANDIN_MAX_PUBLISHES=2")

	nextReport(t, reports, b)
	if !th.h.Broker().DisconnectClient(thing, packet.AdministrativeAction, broker.ReasonAPIInitiated, "test") {
		t.Fatalf("DisconnectClient(%s) = false, want true", thing)
	}
	again := nextReport(t, reports, b)
	if _, ok := again["state"].(map[string]any)["reported"].(map[string]any)["led"]; !ok {
		t.Errorf("report after reconnecting = %v, want the full state (led) again", again)
	}
	b.wait(t)
	out := b.stdout.String()
	if n := strings.Count(out, "connected to localhost as "+thing); n != 2 {
		t.Errorf("main.py connected %d times, want 2", n)
	}
	for _, want := range []string{"connection lost:", "reconnecting in 1 s"} {
		if !strings.Contains(out, want) {
			t.Errorf("main.py's output lacks %q", want)
		}
	}
}

func TestBoardProjectTemplate(t *testing.T) {
	t.Parallel()
	for _, b := range examples.Boards() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			files, err := b.Project(examples.Settings{Endpoint: `hub "lan"\`, Port: 1883, ThingName: "t-1"})
			if err != nil {
				t.Fatal(err)
			}
			if files[0].Name != "main.py" {
				t.Fatalf("first file %s, want main.py", files[0].Name)
			}
			if want := `ENDPOINT = "hub \"lan\"\\"  #`; !strings.Contains(string(files[0].Data), want) {
				t.Errorf("main.py lacks %s", want)
			}
		})
	}
	// An unknown board is refused before anything is created.
	r := runCLI(t, "thing", "create", "x", "--board", "esp8266", "--out", filepath.Join(t.TempDir(), "x"),
		"--data-dir", t.TempDir(), "--endpoint", "https://127.0.0.1:1")
	if r.code != exitUsage || !strings.Contains(r.stderr, `unknown board "esp8266": want one of w5100s-evb-pico, micropython-wifi`) {
		t.Errorf("thing create --board esp8266: exit %d, stderr:\n%s\nwant exit %d and the valid boards", r.code, r.stderr, exitUsage)
	}
}
