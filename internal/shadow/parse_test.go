package shadow

import (
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
