package shadow

import (
	"encoding/json"
	"reflect"
	"testing"
)

// decodeMap decodes a JSON object with json.Number numbers.
func decodeMap(t *testing.T, s string) map[string]any {
	t.Helper()
	if s == "" {
		return nil
	}
	u, e := ParseUpdate([]byte(`{"state":{"desired":`+s+`}}`), Limits{})
	if e != nil {
		t.Fatalf("decode %s: %v", s, e)
	}
	return u.desired.value
}

func TestDelta(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		desired, reported string
		want              string // "" means nil (in sync)
	}{
		{"no data", `{}`, `{}`, ""},
		{"desired only", `{"a":1,"b":{"c":3},"d":{}}`, ``, `{"a":1,"b":{"c":3},"d":{}}`},
		{"reported only keys ignored", `{"a":1}`, `{"a":1,"z":2}`, ""},
		{"scalar differs", `{"a":1,"b":"x"}`, `{"a":2,"b":"x"}`, `{"a":1}`},
		{"type differs", `{"a":"1"}`, `{"a":1}`, `{"a":"1"}`},
		{"one equals one point zero", `{"a":1.0,"b":1e2}`, `{"a":1,"b":100}`, ""},
		{"big numbers differ", `{"a":12345678901234567890123}`, `{"a":12345678901234567890124}`, `{"a":12345678901234567890123}`},
		{"nested path kept", `{"a":{"b":{"c":"d2"}}}`, `{"a":{"b":{"c":"d","e":"f"}}}`, `{"a":{"b":{"c":"d2"}}}`},
		{"nested only differing leaves", `{"a":{"b1":{"c":"d"},"b2":"sth"}}`, `{"a":{"b1":{"c":"d"}}}`, `{"a":{"b2":"sth"}}`},
		{"empty desired object vs non-empty reported", `{"e":{}}`, `{"e":{"f":1}}`, ""},
		{"empty desired object vs scalar", `{"e":{}}`, `{"e":1}`, `{"e":{}}`},
		{"empty objects equal", `{"e":{}}`, `{"e":{}}`, ""},
		{"array remove element", `{"l":[1,2]}`, `{"l":[1,2,3]}`, `{"l":[1,2]}`},
		{"array reorder", `{"l":[1,2]}`, `{"l":[2,1]}`, `{"l":[1,2]}`},
		{"append to nested list", `{"l":[[1],[2,3]]}`, `{"l":[[1],[2]]}`, `{"l":[[1],[2,3]]}`},
		{"arrays equal", `{"l":[{"a":[true,"x"]}]}`, `{"l":[{"a":[true,"x"]}]}`, ""},
		{"object vs array", `{"a":{"x":1}}`, `{"a":[1]}`, `{"a":{"x":1}}`},
		{"bool differs", `{"a":true}`, `{"a":false}`, `{"a":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var d Document
			body := `{"state":{"desired":` + tt.desired
			if tt.reported != "" {
				body += `,"reported":` + tt.reported
			}
			_, _, delta := mustApply(t, &d, body+`}}`, t0)
			got := d.Delta()
			if tt.want == "" {
				if got != nil || delta != nil {
					t.Errorf("Delta(%s, %s) = %v (message %s), want none", tt.desired, tt.reported, got, delta)
				}
				return
			}
			if want := decodeMap(t, tt.want); !reflect.DeepEqual(got, want) {
				t.Errorf("Delta(%s, %s) = %s, want %s", tt.desired, tt.reported, appendValue(nil, got), tt.want)
			}
			var msg struct{ State json.RawMessage }
			if err := json.Unmarshal(delta, &msg); err != nil || string(msg.State) != string(appendValue(nil, got)) {
				t.Errorf("update/delta state = %s, want %s", msg.State, appendValue(nil, got))
			}
		})
	}
}

func TestDeltaIsACopy(t *testing.T) {
	t.Parallel()
	var d Document
	mustApply(t, &d, `{"state":{"desired":{"a":{"b":1}}}}`, t0)
	d.Delta()["a"].(map[string]any)["b"] = "changed"
	if got := string(appendValue(nil, d.desired)); got != `{"a":{"b":1}}` {
		t.Errorf("desired after mutating Delta() = %s, want unchanged", got)
	}
}
