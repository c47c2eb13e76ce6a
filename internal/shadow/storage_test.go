package shadow

import (
	"bytes"
	"testing"
	"time"
)

func TestMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		steps []string // update bodies applied in order, one second apart
		del   bool     // delete afterwards
	}{
		{"zero", nil, false},
		{"both sections", []string{`{"state":{"desired":{"a":[1,{"x":1.50}],"b":{"c":{}}},"reported":{"timestamp":{"timestamp":1}}}}`}, false},
		{"successive timestamps", []string{`{"state":{"reported":{"a":1,"b":2}}}`, `{"state":{"reported":{"b":3}}}`}, false},
		{"emptied", []string{`{"state":{"desired":{"a":1}}}`, `{"state":null}`}, false},
		{"deleted keeps version", []string{`{"state":{"desired":{"a":1}}}`, `{"state":{"desired":{"a":2}}}`}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var d Document
			for i, b := range tt.steps {
				mustApply(t, &d, b, t0.Add(time.Duration(i)*time.Second))
			}
			if tt.del {
				d.Delete("", t0)
			}
			data := d.Marshal()
			got, err := Unmarshal(data)
			if err != nil {
				t.Fatalf("Unmarshal(%s) error: %v", data, err)
			}
			if again := got.Marshal(); !bytes.Equal(again, data) {
				t.Errorf("Marshal(Unmarshal(%s)) = %s", data, again)
			}
			if got.Exists() != d.Exists() || got.Version() != d.Version() || !got.DeletedAt().Equal(d.DeletedAt()) {
				t.Errorf("Unmarshal(%s) exists=%v version=%d deletedAt=%v, want %v %d %v", data,
					got.Exists(), got.Version(), got.DeletedAt(), d.Exists(), d.Version(), d.DeletedAt())
			}
			if tt.del && !d.DeletedAt().Equal(t0) {
				t.Errorf("DeletedAt after Delete = %v, want %v", d.DeletedAt(), t0)
			}
			if g, w := got.Get("", t0), d.Get("", t0); !bytes.Equal(g, w) {
				t.Errorf("Get after round trip = %s, want %s", g, w)
			}
		})
	}
}

func TestUnmarshalErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, data string }{
		{"not json", `{`},
		{"no version", `{"state":{},"metadata":{}}`},
		{"negative version", `{"state":{},"metadata":{},"version":-1}`},
		{"metadata missing key", `{"state":{"desired":{"a":1}},"metadata":{"desired":{}},"version":1}`},
		{"metadata without state", `{"state":{},"metadata":{"desired":{"a":{"timestamp":1}}},"version":1}`},
		{"bad leaf", `{"state":{"desired":{"a":1}},"metadata":{"desired":{"a":5}},"version":1}`},
		{"array length", `{"state":{"desired":{"a":[1,2]}},"metadata":{"desired":{"a":[{"timestamp":1}]}},"version":1}`},
		{"deleted with state", `{"state":{"desired":{"a":1}},"metadata":{"desired":{"a":{"timestamp":1}}},"version":1,"deleted":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := Unmarshal([]byte(tt.data)); err == nil {
				t.Errorf("Unmarshal(%s) = nil error, want error", tt.data)
			}
		})
	}
}
