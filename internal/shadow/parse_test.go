package shadow

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseUpdateErrors(t *testing.T) {
	t.Parallel()
	deep := `{"state":{"desired":` + strings.Repeat(`{"a":`, 9) + `1` + strings.Repeat(`}`, 9) + `}}`
	// The desired object itself is level 1, so 8 objects is the default limit.
	deepOK := `{"state":{"desired":` + strings.Repeat(`{"a":`, 8) + `1` + strings.Repeat(`}`, 8) + `}}`
	big := `{"state":{"reported":{"k":"` + strings.Repeat("x", 8200) + `"}}}`
	tests := []struct {
		name     string
		body     string
		lim      Limits
		wantCode int    // 0: accepted
		wantMsg  string // exact AWS text
		wantTok  string // clientToken echoed on the error
	}{
		{name: "empty body", body: "", wantCode: 400, wantMsg: "Missing update payload"},
		{name: "whitespace body", body: " \n", wantCode: 400, wantMsg: "Missing update payload"},
		{name: "not json", body: "{state", wantCode: 400, wantMsg: "Invalid JSON"},
		{name: "trailing garbage", body: `{"state":{}} x`, wantCode: 400, wantMsg: "Invalid JSON"},
		{name: "top level array", body: `[1]`, wantCode: 400, wantMsg: "Invalid JSON"},
		{name: "top level null", body: `null`, wantCode: 400, wantMsg: "Invalid JSON"},
		{name: "invalid utf8", body: "{\"state\":{\"desired\":{\"a\":\"\xff\"}}}", wantCode: 415,
			wantMsg: "Unsupported documented encoding; supported encoding is UTF-8"},
		{name: "missing state", body: `{"clientToken":"t1"}`, wantCode: 400, wantMsg: "Missing required node: state", wantTok: "t1"},
		{name: "state string", body: `{"state":"on"}`, wantCode: 400, wantMsg: "State node must be an object"},
		{name: "state array", body: `{"state":[]}`, wantCode: 400, wantMsg: "State node must be an object"},
		{name: "desired scalar", body: `{"state":{"desired":1}}`, wantCode: 400, wantMsg: "Desired node must be an object"},
		{name: "desired array", body: `{"state":{"desired":[1]}}`, wantCode: 400, wantMsg: "Desired node must be an object"},
		{name: "reported string", body: `{"state":{"reported":"x"},"clientToken":"t2"}`, wantCode: 400,
			wantMsg: "Reported node must be an object", wantTok: "t2"},
		{name: "delta node", body: `{"state":{"desired":{},"delta":{"a":1}}}`, wantCode: 400,
			wantMsg: "State contains an invalid node: 'delta'"},
		{name: "first invalid node in document order", body: `{"state":{"zz":1,"aa":2}}`, wantCode: 400,
			wantMsg: "State contains an invalid node: 'zz'"},
		{name: "version string", body: `{"state":{},"version":"1"}`, wantCode: 400, wantMsg: "Invalid version"},
		{name: "version negative", body: `{"state":{},"version":-1}`, wantCode: 400, wantMsg: "Invalid version"},
		{name: "version fraction", body: `{"state":{},"version":1.5}`, wantCode: 400, wantMsg: "Invalid version"},
		{name: "version null", body: `{"state":{},"version":null}`, wantCode: 400, wantMsg: "Invalid version"},
		{name: "version huge", body: `{"state":{},"version":1e30}`, wantCode: 400, wantMsg: "Invalid version"},
		{name: "client token 65 bytes", body: `{"state":{},"clientToken":"` + strings.Repeat("a", 65) + `"}`,
			wantCode: 400, wantMsg: "Invalid clientToken"},
		{name: "client token number", body: `{"state":{},"clientToken":5}`, wantCode: 400, wantMsg: "Invalid clientToken"},
		{name: "client token 64 bytes", body: `{"state":{},"clientToken":"` + strings.Repeat("a", 64) + `"}`},
		{name: "too deep", body: deep, wantCode: 400, wantMsg: "JSON contains too many levels of nesting; maximum is 6"},
		{name: "depth at limit", body: deepOK},
		{name: "depth 6 configured", body: deepOK, lim: Limits{MaxDepth: 6}, wantCode: 400,
			wantMsg: "JSON contains too many levels of nesting; maximum is 6"},
		{name: "empty containers do not count", body: `{"state":{"desired":` + strings.Repeat(`{"a":`, 8) + `{}` + strings.Repeat(`}`, 8) + `}}`},
		{name: "null in array", body: `{"state":{"desired":{"a":[1,null]}}}`, wantCode: 400, wantMsg: "Invalid JSON"},
		{name: "null in nested array", body: `{"state":{"reported":{"a":{"b":[[null]]}}}}`, wantCode: 400, wantMsg: "Invalid JSON"},
		{name: "request over size", body: big, wantCode: 413, wantMsg: "The payload exceeds the maximum size allowed"},
		{name: "request within raised size", body: big, lim: Limits{MaxBytes: 9000}},
		{name: "state null", body: `{"state":null}`},
		{name: "state empty", body: `{"state":{}}`},
		{name: "sections null", body: `{"state":{"desired":null,"reported":null}}`},
		{name: "both sections", body: `{"state":{"desired":{"a":1},"reported":{}},"clientToken":"x","version":0}`},
		{name: "whitespace around values", body: " { \"state\" :\n { \"desired\" : {\"a\": [ 1 ] } } , \"version\" : 3 , \"clientToken\" : \"w\" } "},
		{name: "whitespace before bad version", body: `{"state":{}, "version":  "1"}`, wantCode: 400, wantMsg: "Invalid version"},
		{name: "whitespace before bad desired", body: `{"state": { "desired":  5}}`, wantCode: 400, wantMsg: "Desired node must be an object"},
		{name: "other top level keys ignored", body: `{"state":{},"metadata":{"x":1},"timestamp":5}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, e := ParseUpdate([]byte(tt.body), tt.lim)
			if tt.wantCode == 0 {
				if e != nil || u == nil {
					t.Fatalf("ParseUpdate(%s) = %v, want accepted", tt.body, e)
				}
				return
			}
			if e == nil {
				t.Fatalf("ParseUpdate(%s) accepted, want %d %q", tt.body, tt.wantCode, tt.wantMsg)
			}
			if e.Code != tt.wantCode || e.Message != tt.wantMsg || e.ClientToken != tt.wantTok {
				t.Errorf("ParseUpdate(%s) = %d %q token %q, want %d %q token %q",
					tt.body, e.Code, e.Message, e.ClientToken, tt.wantCode, tt.wantMsg, tt.wantTok)
			}
		})
	}
}

func TestParseUpdateFields(t *testing.T) {
	t.Parallel()
	u, e := ParseUpdate([]byte(`{"state":{"desired":{"a":1}},"clientToken":"tok","version":10}`), Limits{})
	if e != nil {
		t.Fatal(e)
	}
	if u.ClientToken != "tok" || !u.HasVersion || u.Version != 10 {
		t.Errorf("ParseUpdate = token %q version %d/%v, want tok 10/true", u.ClientToken, u.Version, u.HasVersion)
	}
}

func TestErrorJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"version conflict with token", &Error{Code: 409, Message: MsgVersionConflict, ClientToken: "426bfd96-e720-46d3-95cd-014e3ef12bb6"},
			`{"code":409,"message":"Version conflict","clientToken":"426bfd96-e720-46d3-95cd-014e3ef12bb6"}`},
		{"not found classic", NotFound("HelloWorld"), `{"code":404,"message":"No shadow exists with name: 'HelloWorld'"}`},
		{"not found named", NotFound("thing~shadow"), `{"code":404,"message":"No shadow exists with name: 'thing~shadow'"}`},
		{"invalid node", badRequest("State contains an invalid node: 'delta'"), `{"code":400,"message":"State contains an invalid node: 'delta'"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(tt.err.JSON()); got != tt.want {
				t.Errorf("JSON() = %s, want %s", got, tt.want)
			}
		})
	}
}

// readUpdateBody reads in one pass what parseValue's map holds: the same
// members with the same values (last duplicate wins), and the first invalid
// state member in document order.
func FuzzReadUpdateBody(f *testing.F) {
	for _, s := range []string{
		`{"state":{"reported":{"t":21.5}},"clientToken":"abc","version":3}`,
		`{"state":{"desired":null,"reported":{"a":[1,2]}}}`,
		`{"state":{"foo":1,"desired":{},"bar":2}}`,
		`{"state":{"desired":{}},"state":null}`,
		`{"state":null,"state":{"reported":{"x":1},"reported":{"y":2}}}`,
		`{"state":5}`, `{"state":"x","clientToken":1}`, `[1]`, `null`, `{"a":`, `{} {}`,
		`{"state":{"desired":{"a":1}}, "clientToken":"t", "clientToken":"u"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := readUpdateBody(b)
		v, verr := parseValue(b)
		top, isObject := v.(map[string]any)
		if verr != nil || !isObject {
			if err == nil {
				t.Fatalf("readUpdateBody(%q) = nil error; parseValue: %v, object %v", b, verr, isObject)
			}
			return
		}
		if err != nil {
			t.Fatalf("readUpdateBody(%q) = %v; parseValue read an object", b, err)
		}
		member := func(m map[string]any, key string, has bool, val any) {
			t.Helper()
			want, ok := m[key]
			if has != ok || !reflect.DeepEqual(val, want) {
				t.Fatalf("%q: member %s = %v %#v, want %v %#v", b, key, has, val, ok, want)
			}
		}
		member(top, "clientToken", got.hasToken, got.token)
		member(top, "version", got.hasVersion, got.version)
		state, stateObject := top["state"].(map[string]any)
		if _, ok := top["state"]; ok != got.hasState || stateObject != got.stateObject {
			t.Fatalf("%q: state %v object %v, want %v %v", b, got.hasState, got.stateObject, ok, stateObject)
		}
		if !stateObject {
			member(top, "state", got.hasState, got.state)
			return
		}
		member(state, "desired", got.hasDesired, got.desired)
		member(state, "reported", got.hasReported, got.reported)
		var invalid []string
		for k := range state {
			if k != "desired" && k != "reported" {
				invalid = append(invalid, k)
			}
		}
		if got.hasInvalidNode != (len(invalid) > 0) || got.hasInvalidNode && !slices.Contains(invalid, got.invalidNode) {
			t.Fatalf("%q: invalid node %v %q, want one of %q", b, got.hasInvalidNode, got.invalidNode, invalid)
		}
	})
}

func TestInvalidNodeIsFirstInDocumentOrder(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`{"state":{"desired":{},"zeta":1,"alpha":2}}`, `{"state":{"zeta":1,"desired":{},"alpha":2,"zeta":3}}`} {
		_, e := ParseUpdate([]byte(body), Limits{})
		if e == nil || e.Message != "State contains an invalid node: 'zeta'" {
			t.Errorf("ParseUpdate(%s) = %v, want the invalid node 'zeta'", body, e)
		}
	}
}
