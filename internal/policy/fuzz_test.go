package policy

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fuzzSeeds are the checked-in seed corpus of FuzzParse: the reference's
// example policies, the default thing policy and a few malformed documents.
func fuzzSeeds(t testing.TB) map[string]string {
	seeds := map[string]string{
		"default_thing_policy": string(DefaultThingPolicy()),
		"malformed_effect":     stmtDoc(`"Effect":"allow","Action":"iot:Connect","Resource":"*"`),
		"conditions": stmtDoc(`"Effect":"Allow","Action":"iot:*","Resource":"arn:aws:iot:*:*:topic/${iot:ClientId}/*",` +
			`"Condition":{"ForAllValues:StringLike":{"iot:Certificate.Subject.Organization.List":["A*"]},` +
			`"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"Null":{"iot:Connection.Thing.Attributes[x]":"false"}}`),
		"not_resource": stmtDoc(`"Effect":"Allow","NotAction":"iot:Publish","NotResource":["arn:aws:iot:us-east-1:123456789012:topic/a/restricted/*"]`),
	}
	for _, ex := range examples {
		b, err := os.ReadFile(filepath.Join("testdata", "examples", ex.name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		seeds[ex.name] = string(b)
	}
	return seeds
}

// TestFuzzSeedCorpus keeps testdata/fuzz/FuzzParse in step with fuzzSeeds
// (rewritten with -update).
func TestFuzzSeedCorpus(t *testing.T) {
	t.Parallel()
	for name, doc := range fuzzSeeds(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			checkGolden(t, filepath.Join("fuzz", "FuzzParse", name),
				[]byte("go test fuzz v1\n[]byte("+strconv.Quote(doc)+")\n"))
		})
	}
}

// fuzzContexts are the connections FuzzParse evaluates every policy for.
var fuzzContexts = []Context{
	{},
	{ClientID: "thingOne", ThingName: "thingOne", IsAttached: true, ThingTypeName: "Thing_Type_Name",
		ThingAttributes: map[string]string{"attributeName": "attributeValue", "x": "1"}},
	{ClientID: "+", CertificateID: "abc", SourceIP: net.ParseIP("10.1.2.3"),
		Subject: map[string][]string{"CommonName": {"a,b"}, "Organization": {"Acme", "Beta"}},
		Issuer:  map[string][]string{"CommonName": {"CA*"}}, SerialNumber: "42"},
}

// fuzzRequests returns requests for p: fixed ones plus each resource
// pattern of p with its wildcards filled in.
func fuzzRequests(p *Policy) [][2]string {
	reqs := [][2]string{
		{"iot:Connect", res("client", "thingOne")},
		{"iot:Publish", res("topic", "$aws/things/thingOne/shadow/update")},
		{"iot:Subscribe", res("topicfilter", "#")},
		{"iot:Receive", res("topic", "a/restricted/x")},
		{"greengrass:Discover", "*"},
	}
	for _, st := range p.stmts {
		for _, r := range st.resources {
			filled := strings.NewReplacer("*", "x/y", "?", "q").Replace(r.raw)
			for _, a := range []string{"iot:Connect", "iot:Publish", "IOT:SUBSCRIBE"} {
				reqs = append(reqs, [2]string{a, filled})
			}
		}
	}
	return reqs
}

func FuzzParse(f *testing.F) {
	for _, doc := range fuzzSeeds(f) {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, err := Parse(doc)
		if err != nil {
			var me *MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("Parse error %T %v, want *MalformedError", err, err)
			}
			return
		}
		norm, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		p2, err := parse(norm)
		if err != nil {
			t.Fatalf("normalized form %s does not parse: %v", norm, err)
		}
		norm2, err := json.Marshal(p2)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		if string(norm) != string(norm2) {
			t.Fatalf("normalizing twice differs:\n%s\n%s", norm, norm2)
		}
		s, s2 := NewSet(Named{"p", p}), NewSet(Named{"p", p2})
		for _, ctx := range fuzzContexts {
			b := s.Bind(ctx)
			for _, r := range fuzzRequests(p) {
				req := Request{Action: r[0], Resource: r[1], Context: ctx}
				d := s.Evaluate(req)
				if again := s.Evaluate(req); again != d {
					t.Fatalf("Evaluate(%v) not deterministic: %+v then %+v", r, d, again)
				}
				if bd := b.Evaluate(r[0], r[1]); bd != d {
					t.Fatalf("Bound.Evaluate(%v) = %+v, Set.Evaluate = %+v", r, bd, d)
				}
				if nd := s2.Evaluate(req); nd != d {
					t.Fatalf("normalized policy Evaluate(%v) = %+v, original %+v", r, nd, d)
				}
			}
		}
	})
}
