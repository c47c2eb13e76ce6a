package interop

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/hubtest"
)

// iotDataCLI runs `aws iot-data <args> --endpoint-url <hub>` (AWS CLI v2).
func iotDataCLI(t *testing.T, h *hubtest.Hub, args ...string) result {
	t.Helper()
	c := newAWSCLI(t, h, h.Creds.SecretAccessKey)
	a := append([]string{"iot-data"}, args...)
	a = append(a, "--endpoint-url", c.endpoint, "--output", "json", "--no-cli-pager")
	return runEnv(t, c.env, c.path, a...)
}

// shadowMessages subscribes in-process to a thing's shadow response topics
// and returns the channel of (topic suffix, payload).
func shadowMessages(t *testing.T, h *hubtest.Hub, thing string) <-chan [2]string {
	t.Helper()
	ch := make(chan [2]string, 32)
	prefix := "$aws/things/" + thing + "/shadow/"
	unsub, err := h.Broker().Subscribe(prefix+"#", func(m *broker.Message) {
		select {
		case ch <- [2]string{strings.TrimPrefix(m.Topic, prefix), string(m.Payload)}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unsub)
	return ch
}

// waitShadowMessages collects messages until every suffix in want was seen.
func waitShadowMessages(t *testing.T, ch <-chan [2]string, want ...string) map[string]string {
	t.Helper()
	got := map[string]string{}
	deadline := time.After(10 * time.Second)
	for {
		done := true
		for _, w := range want {
			if _, ok := got[w]; !ok {
				done = false
			}
		}
		if done {
			return got
		}
		select {
		case m := <-ch:
			got[m[0]] = m[1]
		case <-deadline:
			t.Fatalf("shadow messages over MQTT: got %v, want %v", got, want)
		}
	}
}

// TestHubAWSCLIIoTData drives the data plane with `aws iot-data` (AWS CLI
// v2): shadows (classic and named), a missing shadow's
// ResourceNotFoundException with exit code 254, publish and retained
// messages; an HTTP update reaches MQTT subscribers as update/accepted and
// update/delta.
func TestHubAWSCLIIoTData(t *testing.T) {
	needAWSCLIv2(t)
	h := hubtest.Start(t, hubtest.Options{})
	const thing = "cli-data-thing"
	mqtt := shadowMessages(t, h, thing)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.json")
	readOut := func(t *testing.T) map[string]any {
		t.Helper()
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return decodeJSON(t, "outfile", string(b))
	}
	must := func(t *testing.T, args ...string) string {
		t.Helper()
		r := iotDataCLI(t, h, args...)
		if r.code != 0 {
			t.Fatalf("aws iot-data %s: %s", strings.Join(args, " "), r)
		}
		return r.stdout
	}
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"get-missing-shadow", func(t *testing.T) {
			r := iotDataCLI(t, h, "get-thing-shadow", "--thing-name", thing, out)
			if r.code != 254 || !strings.Contains(r.stderr, "An error occurred (ResourceNotFoundException) when calling the GetThingShadow operation: No shadow exists with name: '"+thing+"'") {
				t.Errorf("get-thing-shadow of a missing shadow: %s, want exit 254 and ResourceNotFoundException", r)
			}
		}},
		{"update-thing-shadow", func(t *testing.T) {
			must(t, "update-thing-shadow", "--thing-name", thing, "--cli-binary-format", "raw-in-base64-out",
				"--payload", `{"state":{"desired":{"led":"on"},"reported":{"led":"off"}},"clientToken":"cli"}`, out)
			doc := readOut(t)
			if doc["version"] != float64(1) || doc["clientToken"] != "cli" {
				t.Errorf("update-thing-shadow outfile = %v", doc)
			}
			got := waitShadowMessages(t, mqtt, "update/accepted", "update/documents", "update/delta")
			if !strings.Contains(got["update/delta"], `"state":{"led":"on"}`) {
				t.Errorf("update/delta over MQTT = %s", got["update/delta"])
			}
		}},
		{"get-thing-shadow", func(t *testing.T) {
			must(t, "get-thing-shadow", "--thing-name", thing, out)
			doc := readOut(t)
			want := map[string]any{"desired": map[string]any{"led": "on"}, "reported": map[string]any{"led": "off"}, "delta": map[string]any{"led": "on"}}
			if d := cmp.Diff(want, doc["state"]); d != "" || doc["version"] != float64(1) {
				t.Errorf("get-thing-shadow state (-want +got):\n%s\n%v", d, doc)
			}
		}},
		{"version-conflict", func(t *testing.T) {
			r := iotDataCLI(t, h, "update-thing-shadow", "--thing-name", thing, "--cli-binary-format", "raw-in-base64-out",
				"--payload", `{"state":{"desired":{"led":"off"}},"version":7}`, out)
			if r.code != 254 || !strings.Contains(r.stderr, "(ConflictException)") || !strings.Contains(r.stderr, "Version conflict") {
				t.Errorf("update with a stale version: %s, want ConflictException", r)
			}
		}},
		{"named-shadows", func(t *testing.T) {
			for _, n := range []string{"beta", "alpha"} {
				must(t, "update-thing-shadow", "--thing-name", thing, "--shadow-name", n, "--cli-binary-format", "raw-in-base64-out",
					"--payload", `{"state":{"reported":{"n":1}}}`, out)
			}
			got := decodeJSON(t, "list-named-shadows-for-thing", must(t, "list-named-shadows-for-thing", "--thing-name", thing))
			if d := cmp.Diff([]any{"alpha", "beta"}, got["results"]); d != "" {
				t.Errorf("list-named-shadows-for-thing results (-want +got):\n%s", d)
			}
			if _, ok := got["timestamp"]; !ok {
				t.Errorf("list-named-shadows-for-thing = %v, want a timestamp", got)
			}
			must(t, "delete-thing-shadow", "--thing-name", thing, "--shadow-name", "beta", out)
			if doc := readOut(t); doc["version"] != float64(1) {
				t.Errorf("delete-thing-shadow outfile = %v", doc)
			}
		}},
		{"delete-thing-shadow", func(t *testing.T) {
			must(t, "delete-thing-shadow", "--thing-name", thing, out)
			if doc := readOut(t); doc["version"] != float64(1) {
				t.Errorf("delete-thing-shadow outfile = %v, want version 1 (the deleted document's)", doc)
			}
			r := iotDataCLI(t, h, "delete-thing-shadow", "--thing-name", thing, out)
			if r.code != 254 || !strings.Contains(r.stderr, "(ResourceNotFoundException)") {
				t.Errorf("delete of a deleted shadow: %s, want ResourceNotFoundException", r)
			}
		}},
		{"publish-and-retained", func(t *testing.T) {
			got := make(chan *broker.Message, 1)
			unsub, err := h.Broker().Subscribe("cli/status", func(m *broker.Message) {
				select {
				case got <- m:
				default:
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer unsub()
			if s := must(t, "publish", "--topic", "cli/status", "--qos", "1", "--retain", "--cli-binary-format", "raw-in-base64-out",
				"--payload", "online"); strings.TrimSpace(s) != "" {
				t.Errorf("publish printed %q, want nothing", s)
			}
			select {
			case m := <-got:
				if string(m.Payload) != "online" || m.QoS != 1 {
					t.Errorf("published message %+v", m)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the published message did not arrive")
			}
			rm := decodeJSON(t, "get-retained-message", must(t, "get-retained-message", "--topic", "cli/status"))
			if rm["topic"] != "cli/status" || rm["payload"] != "b25saW5l" || rm["qos"] != float64(1) {
				t.Errorf("get-retained-message = %v", rm)
			}
			list := decodeJSON(t, "list-retained-messages", must(t, "list-retained-messages"))
			var topics []string
			items, _ := list["retainedTopics"].([]any)
			for _, it := range items {
				topics = append(topics, jsonString(it.(map[string]any)["topic"]))
			}
			if d := cmp.Diff([]string{"cli/status"}, topics); d != "" {
				t.Errorf("list-retained-messages topics (-want +got):\n%s", d)
			}
		}},
		{"wrong-secret", func(t *testing.T) {
			c := newAWSCLI(t, h, "not-the-secret")
			r := runEnv(t, c.env, c.path, "iot-data", "get-thing-shadow", "--thing-name", thing, out, "--endpoint-url", c.endpoint)
			if r.code != 254 || !strings.Contains(r.stderr, "(InvalidSignatureException)") {
				t.Errorf("wrong secret: %s, want InvalidSignatureException", r)
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			t.Fatalf("step %s failed; later steps depend on it", s.name)
		}
	}
}

// boto3DataResult is what hub_boto3_iotdata.py prints.
type boto3DataResult map[string]json.RawMessage

// TestHubBoto3IoTData drives the data plane with boto3's iot-data client
// (hub_boto3_iotdata.py): the shadow operations, list, publish, retained
// messages, and botocore's ResourceNotFoundException for a missing shadow.
func TestHubBoto3IoTData(t *testing.T) {
	python := needBoto3(t)
	h := hubtest.Start(t, hubtest.Options{})
	const thing = "boto3-data-thing"
	mqtt := shadowMessages(t, h, thing)
	env := append(awsEnv(t, h, h.Creds.SecretAccessKey), "THINGCORE_API_URL="+apiURL(t, h), "THINGCORE_CA="+h.Endpoints.RootCA)
	r := runEnv(t, env, python, "hub_boto3_iotdata.py", thing)
	if r.code != 0 {
		t.Fatalf("hub_boto3_iotdata.py: %s", r)
	}
	var out boto3DataResult
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("hub_boto3_iotdata.py output %q: %v", r.stdout, err)
	}
	obj := func(t *testing.T, key string) map[string]any {
		t.Helper()
		raw, ok := out[key]
		if !ok {
			t.Fatalf("output lacks %q: %s", key, r.stdout)
		}
		return decodeJSON(t, key, string(raw))
	}
	got := waitShadowMessages(t, mqtt, "update/accepted", "update/delta")
	if !strings.Contains(got["update/delta"], `"state":{"temp":20}`) {
		t.Errorf("update/delta over MQTT = %s", got["update/delta"])
	}
	for _, tc := range []struct {
		name  string
		check func(t *testing.T, v map[string]any)
	}{
		{"update_thing_shadow", func(t *testing.T, v map[string]any) {
			if v["version"] != float64(1) {
				t.Errorf("= %v", v)
			}
		}},
		{"get_thing_shadow", func(t *testing.T, v map[string]any) {
			st, _ := v["state"].(map[string]any)
			if d := cmp.Diff(map[string]any{"temp": float64(20)}, st["delta"]); d != "" {
				t.Errorf("state.delta (-want +got):\n%s", d)
			}
		}},
		{"list_named_shadows_for_thing", func(t *testing.T, v map[string]any) {
			if d := cmp.Diff([]any{"config"}, v["results"]); d != "" {
				t.Errorf("results (-want +got):\n%s", d)
			}
		}},
		{"delete_thing_shadow", func(t *testing.T, v map[string]any) {
			if v["version"] != float64(1) {
				t.Errorf("= %v", v)
			}
		}},
		{"get_retained_message", func(t *testing.T, v map[string]any) {
			if v["topic"] != "boto3/status" || v["payload"] != "up" || v["qos"] != float64(0) {
				t.Errorf("= %v", v)
			}
		}},
		{"list_retained_messages", func(t *testing.T, v map[string]any) {
			items, _ := v["retainedTopics"].([]any)
			if len(items) != 1 || jsonString(items[0].(map[string]any)["topic"]) != "boto3/status" {
				t.Errorf("= %v", v)
			}
		}},
		{"get_missing_shadow", func(t *testing.T, v map[string]any) {
			want := map[string]any{"code": "ResourceNotFoundException", "status": float64(404), "operation": "GetThingShadow",
				"message": "No shadow exists with name: '" + thing + "-missing'"}
			if d := cmp.Diff(want, v); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, obj(t, tc.name)) })
	}
}
