package policy

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode"
)

// stmtDoc wraps one statement's JSON members in a 2012-10-17 document.
func stmtDoc(members string) string {
	return `{"Version":"2012-10-17","Statement":[{` + members + `}]}`
}

func TestParseMalformed(t *testing.T) {
	t.Parallel()
	const ok = `"Effect":"Allow","Action":"iot:Connect","Resource":"*"`
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"empty", ``, `malformed policy: document is empty`},
		{"only whitespace", " \n\t ", `malformed policy: document is empty`},
		{"invalid utf-8", "{\"Version\":\"\xff\"}", `malformed policy: document is not valid UTF-8`},
		{"truncated json", `{"Version":"2012-10-17"`, `malformed policy: invalid JSON: unexpected EOF`},
		{"bad json", `{"Version" "2012-10-17"}`, `malformed policy: invalid JSON: invalid character '"' after object key`},
		{"trailing data", stmtDoc(ok) + `{}`, `malformed policy: invalid JSON: data after the top-level value`},
		{"duplicate key", `{"Version":"2012-10-17","Version":"2012-10-17","Statement":[]}`, `malformed policy: invalid JSON: duplicate key "Version"`},
		{"duplicate statement key", stmtDoc(ok + `,"Effect":"Deny"`), `malformed policy: invalid JSON: duplicate key "Effect"`},
		{"not an object", `["Statement"]`, `malformed policy: document must be a JSON object`},
		{"version type", `{"Version":2012,"Statement":[{` + ok + `}]}`, `malformed policy: Version: must be a string`},
		{"version unknown", `{"Version":"2012-10-18","Statement":[{` + ok + `}]}`, `malformed policy: Version: "2012-10-18" is not supported, use "2012-10-17"`},
		{"unknown top-level element", `{"Version":"2012-10-17","Statements":[{` + ok + `}]}`, `malformed policy: Statements: unknown element (want Version, Id or Statement)`},
		{"id type", `{"Id":1,"Statement":[{` + ok + `}]}`, `malformed policy: Id: must be a string`},
		{"missing statement", `{"Version":"2012-10-17"}`, `malformed policy: Statement: is required`},
		{"empty statement array", `{"Version":"2012-10-17","Statement":[]}`, `malformed policy: Statement: must contain at least one statement`},
		{"statement not an object", `{"Version":"2012-10-17","Statement":[{` + ok + `},"x"]}`, `malformed policy: Statement[1]: must be a JSON object`},
		{"missing effect", stmtDoc(`"Action":"iot:Connect","Resource":"*"`), `malformed policy: Statement[0].Effect: is required`},
		{"effect lower case", stmtDoc(`"Effect":"allow","Action":"iot:Connect","Resource":"*"`), `malformed policy: Statement[0].Effect: must be "Allow" or "Deny"`},
		{"effect type", stmtDoc(`"Effect":true,"Action":"iot:Connect","Resource":"*"`), `malformed policy: Statement[0].Effect: must be "Allow" or "Deny"`},
		{"sid type", stmtDoc(ok + `,"Sid":1`), `malformed policy: Statement[0].Sid: must be a string`},
		{"missing action", stmtDoc(`"Effect":"Allow","Resource":"*"`), `malformed policy: Statement[0].Action: is required (or NotAction)`},
		{"action and not action", stmtDoc(ok + `,"NotAction":"iot:Publish"`), `malformed policy: Statement[0].NotAction: cannot be combined with Action`},
		{"action empty string", stmtDoc(`"Effect":"Allow","Action":"","Resource":"*"`), `malformed policy: Statement[0].Action: must not be empty`},
		{"action empty array", stmtDoc(`"Effect":"Allow","Action":[],"Resource":"*"`), `malformed policy: Statement[0].Action: must not be an empty array`},
		{"action number", stmtDoc(`"Effect":"Allow","Action":5,"Resource":"*"`), `malformed policy: Statement[0].Action: must be a string or an array of strings`},
		{"action element type", stmtDoc(`"Effect":"Allow","Action":["iot:Connect",null],"Resource":"*"`), `malformed policy: Statement[0].Action[1]: must be a string`},
		{"action without service", stmtDoc(`"Effect":"Allow","Action":"Publish","Resource":"*"`), `malformed policy: Statement[0].Action: "Publish" is not an action (want "*" or "service:Name", e.g. "iot:Publish")`},
		{"not action bad element", stmtDoc(`"Effect":"Allow","NotAction":["iot:Connect","iot:Pub lish"],"Resource":"*"`), `malformed policy: Statement[0].NotAction[1]: "iot:Pub lish" is not an action (want "*" or "service:Name", e.g. "iot:Publish")`},
		{"missing resource", stmtDoc(`"Effect":"Allow","Action":"iot:Connect"`), `malformed policy: Statement[0].Resource: is required (or NotResource)`},
		{"resource and not resource", stmtDoc(ok + `,"NotResource":"*"`), `malformed policy: Statement[0].NotResource: cannot be combined with Resource`},
		{"resource not an arn", stmtDoc(`"Effect":"Allow","Action":"iot:Connect","Resource":"client/foo"`), `malformed policy: Statement[0].Resource: "client/foo" is not "*" or an ARN (arn:partition:service:region:account:resource)`},
		{"resource short arn", stmtDoc(`"Effect":"Allow","Action":"iot:Connect","Resource":["*","arn:aws:iot:us-east-1:client/x"]`), `malformed policy: Statement[0].Resource[1]: "arn:aws:iot:us-east-1:client/x" is not "*" or an ARN (arn:partition:service:region:account:resource)`},
		{"resource object", stmtDoc(`"Effect":"Allow","Action":"iot:Connect","Resource":{}`), `malformed policy: Statement[0].Resource: must be a string or an array of strings`},
		{"principal", stmtDoc(ok + `,"Principal":"*"`), `malformed policy: Statement[0].Principal: is not supported in AWS IoT policies`},
		{"unknown statement element", stmtDoc(ok + `,"Actions":"iot:Publish"`), `malformed policy: Statement[0].Actions: unknown element`},
		{"condition not an object", stmtDoc(ok + `,"Condition":[]`), `malformed policy: Statement[0].Condition: must be a JSON object`},
		{"unsupported operator", stmtDoc(ok + `,"Condition":{"NumericEquals":{"x":"1"}}`), `malformed policy: Statement[0].Condition.NumericEquals: unsupported condition operator (supported: String[Not]Equals[IgnoreCase], String[Not]Like, Bool, [Not]IpAddress, Null, with optional ForAnyValue:/ForAllValues: and IfExists)`},
		{"null with set operator", stmtDoc(ok + `,"Condition":{"ForAnyValue:Null":{"x":"true"}}`), `malformed policy: Statement[0].Condition.ForAnyValue:Null: unsupported condition operator (supported: String[Not]Equals[IgnoreCase], String[Not]Like, Bool, [Not]IpAddress, Null, with optional ForAnyValue:/ForAllValues: and IfExists)`},
		{"operator block type", stmtDoc(ok + `,"Condition":{"StringEquals":"x"}`), `malformed policy: Statement[0].Condition.StringEquals: must be a JSON object of condition keys`},
		{"operator block empty", stmtDoc(ok + `,"Condition":{"StringEquals":{}}`), `malformed policy: Statement[0].Condition.StringEquals: must contain at least one condition key`},
		{"condition value object", stmtDoc(ok + `,"Condition":{"StringEquals":{"iot:ClientId":{}}}`), `malformed policy: Statement[0].Condition.StringEquals.iot:ClientId: must be a string or an array of strings`},
		{"condition value empty array", stmtDoc(ok + `,"Condition":{"StringEquals":{"iot:ClientId":[]}}`), `malformed policy: Statement[0].Condition.StringEquals.iot:ClientId: must not be an empty array`},
		{"condition value element", stmtDoc(ok + `,"Condition":{"StringEquals":{"iot:ClientId":["a",["b"]]}}`), `malformed policy: Statement[0].Condition.StringEquals.iot:ClientId[1]: must be a string`},
		{"bool value", stmtDoc(ok + `,"Condition":{"Bool":{"iot:Connection.Thing.IsAttached":"yes"}}`), `malformed policy: Statement[0].Condition.Bool.iot:Connection.Thing.IsAttached: "yes" must be "true" or "false"`},
		{"ip value", stmtDoc(ok + `,"Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","10.0.0.300"]}}`), `malformed policy: Statement[0].Condition.IpAddress.aws:SourceIp[1]: "10.0.0.300" is not an IP address or CIDR block`},
		{"empty condition key", stmtDoc(ok + `,"Condition":{"StringEquals":{"":"x"}}`), `malformed policy: Statement[0].Condition.StringEquals: condition key must not be empty`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := Parse([]byte(tc.doc))
			var me *MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("Parse(%q) = %v, %v; want *MalformedError", tc.doc, p, err)
			}
			if err.Error() != tc.want {
				t.Errorf("Parse(%q) error =\n  %s\nwant\n  %s", tc.doc, err, tc.want)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, doc string }{
		{"single statement object", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}}`},
		{"no version", `{"Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}}`},
		{"version 2008", `{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}}`},
		{"id and sid", `{"Version":"2012-10-17","Id":"x","Statement":{"Sid":"Any text-1","Effect":"Deny","Action":"*","Resource":"*"}}`},
		{"other services", stmtDoc(`"Effect":"Allow","Action":["greengrass:*","iot:*"],"Resource":"arn:aws:greengrass:*:*:/greengrass/*"`)},
		{"placeholder arn", stmtDoc(`"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:[AWS_REGION]:[AWS_ACCOUNT_ID]:client/x"`)},
		{"condition scalars", stmtDoc(`"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"Bool":{"iot:Connection.Thing.IsAttached":true},"StringEquals":{"x":1.5}}`)},
		{"empty condition", stmtDoc(`"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{}`)},
		{"operators", stmtDoc(`"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{
			"StringNotEqualsIgnoreCase":{"a":"b"},"ForAllValues:StringNotLike":{"c":"d*"},"stringequalsifexists":{"e":"f"},
			"NotIpAddressIfExists":{"aws:SourceIp":"::ffff:10.0.0.0/104"},"Null":{"g":"TRUE"}}`)},
		{"unclosed variable", stmtDoc(`"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:r:a:client/${iot:ClientId"`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := Parse([]byte(tc.doc)); err != nil {
				t.Errorf("Parse(%s) = %v, want success", tc.doc, err)
			}
		})
	}
}

// sizedDoc returns a valid document with exactly n non-whitespace characters
// and pad bytes of extra whitespace.
func sizedDoc(t *testing.T, n, pad int) string {
	t.Helper()
	base := `{"Version":"2012-10-17","Statement":{"Sid":"","Effect":"Allow","Action":"iot:Connect","Resource":"*"}}`
	doc := strings.Replace(base, `"Sid":""`, `"Sid":"`+strings.Repeat("x", n-len(base))+`"`, 1)
	doc = strings.Replace(doc, `"Effect"`, strings.Repeat(" \n\t", pad/3)+`"Effect"`, 1)
	count := 0
	for _, r := range doc {
		if !unicode.IsSpace(r) {
			count++
		}
	}
	if count != n {
		t.Fatalf("sizedDoc(%d) has %d characters", n, count)
	}
	return doc
}

func TestDocumentSizeLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		doc     string
		wantErr string
	}{
		{"exactly the limit", sizedDoc(t, MaxDocumentChars, 0), ""},
		{"whitespace is not counted", sizedDoc(t, MaxDocumentChars, 3000), ""},
		{"one over", sizedDoc(t, MaxDocumentChars+1, 0), "malformed policy: document has 2049 characters excluding whitespace, more than the limit of 2048"},
		{"whitespace inside strings is not counted", strings.Replace(sizedDoc(t, MaxDocumentChars, 0), `"Sid":"x`, `"Sid":"      x`, 1), ""},
		{"multi-byte characters count once", strings.Replace(sizedDoc(t, MaxDocumentChars, 0), `"Sid":"xx`, `"Sid":"éé`, 1), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tc.doc))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Parse(%d bytes) = %v, want success", len(tc.doc), err)
			case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
				t.Errorf("Parse(%d bytes) = %v, want %s", len(tc.doc), err, tc.wantErr)
			}
		})
	}
}

// TestNormalizedIsFixedPoint checks that the normalized form of every
// example parses and normalizes to itself.
func TestNormalizedIsFixedPoint(t *testing.T) {
	t.Parallel()
	docs := map[string]string{"default": string(DefaultThingPolicy())}
	for _, ex := range examples {
		docs[ex.name] = readExample(t, ex.name)
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			first, err := json.Marshal(mustParse(t, doc))
			if err != nil {
				t.Fatal(err)
			}
			second, err := json.Marshal(mustParse(t, string(first)))
			if err != nil {
				t.Fatal(err)
			}
			if string(first) != string(second) {
				t.Errorf("normalizing twice differs:\n%s\n%s", first, second)
			}
		})
	}
}

func TestPatternMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		pattern string
		s       string
		want    bool
	}{
		{"literal", "abc", "abc", true},
		{"literal prefix only", "abc", "abcd", false},
		{"star empty", "a*", "a", true},
		{"star crosses slash", "a/*/c", "a/b/x/c", true},
		{"star backtracks", "*ab*ab", "xabyabzab", true},
		{"two stars fail", "*a*b", "xbxa", false},
		{"question one char", "a?c", "abc", true},
		{"question not zero", "a?c", "ac", false},
		{"question multibyte", "a?c", "aéc", true},
		{"star then question", "*??", "é", false},
		{"only star", "*", "", true},
		{"empty pattern", "", "", true},
		{"empty pattern nonempty", "", "x", false},
		{"plus is literal", "a/+", "a/b", false},
		{"hash is literal", "a/#", "a/#", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := compilePattern(tc.pattern, true, true)
			if got := p.match(tc.s, nil, false); got != tc.want {
				t.Errorf("match(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want key
	}{
		{"client id", "iot:ClientId", key{kind: keyClientID}},
		{"case folded", "IOT:CLIENTID", key{kind: keyClientID}},
		{"attribute", "iot:Connection.Thing.Attributes[Floor]", key{kind: keyThingAttr, attr: "Floor"}},
		{"attribute empty", "iot:Connection.Thing.Attributes[]", key{}},
		{"subject cn", "iot:Certificate.Subject.CommonName", key{kind: keyCertName, attr: "CommonName"}},
		{"issuer index", "iot:Certificate.Issuer.Organization.2", key{kind: keyCertName, attr: "Organization", issuer: true, index: 2}},
		{"index zero undocumented", "iot:Certificate.Subject.Country.0", key{}},
		{"index past five", "iot:Certificate.Subject.Country.5", key{}},
		{"list", "iot:Certificate.Subject.Country.List", key{kind: keyCertName, attr: "Country", list: true}},
		{"alt name", "iot:Certificate.Subject.AlternativeName.DNSName", key{kind: keyCertAltName, attr: "DNSName"}},
		{"issuer alt name list", "iot:Certificate.Issuer.AlternativeName.IPAddress.List", key{kind: keyCertAltName, attr: "IPAddress", issuer: true, list: true}},
		{"unknown attribute", "iot:Certificate.Subject.Locality", key{}},
		{"serial", "iot:Certificate.SerialNumber", key{kind: keyCertSerial}},
		{"subject serial", "iot:Certificate.Subject.SerialNumber", key{kind: keyCertName, attr: "SerialNumber"}},
		{"available keys", "iot:Certificate.AvailableKeys", key{kind: keyAvailableKeys}},
		{"source ip", "aws:SourceIp", key{kind: keySourceIP}},
		{"old alias", "iot:Thing.ThingName", key{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := parseKey(tc.in)
			tc.want.name = tc.in
			if got != tc.want {
				t.Errorf("parseKey(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestNameAttributes(t *testing.T) {
	t.Parallel()
	// C=US, O=IoT Devices, O=Second, CN=LightBulb, L=Ignored, title=RGB, dnQualifier=Bulb001
	var rdn pkix.RDNSequence
	for _, a := range []struct {
		oid asn1.ObjectIdentifier
		v   any
	}{
		{asn1.ObjectIdentifier{2, 5, 4, 6}, "US"},
		{asn1.ObjectIdentifier{2, 5, 4, 10}, "IoT Devices"},
		{asn1.ObjectIdentifier{2, 5, 4, 10}, "Second"},
		{asn1.ObjectIdentifier{2, 5, 4, 3}, "LightBulb"},
		{asn1.ObjectIdentifier{2, 5, 4, 7}, "Ignored"},
		{asn1.ObjectIdentifier{2, 5, 4, 12}, "RGB"},
		{asn1.ObjectIdentifier{2, 5, 4, 46}, "Bulb001"},
		{asn1.ObjectIdentifier{2, 5, 4, 3}, 7},
	} {
		rdn = append(rdn, pkix.RelativeDistinguishedNameSET{{Type: a.oid, Value: a.v}})
	}
	var name pkix.Name
	name.FillFromRDNSequence(&rdn)
	got := NameAttributes(name)
	want := map[string][]string{"Country": {"US"}, "Organization": {"IoT Devices", "Second"}, "CommonName": {"LightBulb"},
		"Title": {"RGB"}, "DistinguishedNameQualifier": {"Bulb001"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("NameAttributes = %v, want %v", got, want)
	}
}
