package httpapi

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

// FuzzMatch checks the path matcher never panics and round-trips: when a
// path matches, escaping the captured values back into the pattern gives a
// path that matches with the same values.
func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"/things/{thingName}", "/things/a%3Ab"},
		{"/things/{thingName}", "/things/a%2Fb"},
		{"/things/{thingName}/shadow", "/things/t/shadow"},
		{"/topics/{topic+}", "/topics/%24aws/things/t/shadow/update"},
		{"/topics/{topic+}", "/topics/a//b/"},
		{"/attached-policies/{target}", "/attached-policies/arn%3Aaws%3Aiot%3Aus-east-1%3A1%3Acert%2Fab"},
		{"/", "/"},
		{"/things/{thingName}", "/things/%zz"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pat, path string) {
		p, err := parsePattern(pat)
		if err != nil {
			return
		}
		params, ok, err := p.match(splitPath(path))
		if !ok || err != nil {
			return
		}
		var b strings.Builder
		for _, sg := range p.segs {
			b.WriteByte('/')
			switch sg.kind {
			case segLiteral:
				b.WriteString(sg.text)
			case segLabel:
				b.WriteString(url.PathEscape(paramValue(params, sg.text)))
			case segGreedy:
				levels := strings.Split(paramValue(params, sg.text), "/")
				for i, l := range levels {
					levels[i] = url.PathEscape(l)
				}
				b.WriteString(strings.Join(levels, "/"))
			}
		}
		if len(p.segs) == 0 {
			b.WriteByte('/')
		}
		again, ok, err := p.match(splitPath(b.String()))
		if !ok || err != nil {
			t.Fatalf("match(%q, %q) = %v, but the rebuilt path %q does not match (ok %v, err %v)", pat, path, params, b.String(), ok, err)
		}
		if !slices.Equal(again, params) {
			t.Fatalf("match(%q, %q) = %v, rebuilt path %q gives %v", pat, path, params, b.String(), again)
		}
	})
}

func paramValue(ps []pathParam, name string) string {
	for _, p := range ps {
		if p.name == name {
			return p.value
		}
	}
	return ""
}

// FuzzParseAuthorization checks the Authorization parser never panics, only
// fails with IncompleteSignatureException, and round-trips what it accepts.
func FuzzParseAuthorization(f *testing.F) {
	sig := strings.Repeat("0f", 32)
	for _, s := range []string{
		"AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/iot/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig,
		"AWS4-HMAC-SHA256 Signature=" + sig + ",SignedHeaders=host,Credential=K/20250101/r/iotdata/aws4_request",
		"AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/iot, SignedHeaders=host, Signature=" + sig,
		"AWS4-HMAC-SHA256 Credential=a/b/c/d/e/f, SignedHeaders=;;, Signature=",
		"AWS4-HMAC-SHA256 ,,,=,",
		"Basic dXNlcjpwYXNz",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		a, err := parseAuthorization(h)
		if err != nil {
			if e, ok := err.(*Error); !ok || e.Code != IncompleteSignature {
				t.Fatalf("parseAuthorization(%q) error = %v, want an IncompleteSignatureException", h, err)
			}
			return
		}
		b, err := parseAuthorization(a.String())
		if err != nil {
			t.Fatalf("parseAuthorization(%q) ok, but its String() %q fails: %v", h, a.String(), err)
		}
		if a.String() != b.String() || !slices.Equal(a.SignedHeaders, b.SignedHeaders) {
			t.Fatalf("round trip of %q: %+v, then %+v", h, a, b)
		}
	})
}
