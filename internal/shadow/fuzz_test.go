package shadow

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// fuzzSeeds are the checked-in seed corpus of FuzzApply: pairs of update
// bodies applied one after the other to a new shadow.
var fuzzSeeds = map[string][2]string{
	"tutorial": {`{"state":{"reported":{"ID":"SmartLamp21","ColorRGB":[128,128,128]}}}`,
		`{"state":{"desired":{"ColorRGB":[255,255,0]}},"clientToken":"21b21b21"}`},
	"nested_null":   {`{"state":{"desired":{"a":1,"b":{"c":2,"d":3}}}}`, `{"state":{"desired":{"b":{"c":null,"d":null}}}}`},
	"state_null":    {`{"state":{"desired":{"a":1},"reported":{"b":2}}}`, `{"state":null}`},
	"section_null":  {`{"state":{"desired":{"a":1},"reported":{"a":2}}}`, `{"state":{"reported":null},"version":1}`},
	"type_change":   {`{"state":{"desired":{"b":{"c":3}}}}`, `{"state":{"desired":{"b":[{"x":1},[2]]}}}`},
	"empty_objects": {`{"state":{"desired":{"a":1,"b":{"c":3},"d":{}},"reported":{}}}`, `{"state":{"reported":{"d":{"e":{}},"online":null}}}`},
	"numbers":       {`{"state":{"desired":{"a":1.0,"b":1e2,"c":-0}}}`, `{"state":{"reported":{"a":1,"b":100.00}}}`},
	"conflict":      {`{"state":{"desired":{"a":1}}}`, `{"state":{"desired":{"a":2}},"version":7,"clientToken":"t"}`},
	"invalid_node":  {`{"state":{"desired":{"a":1},"delta":{}}}`, `{"state":{"desired":{"a":[1,null]}}}`},
	"strings":       {`{"state":{"desired":{"s":"<a&b>\u2028\"\\\n"}}}`, `{"state":{"reported":{"s":"\u0000"}}}`},
}

// TestFuzzSeedCorpus keeps testdata/fuzz/FuzzApply in step with fuzzSeeds
// (rewritten with -update).
func TestFuzzSeedCorpus(t *testing.T) {
	t.Parallel()
	for name, seed := range fuzzSeeds {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			checkGolden(t, filepath.Join("fuzz", "FuzzApply", name), []byte("go test fuzz v1\n[]byte("+
				strconv.Quote(seed[0])+")\n[]byte("+strconv.Quote(seed[1])+")\n"))
		})
	}
}

// FuzzApply applies two update requests to a new shadow and checks the
// invariants of the document core.
func FuzzApply(f *testing.F) {
	for _, seed := range fuzzSeeds {
		f.Add([]byte(seed[0]), []byte(seed[1]))
	}
	f.Fuzz(func(t *testing.T, first, second []byte) {
		var d Document
		for i, body := range [][]byte{first, second} {
			now := t0.Add(time.Duration(i) * time.Second)
			u, e := ParseUpdate(body, Limits{})
			if e != nil {
				if e.Code < 400 || e.Message == "" || !json.Valid(e.JSON()) {
					t.Fatalf("ParseUpdate(%q) = bad error %+v", body, e)
				}
				continue
			}
			before := d.Marshal()
			version := d.Version()
			accepted, documents, delta, e := d.Apply(u, now, Limits{})
			if e != nil {
				if after := d.Marshal(); !bytes.Equal(before, after) {
					t.Fatalf("Apply(%q) = %v but changed the document %s -> %s", body, e, before, after)
				}
				continue
			}
			checkApplied(t, &d, body, version, accepted, documents, delta, now)
		}
	})
}

func checkApplied(t *testing.T, d *Document, body []byte, version int64, accepted, documents, delta []byte, now time.Time) {
	t.Helper()
	if d.Version() != version+1 || !d.Exists() {
		t.Fatalf("Apply(%q): version %d exists %v, want %d true", body, d.Version(), d.Exists(), version+1)
	}
	for name, out := range map[string][]byte{"accepted": accepted, "documents": documents, "get": d.Get("t", now)} {
		if !json.Valid(out) {
			t.Fatalf("Apply(%q): %s is not JSON: %s", body, name, out)
		}
	}
	got := d.Delta()
	if (delta == nil) != (got == nil) || (delta != nil && !json.Valid(delta)) {
		t.Fatalf("Apply(%q): delta message %s but Delta() = %v", body, delta, got)
	}
	if !within(got, d.desired) {
		t.Fatalf("Apply(%q): Delta() %s has keys not in desired %s", body, appendValue(nil, got), appendValue(nil, d.desired))
	}

	// Storage round trip; Unmarshal also checks metadata mirrors state.
	stored := d.Marshal()
	back, err := Unmarshal(stored)
	if err != nil {
		t.Fatalf("Unmarshal(Marshal()) after %q: %v\n%s", body, err, stored)
	}
	if again := back.Marshal(); !bytes.Equal(again, stored) {
		t.Fatalf("Marshal round trip: %s != %s", again, stored)
	}

	// Applying the document's own state again changes only the version
	// (and the timestamps of the rewritten leaves).
	self := []byte(`{"state":`)
	self = appendSections(self, false, section{"desired", opt(d.desired)}, section{"reported", opt(d.reported)})
	self = append(self, '}')
	u, e := ParseUpdate(self, Limits{})
	if e != nil {
		t.Fatalf("ParseUpdate(own state %s) = %v", self, e)
	}
	wantDesired, wantReported := cloneMap(d.desired), cloneMap(d.reported)
	if _, _, _, e := back.Apply(u, now, Limits{}); e != nil {
		t.Fatalf("Apply(own state %s) = %v", self, e)
	}
	if back.Version() != d.Version()+1 || !reflect.DeepEqual(back.desired, wantDesired) ||
		!reflect.DeepEqual(back.reported, wantReported) || !reflect.DeepEqual(back.Delta(), got) {
		t.Fatalf("Apply(own state %s) changed the state:\n%s", self, back.Marshal())
	}
}

// within reports whether every key path of delta exists in desired.
func within(delta, desired map[string]any) bool {
	for k, v := range delta {
		dv, ok := desired[k]
		if !ok {
			return false
		}
		if sub, isMap := v.(map[string]any); isMap {
			dsub, ok := dv.(map[string]any)
			if !ok || !within(sub, dsub) {
				return false
			}
		}
	}
	return true
}
