package shadow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// decodeStd is the reference parseValue must match: json.Valid for the
// whole input (as json.Unmarshal checks it), then a Decoder with UseNumber.
func decodeStd(b []byte) (any, error) {
	if !json.Valid(b) {
		return nil, fmt.Errorf("json.Valid(%.40q) = false", b)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// nested returns depth opening brackets around inner, then their closers.
func nested(open, inner, closer string, depth int) string {
	return strings.Repeat(open, depth) + inner + strings.Repeat(closer, depth)
}

// bigDocument is a ~1 MB document of mixed values.
var bigDocument = func() string {
	items := make([]any, 0, 5000)
	for i := range 5000 {
		items = append(items, map[string]any{
			"id":    i,
			"name":  fmt.Sprintf("sensor-%d \"é\"\n", i),
			"on":    i%2 == 0,
			"none":  nil,
			"temps": []any{21.5, -3e-7, i},
			"tags":  map[string]any{"room": "kitchen", "floor": i % 7},
		})
	}
	b, err := json.Marshal(map[string]any{"items": items})
	if err != nil {
		panic(err)
	}
	return string(b)
}()

// jsonValueCases are parseValue's table and the seeds of its fuzz target.
// want is checked when non-nil and the case is valid; every case is also
// checked against decodeStd.
var jsonValueCases = []struct {
	name    string
	in      string
	want    any
	wantErr bool
}{
	// literals and whitespace
	{name: "true", in: "true", want: true},
	{name: "false", in: "false", want: false},
	{name: "null", in: "null"},
	{name: "truncated_true", in: "tru", wantErr: true},
	{name: "capital_true", in: "True", wantErr: true},
	{name: "truex", in: "truex", wantErr: true},
	{name: "nul", in: "nul", wantErr: true},
	{name: "whitespace_around", in: " \t\r\n{} \t\r\n", want: map[string]any{}},
	{name: "whitespace_inside", in: "{ \"a\" : [ 1 , 2 ] }", want: map[string]any{"a": []any{json.Number("1"), json.Number("2")}}},
	{name: "vertical_tab", in: "\v1", wantErr: true},
	{name: "form_feed", in: "1\f", wantErr: true},
	{name: "nbsp", in: "\u00a01", wantErr: true},
	{name: "bom", in: "\ufeff{}", wantErr: true},
	{name: "empty", in: "", wantErr: true},
	{name: "only_space", in: "  \n", wantErr: true},
	{name: "nul_byte", in: "\x00", wantErr: true},

	// trailing garbage
	{name: "two_values", in: "1 2", wantErr: true},
	{name: "trailing_brace", in: "{}}", wantErr: true},
	{name: "trailing_comma_top", in: "[],", wantErr: true},
	{name: "trailing_nul", in: "{}\x00", wantErr: true},
	{name: "trailing_garbage", in: `{"a":1}x`, wantErr: true},

	// numbers
	{name: "zero", in: "0", want: json.Number("0")},
	{name: "neg_zero", in: "-0", want: json.Number("-0")},
	{name: "int", in: "12345", want: json.Number("12345")},
	{name: "neg_int", in: "-12", want: json.Number("-12")},
	{name: "fraction", in: "21.50", want: json.Number("21.50")},
	{name: "exponent", in: "1e2", want: json.Number("1e2")},
	{name: "exponent_upper_signs", in: "[1E+2,1e-2,0.5E-0]", want: []any{json.Number("1E+2"), json.Number("1e-2"), json.Number("0.5E-0")}},
	{name: "huge", in: "123456789012345678901234567890e999999", want: json.Number("123456789012345678901234567890e999999")},
	{name: "leading_zero", in: "01", wantErr: true},
	{name: "neg_leading_zero", in: "-01", wantErr: true},
	{name: "zero_zero", in: "00", wantErr: true},
	{name: "plus", in: "+1", wantErr: true},
	{name: "leading_dot", in: ".5", wantErr: true},
	{name: "trailing_dot", in: "1.", wantErr: true},
	{name: "dot_exponent", in: "1.e5", wantErr: true},
	{name: "bare_exponent", in: "1e", wantErr: true},
	{name: "exponent_sign_only", in: "1e+", wantErr: true},
	{name: "minus_only", in: "-", wantErr: true},
	{name: "minus_space", in: "- 1", wantErr: true},
	{name: "hex", in: "0x10", wantErr: true},
	{name: "infinity", in: "Infinity", wantErr: true},
	{name: "nan", in: "NaN", wantErr: true},
	{name: "number_in_array_leading_zero", in: "[0,01]", wantErr: true},

	// strings
	{name: "string", in: `"hello"`, want: "hello"},
	{name: "empty_string", in: `""`, want: ""},
	{name: "escapes", in: `"\"\\\/\b\f\n\r\t"`, want: "\"\\/\b\f\n\r\t"},
	{name: "escape_mid", in: `"ab\ncd"`, want: "ab\ncd"},
	{name: "unicode_escape", in: `"\u00e9\u2028\u0000"`, want: "é\u2028\x00"},
	{name: "unicode_escape_upper", in: `"\u00E9\uABCD"`, want: "é\uabcd"},
	{name: "surrogate_pair", in: `"\ud83d\ude00"`, want: "😀"},
	{name: "max_surrogate_pair", in: `"\uDBFF\uDFFF"`, want: "\U0010FFFF"},
	{name: "lone_high", in: `"\ud83d"`, want: "\uFFFD"},
	{name: "lone_high_then_text", in: `"\ud83dx"`, want: "\uFFFDx"},
	{name: "lone_low", in: `"\ude00"`, want: "\uFFFD"},
	{name: "low_then_high", in: `"\ude00\ud83d"`, want: "\uFFFD\uFFFD"},
	{name: "high_high_low", in: `"\ud83d\ud83d\ude00"`, want: "\uFFFD😀"},
	{name: "high_then_bmp_escape", in: `"\ud83d\u0041"`, want: "\uFFFDA"},
	{name: "high_then_other_escape", in: `"\ud83d\n"`, want: "\uFFFD\n"},
	{name: "high_then_bad_hex", in: `"\ud83d\u00zz"`, wantErr: true},
	{name: "raw_utf8", in: `"héllo 😀"`, want: "héllo 😀"},
	{name: "raw_replacement_char", in: "\"\uFFFD\"", want: "\uFFFD"},
	{name: "invalid_utf8_byte", in: "\"a\xffb\"", want: "a\uFFFDb"},
	{name: "invalid_utf8_after_escape", in: "\"\\n\xff\"", want: "\n\uFFFD"},
	{name: "truncated_utf8", in: "\"\xe2\x82\"", want: "\uFFFD\uFFFD"},
	{name: "utf8_surrogate", in: "\"\xed\xa0\x80\"", want: "\uFFFD\uFFFD\uFFFD"},
	{name: "overlong_utf8", in: "\"\xc0\xaf\"", want: "\uFFFD\uFFFD"},
	{name: "many_invalid_bytes", in: "\"" + strings.Repeat("\x80", 100) + "\"", want: strings.Repeat("\uFFFD", 100)},
	{name: "del_allowed", in: "\"\x7f\"", want: "\x7f"},
	{name: "control_char", in: "\"a\x01\"", wantErr: true},
	{name: "raw_newline", in: "\"a\nb\"", wantErr: true},
	{name: "raw_tab", in: "\"\t\"", wantErr: true},
	{name: "control_after_escape", in: "\"\\n\x1f\"", wantErr: true},
	{name: "single_quote_escape", in: `"\'"`, wantErr: true},
	{name: "unknown_escape", in: `"\a"`, wantErr: true},
	{name: "short_unicode_escape", in: `"\u12"`, wantErr: true},
	{name: "bad_hex", in: `"\u12g4"`, wantErr: true},
	{name: "unterminated", in: `"abc`, wantErr: true},
	{name: "unterminated_escape", in: `"abc\`, wantErr: true},
	{name: "unterminated_after_escape", in: `"\n`, wantErr: true},
	{name: "single_quotes", in: `'a'`, wantErr: true},

	// objects and arrays
	{name: "empty_object", in: "{}", want: map[string]any{}},
	{name: "empty_array", in: "[]", want: []any{}},
	{name: "empty_containers_nested", in: `{"a":{},"b":[],"c":[{}, []]}`, want: map[string]any{"a": map[string]any{}, "b": []any{}, "c": []any{map[string]any{}, []any{}}}},
	{name: "mixed_array", in: `[1,"a",true,false,null,{"k":[]}]`, want: []any{json.Number("1"), "a", true, false, nil, map[string]any{"k": []any{}}}},
	{name: "duplicate_keys", in: `{"a":1,"b":2,"a":{"x":3}}`, want: map[string]any{"a": map[string]any{"x": json.Number("3")}, "b": json.Number("2")}},
	{name: "duplicate_keys_escaped", in: `{"a":1,"\u0061":2}`, want: map[string]any{"a": json.Number("2")}},
	{name: "escaped_key", in: `{"\ud83d\ude00\n":null}`, want: map[string]any{"😀\n": nil}},
	{name: "invalid_utf8_key", in: "{\"\xff\":1}", want: map[string]any{"\uFFFD": json.Number("1")}},
	{name: "empty_key", in: `{"":""}`, want: map[string]any{"": ""}},
	{name: "shadow_update", in: `{"state":{"reported":{"temperature":21.5,"humidity":40,"counter":12345}},"clientToken":"1234567890123"}`,
		want: map[string]any{"state": map[string]any{"reported": map[string]any{"temperature": json.Number("21.5"), "humidity": json.Number("40"), "counter": json.Number("12345")}}, "clientToken": "1234567890123"}},
	{name: "trailing_comma_object", in: `{"a":1,}`, wantErr: true},
	{name: "trailing_comma_array", in: `[1,]`, wantErr: true},
	{name: "leading_comma_array", in: `[,1]`, wantErr: true},
	{name: "double_comma", in: `[1,,2]`, wantErr: true},
	{name: "missing_comma", in: `[1 2]`, wantErr: true},
	{name: "missing_colon", in: `{"a" 1}`, wantErr: true},
	{name: "missing_value", in: `{"a":}`, wantErr: true},
	{name: "unquoted_key", in: `{a:1}`, wantErr: true},
	{name: "number_key", in: `{1:1}`, wantErr: true},
	{name: "unclosed_object", in: `{"a":1`, wantErr: true},
	{name: "unclosed_array", in: `[1`, wantErr: true},
	{name: "unclosed_key", in: `{"a`, wantErr: true},
	{name: "mismatched", in: `[}`, wantErr: true},
	{name: "close_only", in: `]`, wantErr: true},

	// nesting: encoding/json allows 10000 levels
	{name: "depth_10000_arrays", in: nested("[", "", "]", 10000)},
	{name: "depth_10000_objects", in: nested(`{"a":`, "{}", "}", 9999)},
	{name: "depth_10000_mixed", in: nested(`[{"a":`, "1", "}]", 5000)},
	{name: "depth_10001_arrays", in: nested("[", "", "]", 10001), wantErr: true},
	{name: "depth_10001_objects", in: nested(`{"a":`, "{}", "}", 10000), wantErr: true},
	{name: "depth_10001_mixed", in: nested(`[{"a":`, "[]", "}]", 5000), wantErr: true},
	{name: "depth_100000_unclosed", in: strings.Repeat("[", 100000), wantErr: true},

	// big documents
	{name: "big_document", in: bigDocument},
	{name: "long_string", in: `"` + strings.Repeat("abcdé", 100000) + `\n"`, want: strings.Repeat("abcdé", 100000) + "\n"},
	{name: "long_array", in: "[" + strings.Repeat("1,", 100000) + "1]"},
}

func TestParseValue(t *testing.T) {
	t.Parallel()
	for _, tc := range jsonValueCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := []byte(tc.in)
			got, err := parseValue(in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parseValue(%.60q) = %v, want error", tc.in, got)
				}
				if !strings.Contains(err.Error(), "offset") {
					t.Errorf("parseValue(%.60q) error %q does not name the offset", tc.in, err)
				}
			} else if err != nil {
				t.Fatalf("parseValue(%.60q) = %v", tc.in, err)
			} else if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseValue(%.60q) mismatch (-got +want):\n%s", tc.in, cmp.Diff(got, tc.want))
			}
			// The table itself must agree with encoding/json.
			want, stdErr := decodeStd(in)
			if (stdErr != nil) != tc.wantErr {
				t.Fatalf("encoding/json on %.60q: err = %v, table says wantErr = %v", tc.in, stdErr, tc.wantErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("parseValue(%.60q) differs from encoding/json (-got +want):\n%s", tc.in, cmp.Diff(got, want))
			}
		})
	}
}

func TestParseValueErrorOffset(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                          "offset 0:",
		"[1,]":                      "offset 3:",
		`{"a":1} x`:                 "offset 8:",
		"\"a\x01\"":                 "offset 2:",
		nested("[", "", "]", 10001): "offset 10000: exceeded max depth",
	} {
		_, err := parseValue([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseValue(%.40q) = %v, want error containing %q", in, err, want)
		}
	}
}

// TestParseValueAfterError checks that a failed parse leaves nothing in the
// pooled scratch stacks that a later parse could pick up.
func TestParseValueAfterError(t *testing.T) {
	for range 3 {
		if _, err := parseValue([]byte(`{"a":[1,2,{"b":"c\n","d":[3,`)); err == nil {
			t.Fatal("parseValue of truncated input succeeded")
		}
		in := []byte(`{"x":[true,{"y":"z\t"}],"w":[]}`)
		got, err := parseValue(in)
		want, _ := decodeStd(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("parseValue(%s) = %v, %v, want %v", in, got, err, want)
		}
	}
}

// maxFuzzSeed keeps the deep and big cases out of the fuzz corpus: the
// fuzzer spends up to a minute minimizing each new interesting input, and
// on inputs of tens of kilobytes that stalls it (the table covers them).
const maxFuzzSeed = 4 << 10

// FuzzParseValueMatchesEncodingJSON checks parseValue against encoding/json
// on any input: the same inputs are rejected, the others decode to deeply
// equal values.
func FuzzParseValueMatchesEncodingJSON(f *testing.F) {
	for _, tc := range jsonValueCases {
		if len(tc.in) <= maxFuzzSeed {
			f.Add([]byte(tc.in))
		}
	}
	f.Add([]byte(nestedDocument))
	f.Fuzz(func(t *testing.T, b []byte) {
		want, stdErr := decodeStd(b)
		got, err := parseValue(b)
		switch {
		case stdErr != nil && err == nil:
			t.Fatalf("parseValue(%q) = %#v, want error (encoding/json: %v)", b, got, stdErr)
		case stdErr == nil && err != nil:
			t.Fatalf("parseValue(%q) = %v, want %#v", b, err, want)
		case !reflect.DeepEqual(got, want):
			t.Fatalf("parseValue(%q) differs from encoding/json (-got +want):\n%s", b, cmp.Diff(got, want))
		}
	})
}

// nestedDocument is a ~2 KB shadow update with nested objects and arrays.
var nestedDocument = func() string {
	var sb strings.Builder
	sb.WriteString(`{"state":{"desired":{"config":{"sampling":{"interval_s":30,"jitter":0.25,"enabled":true},"thresholds":{"temperature":{"min":-10.5,"max":45.0},"humidity":{"min":10,"max":90}}},"schedule":[`)
	for i := range 8 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"day":%d,"from":"07:%02d","to":"22:30","mode":"eco","setpoint":20.%d}`, i, i, i)
	}
	sb.WriteString(`]},"reported":{"firmware":"v2.14.3-rc1","uptime_s":8734521,"network":{"ssid":"home\u2011net","rssi":-67,"ip":"192.168.1.42"},"sensors":[`)
	for i := range 6 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id":"s%d","type":"temperature","value":21.%d,"unit":"\u00b0C","ok":true,"last":null,"history":[21.1,21.2,21.3]}`, i, i)
	}
	sb.WriteString(`]}},"clientToken":"c9f4d6e2-1b7a-4f0e-9d3c-2a8b5e6f7d10","version":412}`)
	return sb.String()
}()

var benchDocuments = []struct{ name, doc string }{
	{"update", `{"state":{"reported":{"temperature":21.5,"humidity":40,"counter":12345}},"clientToken":"1234567890123"}`},
	{"nested_2KB", nestedDocument},
}

func BenchmarkParseValue(b *testing.B) {
	for _, bd := range benchDocuments {
		in := []byte(bd.doc)
		b.Run(bd.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if _, err := parseValue(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseValueEncodingJSON is the baseline: one Decoder with
// UseNumber, as parse.go uses for each section (without its other passes).
func BenchmarkParseValueEncodingJSON(b *testing.B) {
	for _, bd := range benchDocuments {
		in := []byte(bd.doc)
		b.Run(bd.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				dec := json.NewDecoder(bytes.NewReader(in))
				dec.UseNumber()
				var v any
				if err := dec.Decode(&v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
