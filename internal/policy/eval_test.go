package policy

import (
	"errors"
	"net"
	"strings"
	"testing"
)

// TestBehaviour covers evaluation rules beyond the reference's examples; the
// reasons are recorded in testdata/decisions/behaviour.golden.
func TestBehaviour(t *testing.T) {
	t.Parallel()
	const allowAll = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}`
	tests := []struct {
		name     string
		policies map[string]string
		cases    []evalCase
	}{
		{
			name: "deny wins across policies",
			policies: map[string]string{
				"everything": allowAll,
				"no-secrets": `{"Version":"2012-10-17","Statement":[
					{"Effect":"Deny","Action":["iot:Publish","iot:Receive"],"Resource":"arn:aws:iot:us-east-1:123456789012:topic/secret/*"}]}`,
			},
			cases: []evalCase{
				{name: "publish secret", action: "iot:Publish", resource: res("topic", "secret/a"),
					reason: "denied by policy no-secrets statement 0"},
				{name: "receive secret", action: "iot:Receive", resource: res("topic", "secret/a/b")},
				{name: "publish public", action: "iot:Publish", resource: res("topic", "public/a"), allowed: true,
					reason: "allowed by policy everything statement 0"},
				{name: "subscribe secret filter is a different resource", action: "iot:Subscribe",
					resource: res("topicfilter", "secret/#"), allowed: true},
			},
		},
		{
			name: "deny wins within a policy whatever the order",
			policies: map[string]string{"p": `{"Version":"2012-10-17","Statement":[
				{"Effect":"Allow","Action":"iot:Publish","Resource":"*"},
				{"Effect":"Allow","Action":"iot:Connect","Resource":"*"},
				{"Sid":"NoAdmin","Effect":"Deny","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/admin/*"}]}`},
			cases: []evalCase{
				{name: "denied by the later statement", action: "iot:Publish", resource: res("topic", "admin/x"),
					reason: "denied by policy p statement 2"},
				{name: "allowed by the first", action: "iot:Publish", resource: res("topic", "user/x"), allowed: true,
					reason: "allowed by policy p statement 0"},
			},
		},
		{
			name: "NotResource receive restriction",
			policies: map[string]string{"p": `{"Version":"2012-10-17","Statement":[
				{"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/a/*"},
				{"Effect":"Deny","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/a/restricted/*"},
				{"Effect":"Allow","Action":"iot:Receive","NotResource":"arn:aws:iot:us-east-1:123456789012:topic/a/restricted/*"}]}`},
			cases: []evalCase{
				{name: "subscribe a hash passes the subscribe deny", action: "iot:Subscribe",
					resource: res("topicfilter", "a/#"), allowed: true},
				{name: "subscribe restricted is denied", action: "iot:Subscribe",
					resource: res("topicfilter", "a/restricted/x"), reason: "denied by policy p statement 1"},
				{name: "receive restricted is not allowed", action: "iot:Receive",
					resource: res("topic", "a/restricted/x"), reason: "no statement matched (default deny)"},
				{name: "receive other", action: "iot:Receive", resource: res("topic", "a/b"), allowed: true},
				{name: "NotResource does not grant other actions", action: "iot:Publish", resource: res("topic", "a/b")},
			},
		},
		{
			name: "NotAction",
			policies: map[string]string{"p": `{"Version":"2012-10-17","Statement":[
				{"Effect":"Allow","NotAction":["iot:Publish","iot:Get*"],"Resource":"*"}]}`},
			cases: []evalCase{
				{name: "subscribe allowed", action: "iot:Subscribe", resource: res("topicfilter", "x"), allowed: true},
				{name: "publish excluded", action: "iot:Publish", resource: res("topic", "x")},
				{name: "publish excluded whatever the case", action: "IOT:PUBLISH", resource: res("topic", "x")},
				{name: "wildcard exclusion", action: "iot:GetThingShadow", resource: res("thing", "x")},
				{name: "retain publish is another action", action: "iot:RetainPublish", resource: res("topic", "x"), allowed: true},
				{name: "unknown action not excluded", action: "greengrass:Discover", resource: "arn:aws:greengrass:x:y:z", allowed: true},
				{name: "unknown iot action matching exclusion", action: "iot:GetSomethingNew", resource: "*"},
			},
		},
		{
			name: "action names and wildcards",
			policies: map[string]string{"p": `{"Version":"2012-10-17","Statement":[
				{"Effect":"Allow","Action":["IoT:publish","iot:Get*","iot:?eceive"],"Resource":"*"},
				{"Effect":"Allow","Action":"*","Resource":"arn:aws:iot:us-east-1:123456789012:client/admin"}]}`},
			cases: []evalCase{
				{name: "mixed case policy action", action: "iot:Publish", resource: res("topic", "t"), allowed: true},
				{name: "upper case request action", action: "IOT:PUBLISH", resource: res("topic", "t"), allowed: true},
				{name: "prefix wildcard shadow", action: "iot:GetThingShadow", resource: res("thing", "t"), allowed: true},
				{name: "prefix wildcard retained", action: "iot:GetRetainedMessage", resource: res("topic", "t"), allowed: true},
				{name: "question mark", action: "iot:Receive", resource: res("topic", "t"), allowed: true},
				{name: "prefix wildcard does not match update", action: "iot:UpdateThingShadow", resource: res("thing", "t")},
				{name: "retain publish is not publish", action: "iot:RetainPublish", resource: res("topic", "t")},
				{name: "star action", action: "iot:Connect", resource: res("client", "admin"), allowed: true},
				{name: "star action other resource", action: "iot:Connect", resource: res("client", "user")},
				{name: "unknown iot action under Get star", action: "iot:GetWidget", resource: "*", allowed: true},
			},
		},
		{
			name: "resource wildcards",
			policies: map[string]string{"p": `{"Version":"2012-10-17","Statement":[
				{"Effect":"Allow","Action":"iot:Subscribe","Resource":[
					"arn:aws:iot:us-east-1:123456789012:topicfilter/some/sensor???/topic",
					"arn:aws:iot:us-east-1:123456789012:topicfilter/lit/+/x",
					"arn:aws:iot:us-east-1:123456789012:topicfilter/any/*/end",
					"arn:aws:iot:us-east-1:123456789012:topicfilter/esc/${*}/${?}/${$}"]},
				{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:*:123456789012:topic/Case/*"}]}`},
			cases: []evalCase{
				{name: "three question marks", action: "iot:Subscribe", resource: res("topicfilter", "some/sensor123/topic"), allowed: true},
				{name: "question mark is one character", action: "iot:Subscribe", resource: res("topicfilter", "some/sensor1234/topic")},
				{name: "question mark can match a slash", action: "iot:Subscribe", resource: res("topicfilter", "some/sensor1/2/topic"), allowed: true},
				{name: "plus is literal", action: "iot:Subscribe", resource: res("topicfilter", "lit/+/x"), allowed: true},
				{name: "plus does not match a level", action: "iot:Subscribe", resource: res("topicfilter", "lit/y/x")},
				{name: "star matches a plus", action: "iot:Subscribe", resource: res("topicfilter", "any/+/end"), allowed: true},
				{name: "star crosses levels", action: "iot:Subscribe", resource: res("topicfilter", "any/a/b/c/end"), allowed: true},
				{name: "star needs the suffix", action: "iot:Subscribe", resource: res("topicfilter", "any/a/#")},
				{name: "escaped specials are literal", action: "iot:Subscribe", resource: res("topicfilter", "esc/*/?/$"), allowed: true},
				{name: "escaped star is not a wildcard", action: "iot:Subscribe", resource: res("topicfilter", "esc/x/?/$")},
				{name: "resources are case-sensitive", action: "iot:Publish", resource: res("topic", "case/x")},
				{name: "region wildcard", action: "iot:Publish", resource: ARN("eu-west-1", testAccount, "topic", "Case/x"), allowed: true},
			},
		},
		{
			name: "client id plus trick",
			policies: map[string]string{"p": `{"Version":"2012-10-17","Statement":[
				{"Effect":"Allow","Action":"iot:Connect","Resource":"*"},
				{"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/my/${iot:ClientId}/topic"},
				{"Effect":"Allow","Action":"iot:Receive","Resource":"arn:aws:iot:us-east-1:123456789012:topic/my/${iot:ClientId}/topic"}]}`},
			cases: []evalCase{
				{name: "client plus subscribes to the wildcard filter", action: "iot:Subscribe",
					resource: res("topicfilter", "my/+/topic"), ctx: Context{ClientID: "+"}, allowed: true},
				{name: "but receives only the literal topic", action: "iot:Receive",
					resource: res("topic", "my/other/topic"), ctx: Context{ClientID: "+"}},
				{name: "client hash subscribes to hash filter", action: "iot:Subscribe",
					resource: res("topicfilter", "my/#/topic"), ctx: Context{ClientID: "#"}, allowed: true},
				{name: "ordinary client", action: "iot:Subscribe",
					resource: res("topicfilter", "my/+/topic"), ctx: Context{ClientID: "dev1"}},
			},
		},
		{
			name: "client id plus trick prevented by connect",
			policies: map[string]string{"p": `{"Version":"2012-10-17","Statement":[
				{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"}]}`},
			cases: []evalCase{
				{name: "plus client id cannot connect", action: "iot:Connect", resource: res("client", "+"),
					ctx: Context{ClientID: "+", ThingName: "thingOne", IsAttached: true}},
			},
		},
		{
			name: "certificate variables",
			policies: map[string]string{"p": `{"Version":"2012-10-17","Statement":[
				{"Effect":"Allow","Action":"iot:Publish","Resource":[
					"arn:aws:iot:us-east-1:123456789012:topic/cn/${iot:Certificate.Subject.CommonName}",
					"arn:aws:iot:us-east-1:123456789012:topic/org1/${iot:Certificate.Subject.Organization.1}",
					"arn:aws:iot:us-east-1:123456789012:topic/issuer/${iot:Certificate.Issuer.CommonName}",
					"arn:aws:iot:us-east-1:123456789012:topic/dns/${iot:Certificate.Subject.AlternativeName.DNSName}",
					"arn:aws:iot:us-east-1:123456789012:topic/id/${iot:CertificateId}",
					"arn:aws:iot:us-east-1:123456789012:topic/serial/${iot:Certificate.SerialNumber}",
					"arn:aws:iot:us-east-1:123456789012:topic/list/${iot:Certificate.Subject.Organization.List}"]}]}`},
			cases: []evalCase{
				{name: "common name", action: "iot:Publish", resource: res("topic", "cn/dev1"),
					ctx: Context{Subject: map[string][]string{"CommonName": {"dev1"}}}, allowed: true},
				{name: "second organization", action: "iot:Publish", resource: res("topic", "org1/Beta"),
					ctx: Context{Subject: map[string][]string{"Organization": {"Acme", "Beta"}}}, allowed: true},
				{name: "first organization is not index 1", action: "iot:Publish", resource: res("topic", "org1/Acme"),
					ctx: Context{Subject: map[string][]string{"Organization": {"Acme", "Beta"}}}},
				{name: "missing index is not substituted", action: "iot:Publish", resource: res("topic", "org1/"),
					ctx: Context{Subject: map[string][]string{"Organization": {"Acme"}}}},
				{name: "issuer", action: "iot:Publish", resource: res("topic", "issuer/My CA"),
					ctx: Context{Issuer: map[string][]string{"CommonName": {"My CA"}}}, allowed: true},
				{name: "alternative name", action: "iot:Publish", resource: res("topic", "dns/a.example"),
					ctx: Context{SubjectAltNames: map[string][]string{"DNSName": {"a.example", "b.example"}}}, allowed: true},
				{name: "certificate id", action: "iot:Publish", resource: res("topic", "id/abc123"),
					ctx: Context{CertificateID: "abc123"}, allowed: true},
				{name: "serial number", action: "iot:Publish", resource: res("topic", "serial/42"),
					ctx: Context{SerialNumber: "42"}, allowed: true},
				{name: "wildcard in value is not substituted", action: "iot:Publish", resource: res("topic", "cn/a*"),
					ctx: Context{Subject: map[string][]string{"CommonName": {"a*"}}}},
				// AWS leaves the literal text; thingcore matches nothing (see
				// unresolvable in pattern.go), so the literal text is refused.
				{name: "unsubstituted value matches nothing, not even the literal text", action: "iot:Publish",
					resource: res("topic", "cn/${iot:Certificate.Subject.CommonName}"),
					ctx:      Context{Subject: map[string][]string{"CommonName": {"a#"}}}},
				{name: "specials are backslash escaped", action: "iot:Publish", resource: res("topic", `cn/a\,b\=c`),
					ctx: Context{Subject: map[string][]string{"CommonName": {"a,b=c"}}}, allowed: true},
				{name: "escaped value does not match the raw one", action: "iot:Publish", resource: res("topic", "cn/a,b=c"),
					ctx: Context{Subject: map[string][]string{"CommonName": {"a,b=c"}}}},
				{name: "too long value is not substituted", action: "iot:Publish", resource: res("topic", "cn/"+strings.Repeat("x", 1025)),
					ctx: Context{Subject: map[string][]string{"CommonName": {strings.Repeat("x", 1025)}}}},
				{name: "list is never substituted", action: "iot:Publish", resource: res("topic", "list/Acme"),
					ctx: Context{Subject: map[string][]string{"Organization": {"Acme"}}}},
			},
		},
		{
			name: "set operators",
			policies: map[string]string{"p": `{"Version":"2012-10-17","Statement":[
				{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/any",
				 "Condition":{"ForAnyValue:StringEquals":{"iot:Certificate.Subject.Organization.List":["Acme","Zeta"]}}},
				{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/all",
				 "Condition":{"ForAllValues:StringLike":{"iot:Certificate.Subject.Organization.List":["Acme","Be*"]}}},
				{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/keys",
				 "Condition":{"ForAnyValue:StringEquals":{"iot:Certificate.AvailableKeys":"iot:Certificate.Subject.Title"}}}]}`},
			cases: []evalCase{
				{name: "any value matches", action: "iot:Publish", resource: res("topic", "any"),
					ctx: Context{Subject: map[string][]string{"Organization": {"Beta", "Acme"}}}, allowed: true},
				{name: "no value matches", action: "iot:Publish", resource: res("topic", "any"),
					ctx: Context{Subject: map[string][]string{"Organization": {"Beta"}}}},
				{name: "any value with no values", action: "iot:Publish", resource: res("topic", "any")},
				{name: "only the first five values count", action: "iot:Publish", resource: res("topic", "any"),
					ctx: Context{Subject: map[string][]string{"Organization": {"a", "b", "c", "d", "e", "Acme"}}}},
				{name: "all values match", action: "iot:Publish", resource: res("topic", "all"),
					ctx: Context{Subject: map[string][]string{"Organization": {"Acme", "Beta", "Bex"}}}, allowed: true},
				{name: "one value does not match", action: "iot:Publish", resource: res("topic", "all"),
					ctx: Context{Subject: map[string][]string{"Organization": {"Acme", "Gamma"}}}},
				{name: "all values of none is true as in IAM", action: "iot:Publish", resource: res("topic", "all"), allowed: true},
				{name: "available keys", action: "iot:Publish", resource: res("topic", "keys"),
					ctx: Context{Subject: map[string][]string{"Title": {"Dr"}}}, allowed: true},
				{name: "available keys without the key", action: "iot:Publish", resource: res("topic", "keys"),
					ctx: Context{Subject: map[string][]string{"CommonName": {"x"}}}},
			},
		},
		{
			name: "string conditions",
			policies: map[string]string{"p": `{"Version":"2012-10-17","Statement":[
				{"Effect":"Allow","Action":"iot:Connect","Resource":"*",
				 "Condition":{"StringLike":{"iot:ClientId":["sensor-*","probe-??"]},
				              "StringNotEquals":{"iot:Connection.Thing.ThingTypeName":"Banned"}}},
				{"Effect":"Allow","Action":"iot:Publish","Resource":"*",
				 "Condition":{"StringEquals":{"iot:Connection.Thing.ThingName":"${iot:ClientId}"},
				              "StringEqualsIgnoreCase":{"iot:Connection.Thing.Attributes[zone]":"EU"}}},
				{"Effect":"Deny","Action":"iot:Publish","Resource":"*",
				 "Condition":{"StringNotLike":{"iot:Connection.Thing.Attributes[tier]":"gold*"}, "Null":{"iot:Connection.Thing.Attributes[tier]":"false"}}},
				{"Effect":"Allow","Action":"iot:Subscribe","Resource":"*",
				 "Condition":{"StringEqualsIfExists":{"iot:Connection.Thing.Attributes[role]":"reader"}}}]}`},
			cases: []evalCase{
				{name: "like star", action: "iot:Connect", resource: res("client", "sensor-1"),
					ctx: Context{ClientID: "sensor-1"}, allowed: true},
				{name: "like question marks", action: "iot:Connect", resource: res("client", "probe-12"),
					ctx: Context{ClientID: "probe-12"}, allowed: true},
				{name: "like no match", action: "iot:Connect", resource: res("client", "probe-123"),
					ctx: Context{ClientID: "probe-123"}},
				{name: "not equals on an absent key is true", action: "iot:Connect", resource: res("client", "sensor-1"),
					ctx: Context{ClientID: "sensor-1", ThingName: "sensor-1", ThingTypeName: ""}, allowed: true},
				{name: "not equals the banned type", action: "iot:Connect", resource: res("client", "sensor-1"),
					ctx: Context{ClientID: "sensor-1", ThingName: "sensor-1", ThingTypeName: "Banned"}},
				{name: "variable in condition value", action: "iot:Publish", resource: res("topic", "t"),
					ctx: Context{ClientID: "t1", ThingName: "t1", ThingAttributes: map[string]string{"zone": "eu"}}, allowed: true},
				{name: "variable in condition value differs", action: "iot:Publish", resource: res("topic", "t"),
					ctx: Context{ClientID: "t2", ThingName: "t1", ThingAttributes: map[string]string{"zone": "eu"}}},
				{name: "variable in condition value is literal", action: "iot:Publish", resource: res("topic", "t"),
					ctx: Context{ClientID: "t*", ThingName: "t1", ThingAttributes: map[string]string{"zone": "EU"}}},
				{name: "not like denies a present non-gold tier", action: "iot:Publish", resource: res("topic", "t"),
					ctx:    Context{ClientID: "t1", ThingName: "t1", ThingAttributes: map[string]string{"zone": "eu", "tier": "silver"}},
					reason: "denied by policy p statement 2"},
				{name: "gold tier is not denied", action: "iot:Publish", resource: res("topic", "t"),
					ctx: Context{ClientID: "t1", ThingName: "t1", ThingAttributes: map[string]string{"zone": "eu", "tier": "gold-plus"}}, allowed: true},
				{name: "if exists with the key absent", action: "iot:Subscribe", resource: res("topicfilter", "t"), allowed: true},
				{name: "if exists with the key present", action: "iot:Subscribe", resource: res("topicfilter", "t"),
					ctx: Context{ThingName: "t1", ThingAttributes: map[string]string{"role": "writer"}}},
			},
		},
		{
			name: "source ip",
			policies: map[string]string{"p": `{"Version":"2012-10-17","Statement":[
				{"Effect":"Allow","Action":"iot:Connect","Resource":"*",
				 "Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.0.2.7","2001:db8::/32"]}}},
				{"Effect":"Deny","Action":"iot:Connect","Resource":"*",
				 "Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/16"},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}`},
			cases: []evalCase{
				{name: "inside cidr", action: "iot:Connect", resource: res("client", "c"),
					ctx: Context{SourceIP: net.ParseIP("10.0.3.4")}, allowed: true},
				{name: "single address", action: "iot:Connect", resource: res("client", "c"),
					ctx: Context{SourceIP: net.IPv4(192, 0, 2, 7).To4()}, allowed: true},
				{name: "ipv4 in 16-byte form", action: "iot:Connect", resource: res("client", "c"),
					ctx: Context{SourceIP: net.IPv4(192, 0, 2, 7)}, allowed: true},
				{name: "ipv6", action: "iot:Connect", resource: res("client", "c"),
					ctx: Context{SourceIP: net.ParseIP("2001:db8::1")}, allowed: true},
				{name: "outside", action: "iot:Connect", resource: res("client", "c"),
					ctx: Context{SourceIP: net.ParseIP("192.0.2.8")}},
				{name: "unknown address", action: "iot:Connect", resource: res("client", "c")},
				{name: "not ip address denies", action: "iot:Connect", resource: res("client", "c"),
					ctx: Context{SourceIP: net.ParseIP("10.1.0.1")}, reason: "denied by policy p statement 1"},
			},
		},
		{
			name: "version 2008 reads variables literally",
			policies: map[string]string{"p": `{"Version":"2008-10-17","Statement":[
				{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:ClientId}"}]}`},
			cases: []evalCase{
				{name: "not substituted", action: "iot:Connect", resource: res("client", "c"), ctx: Context{ClientID: "c"}},
				{name: "literal", action: "iot:Connect", resource: res("client", "${iot:ClientId}"), ctx: Context{ClientID: "c"}, allowed: true},
			},
		},
		{
			name: "unknown and alias variables stay literal",
			policies: map[string]string{"p": `{"Version":"2012-10-17","Statement":[
				{"Effect":"Allow","Action":"iot:Publish","Resource":[
					"arn:aws:iot:us-east-1:123456789012:topic/a/${iot:Thing.ThingName}",
					"arn:aws:iot:us-east-1:123456789012:topic/b/${iot:Domain}",
					"arn:aws:iot:us-east-1:123456789012:topic/c/${iot:connection.thing.thingname}"]}]}`},
			cases: []evalCase{
				{name: "old alias not substituted", action: "iot:Publish", resource: res("topic", "a/t1"), ctx: thingCtx("t1")},
				{name: "old alias literal", action: "iot:Publish", resource: res("topic", "a/${iot:Thing.ThingName}"), ctx: thingCtx("t1"), allowed: true},
				{name: "unknown variable literal", action: "iot:Publish", resource: res("topic", "b/${iot:Domain}"), ctx: thingCtx("t1"), allowed: true},
				{name: "variable names ignore case", action: "iot:Publish", resource: res("topic", "c/t1"), ctx: thingCtx("t1"), allowed: true},
			},
		},
	}
	var golden []string
	for _, tc := range tests {
		golden = append(golden, "# "+tc.name)
		t.Run(tc.name, func(t *testing.T) {
			var named []Named
			for name, doc := range tc.policies {
				named = append(named, Named{Name: name, Policy: mustParse(t, doc)})
			}
			golden = append(golden, runCases(t, NewSet(named...), tc.cases)...)
		})
	}
	checkGolden(t, "decisions/behaviour.golden", []byte(strings.Join(golden, "\n")+"\n"))
}

func TestZeroValuesDeny(t *testing.T) {
	t.Parallel()
	var zero Decision
	if zero.Allowed {
		t.Error("zero Decision allows")
	}
	var nilSet *Set
	req := Request{Action: "iot:Connect", Resource: res("client", "c")}
	if d := nilSet.Evaluate(req); d.Allowed || d.Reason != defaultDeny.Reason {
		t.Errorf("nil Set Evaluate = %+v, want default deny", d)
	}
	if d := nilSet.Bind(Context{}).Evaluate(req.Action, req.Resource); d.Allowed {
		t.Errorf("nil Set Bind.Evaluate = %+v, want deny", d)
	}
	var nilBound *Bound
	if d := nilBound.Evaluate(req.Action, req.Resource); d.Allowed {
		t.Errorf("nil Bound Evaluate = %+v, want deny", d)
	}
	if d := NewSet().Evaluate(req); d.Allowed || d.Statement != -1 {
		t.Errorf("empty Set Evaluate = %+v, want default deny", d)
	}
}

func TestDecisionErr(t *testing.T) {
	t.Parallel()
	if err := (Decision{Allowed: true}).Err(); err != nil {
		t.Errorf("allowed Err() = %v, want nil", err)
	}
	err := defaultDeny.Err()
	var de *DeniedError
	if !errors.As(err, &de) || err.Error() != "not authorized: no statement matched (default deny)" {
		t.Errorf("denied Err() = %v, want DeniedError with the reason", err)
	}
}

func TestSetOrdersPoliciesByName(t *testing.T) {
	t.Parallel()
	doc := `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}`
	p := mustParse(t, doc)
	a := NewSet(Named{"zeta", p}, Named{"alpha", p}, Named{"nil", nil})
	b := NewSet(Named{"alpha", p}, Named{"zeta", p})
	req := Request{Action: "iot:Connect", Resource: "*"}
	if da, db := a.Evaluate(req), b.Evaluate(req); da != db || da.Policy != "alpha" {
		t.Errorf("Evaluate = %+v and %+v, want both denied by alpha", da, db)
	}
}

func TestARN(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, action, resType, resName, want string
	}{
		{"connect", "iot:Connect", ResourceClient, "c1", "arn:aws:iot:us-east-1:123456789012:client/c1"},
		{"publish", "iot:publish", ResourceTopic, "foo/bar", "arn:aws:iot:us-east-1:123456789012:topic/foo/bar"},
		{"subscribe", "iot:Subscribe", ResourceTopicFilter, "a/+/#", "arn:aws:iot:us-east-1:123456789012:topicfilter/a/+/#"},
		{"receive", "iot:Receive", ResourceTopic, "x", "arn:aws:iot:us-east-1:123456789012:topic/x"},
		{"retain", "iot:RetainPublish", ResourceTopic, "x", "arn:aws:iot:us-east-1:123456789012:topic/x"},
		{"named shadow", "iot:UpdateThingShadow", ResourceThing, "thingOne/shadowOne", "arn:aws:iot:us-east-1:123456789012:thing/thingOne/shadowOne"},
		{"jobs", "iot:DescribeJobExecution", ResourceThing, "t", "arn:aws:iot:us-east-1:123456789012:thing/t"},
		{"role alias", "iot:AssumeRoleWithCertificate", ResourceRoleAlias, "r", "arn:aws:iot:us-east-1:123456789012:rolealias/r"},
		{"list retained", "iot:ListRetainedMessages", "", "", ""},
		{"unknown", "iot:Nope", "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ResourceType(tc.action); got != tc.resType {
				t.Errorf("ResourceType(%q) = %q, want %q", tc.action, got, tc.resType)
			}
			if tc.want == "" {
				return
			}
			if got := ARN(testRegion, testAccount, tc.resType, tc.resName); got != tc.want {
				t.Errorf("ARN(..., %q, %q) = %q, want %q", tc.resType, tc.resName, got, tc.want)
			}
		})
	}
}

func TestListActionsNeedStarResource(t *testing.T) {
	t.Parallel()
	s := NewSet(Named{"p", mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iot:ListRetainedMessages","Resource":"arn:aws:iot:us-east-1:123456789012:topic/*"},
		{"Effect":"Allow","Action":"iot:ListNamedShadowsForThing","Resource":"*"}]}`)})
	if d := s.Evaluate(Request{Action: "iot:ListRetainedMessages", Resource: AnyResource}); d.Allowed {
		t.Errorf("ListRetainedMessages with topic resource = %+v, want denied", d)
	}
	if d := s.Evaluate(Request{Action: "iot:ListNamedShadowsForThing", Resource: AnyResource}); !d.Allowed {
		t.Errorf("ListNamedShadowsForThing with * = %+v, want allowed", d)
	}
}

func TestDefaultThingPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, region, account string
		doc                   []byte
	}{
		{"wildcard region and account", testRegion, testAccount, DefaultThingPolicy()},
		{"concrete region and account", testRegion, testAccount, ThingPolicy(testRegion, testAccount)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := mustParse(t, string(tc.doc))
			s := NewSet(Named{"thingcore-default", p})
			own := thingCtx("lamp-1")
			runCases(t, s, []evalCase{
				{name: "connect as own thing", action: "iot:Connect", resource: res("client", "lamp-1"), ctx: own, allowed: true},
				{name: "connect when not attached", action: "iot:Connect", resource: res("client", "lamp-1"),
					ctx: Context{ClientID: "lamp-1", ThingName: "lamp-1"}},
				{name: "connect as another client", action: "iot:Connect", resource: res("client", "lamp-2"), ctx: own},
				{name: "connect without a thing", action: "iot:Connect", resource: res("client", "lamp-1"), ctx: Context{ClientID: "lamp-1", IsAttached: true}},
				{name: "subscribe hash", action: "iot:Subscribe", resource: res("topicfilter", "#"), ctx: own},
				{name: "subscribe things plus", action: "iot:Subscribe", resource: res("topicfilter", "$aws/things/+/shadow/#"), ctx: own},
				{name: "subscribe other thing", action: "iot:Subscribe", resource: res("topicfilter", "$aws/things/lamp-2/shadow/update/delta"), ctx: own},
				{name: "subscribe own shadow hash", action: "iot:Subscribe", resource: res("topicfilter", "$aws/things/lamp-1/shadow/#"), ctx: own, allowed: true},
				{name: "subscribe own jobs", action: "iot:Subscribe", resource: res("topicfilter", "$aws/things/lamp-1/jobs/notify-next"), ctx: own, allowed: true},
				{name: "subscribe own namespace", action: "iot:Subscribe", resource: res("topicfilter", "things/lamp-1/cmd/+"), ctx: own, allowed: true},
				{name: "subscribe prefix-named thing", action: "iot:Subscribe", resource: res("topicfilter", "things/lamp-10/#"), ctx: own},
				{name: "publish own shadow update", action: "iot:Publish", resource: res("topic", "$aws/things/lamp-1/shadow/update"), ctx: own, allowed: true},
				{name: "publish own named shadow", action: "iot:Publish", resource: res("topic", "$aws/things/lamp-1/shadow/name/s/get"), ctx: own, allowed: true},
				{name: "publish other shadow", action: "iot:Publish", resource: res("topic", "$aws/things/lamp-2/shadow/update"), ctx: own},
				{name: "publish elsewhere", action: "iot:Publish", resource: res("topic", "lamps/all"), ctx: own},
				{name: "retain publish", action: "iot:RetainPublish", resource: res("topic", "things/lamp-1/state"), ctx: own},
				{name: "receive own", action: "iot:Receive", resource: res("topic", "things/lamp-1/cmd/on"), ctx: own, allowed: true},
				{name: "receive other", action: "iot:Receive", resource: res("topic", "things/lamp-2/cmd/on"), ctx: own},
			})
		})
	}
}
