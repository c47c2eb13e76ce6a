package policy

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// thingCtx is a connection of thing `name` whose client ID is its name and
// whose certificate is attached to it.
func thingCtx(name string) Context {
	return Context{ClientID: name, ThingName: name, IsAttached: true}
}

type example struct {
	name string // file in testdata/examples, without .json
	// fix replaces the example's placeholders before evaluation.
	fix   func(string) string
	cases []evalCase
}

var examples = []example{
	{
		name: "a_shadow_thing",
		fix: func(s string) string {
			return strings.NewReplacer("[AWS_REGION]", testRegion, "[AWS_ACCOUNT_ID]", testAccount).Replace(s)
		},
		cases: []evalCase{
			{name: "connect as own thing name", action: "iot:Connect", resource: res("client", "thingOne"),
				ctx: thingCtx("thingOne"), allowed: true, reason: "allowed by policy a_shadow_thing statement 0"},
			{name: "connect as another client id", action: "iot:Connect", resource: res("client", "thingTwo"),
				ctx: thingCtx("thingOne")},
			{name: "connect without a thing", action: "iot:Connect", resource: res("client", "thingOne"),
				ctx: Context{ClientID: "thingOne"}, reason: "no statement matched (default deny)"},
			{name: "unresolved variable matches nothing, not even its literal text", action: "iot:Connect",
				resource: res("client", "${iot:Connection.Thing.ThingName}"), ctx: Context{ClientID: "x"},
				reason: "no statement matched (default deny)"},
			{name: "subscribe own update accepted", action: "iot:Subscribe",
				resource: res("topicfilter", "$aws/things/thingOne/shadow/update/accepted"), ctx: thingCtx("thingOne"),
				allowed: true, reason: "allowed by policy a_shadow_thing statement 1"},
			{name: "subscribe own delete rejected", action: "iot:Subscribe",
				resource: res("topicfilter", "$aws/things/thingOne/shadow/delete/rejected"), ctx: thingCtx("thingOne"), allowed: true},
			{name: "subscribe own get accepted is not listed", action: "iot:Subscribe",
				resource: res("topicfilter", "$aws/things/thingOne/shadow/get/accepted"), ctx: thingCtx("thingOne")},
			{name: "subscribe other thing", action: "iot:Subscribe",
				resource: res("topicfilter", "$aws/things/thingTwo/shadow/update/accepted"), ctx: thingCtx("thingOne")},
			{name: "subscribe plus across things", action: "iot:Subscribe",
				resource: res("topicfilter", "$aws/things/+/shadow/update/accepted"), ctx: thingCtx("thingOne")},
			{name: "subscribe hash", action: "iot:Subscribe", resource: res("topicfilter", "#"), ctx: thingCtx("thingOne")},
			{name: "subscribe own shadow hash", action: "iot:Subscribe",
				resource: res("topicfilter", "$aws/things/thingOne/shadow/#"), ctx: thingCtx("thingOne")},
			{name: "receive own delta", action: "iot:Receive",
				resource: res("topic", "$aws/things/thingOne/shadow/update/delta"), ctx: thingCtx("thingOne"),
				allowed: true, reason: "allowed by policy a_shadow_thing statement 2"},
			{name: "receive other thing delta", action: "iot:Receive",
				resource: res("topic", "$aws/things/thingTwo/shadow/update/delta"), ctx: thingCtx("thingOne")},
			{name: "publish own update", action: "iot:Publish",
				resource: res("topic", "$aws/things/thingOne/shadow/update"), ctx: thingCtx("thingOne"),
				allowed: true, reason: "allowed by policy a_shadow_thing statement 3"},
			{name: "publish own get", action: "iot:Publish",
				resource: res("topic", "$aws/things/thingOne/shadow/get"), ctx: thingCtx("thingOne"), allowed: true},
			{name: "publish to an accepted topic", action: "iot:Publish",
				resource: res("topic", "$aws/things/thingOne/shadow/update/accepted"), ctx: thingCtx("thingOne")},
			{name: "publish with retain needs RetainPublish", action: "iot:RetainPublish",
				resource: res("topic", "$aws/things/thingOne/shadow/update"), ctx: thingCtx("thingOne")},
			{name: "publish in another region", action: "iot:Publish",
				resource: ARN("eu-west-1", testAccount, "topic", "$aws/things/thingOne/shadow/update"), ctx: thingCtx("thingOne")},
			{name: "http shadow action not granted", action: "iot:GetThingShadow",
				resource: res("thing", "thingOne"), ctx: thingCtx("thingOne")},
		},
	},
	{
		name: "b_defender_compact",
		cases: []evalCase{
			{name: "publish own classic shadow", action: "iot:Publish",
				resource: res("topic", "$aws/things/thingOne/shadow/update"), ctx: thingCtx("thingOne"), allowed: true},
			{name: "publish own named shadow", action: "iot:Publish",
				resource: res("topic", "$aws/things/thingOne/shadow/name/lamp/update"), ctx: thingCtx("thingOne"), allowed: true},
			{name: "publish own jobs is not granted", action: "iot:Publish",
				resource: res("topic", "$aws/things/thingOne/jobs/get"), ctx: thingCtx("thingOne")},
			{name: "subscribe own shadow hash", action: "iot:Subscribe",
				resource: res("topicfilter", "$aws/things/thingOne/shadow/#"), ctx: thingCtx("thingOne"), allowed: true},
			{name: "subscribe own jobs notify", action: "iot:Subscribe",
				resource: res("topicfilter", "$aws/things/thingOne/jobs/notify-next"), ctx: thingCtx("thingOne"), allowed: true},
			{name: "subscribe plus thing is non-compliant and denied", action: "iot:Subscribe",
				resource: res("topicfilter", "$aws/things/+/shadow/update"), ctx: thingCtx("thingOne")},
			{name: "subscribe all things is denied", action: "iot:Subscribe",
				resource: res("topicfilter", "$aws/things/#"), ctx: thingCtx("thingOne")},
			{name: "receive any thing topic", action: "iot:Receive",
				resource: res("topic", "$aws/things/thingTwo/shadow/update/accepted"), ctx: thingCtx("thingOne"), allowed: true},
			{name: "receive outside things", action: "iot:Receive", resource: res("topic", "other"), ctx: thingCtx("thingOne")},
		},
	},
	{
		name: "c_is_attached",
		cases: []evalCase{
			{name: "attached thing connects with any client id", action: "iot:Connect", resource: res("client", "anything"),
				ctx: Context{ClientID: "anything", ThingName: "thingOne", IsAttached: true}, allowed: true,
				reason: "allowed by policy c_is_attached statement 0"},
			{name: "not attached", action: "iot:Connect", resource: res("client", "thingOne"),
				ctx: Context{ClientID: "thingOne", ThingName: "thingOne"}},
			{name: "only connect is granted", action: "iot:Publish", resource: res("topic", "a"), ctx: thingCtx("thingOne")},
		},
	},
	{
		name: "d_thing_attributes",
		cases: []evalCase{
			{name: "matching attribute, type and attachment", action: "iot:Publish", resource: res("topic", "device/stats"),
				ctx: Context{ClientID: "t1", ThingName: "t1", IsAttached: true, ThingTypeName: "Thing_Type_Name",
					ThingAttributes: map[string]string{"attributeName": "attributeValue"}}, allowed: true},
			{name: "other attribute value", action: "iot:Publish", resource: res("topic", "device/stats"),
				ctx: Context{ClientID: "t1", ThingName: "t1", IsAttached: true, ThingTypeName: "Thing_Type_Name",
					ThingAttributes: map[string]string{"attributeName": "other"}}},
			{name: "attribute names are case-sensitive", action: "iot:Publish", resource: res("topic", "device/stats"),
				ctx: Context{ClientID: "t1", ThingName: "t1", IsAttached: true, ThingTypeName: "Thing_Type_Name",
					ThingAttributes: map[string]string{"AttributeName": "attributeValue"}}},
			{name: "attribute missing", action: "iot:Publish", resource: res("topic", "device/stats"),
				ctx: Context{ClientID: "t1", ThingName: "t1", IsAttached: true, ThingTypeName: "Thing_Type_Name"}},
			{name: "other thing type", action: "iot:Publish", resource: res("topic", "device/stats"),
				ctx: Context{ClientID: "t1", ThingName: "t1", IsAttached: true, ThingTypeName: "Other",
					ThingAttributes: map[string]string{"attributeName": "attributeValue"}}},
			{name: "not attached", action: "iot:Publish", resource: res("topic", "device/stats"),
				ctx: Context{ClientID: "t1", ThingName: "t1", ThingTypeName: "Thing_Type_Name",
					ThingAttributes: map[string]string{"attributeName": "attributeValue"}}},
			{name: "no thing so attributes do not resolve", action: "iot:Publish", resource: res("topic", "device/stats"),
				ctx: Context{ClientID: "t1", IsAttached: true, ThingTypeName: "Thing_Type_Name",
					ThingAttributes: map[string]string{"attributeName": "attributeValue"}}},
			{name: "other topic", action: "iot:Publish", resource: res("topic", "device/stats/x"),
				ctx: Context{ClientID: "t1", ThingName: "t1", IsAttached: true, ThingTypeName: "Thing_Type_Name",
					ThingAttributes: map[string]string{"attributeName": "attributeValue"}}},
		},
	},
	{
		name: "e_client_id",
		cases: []evalCase{
			{name: "connect with own client id", action: "iot:Connect", resource: res("client", "dev1"),
				ctx: Context{ClientID: "dev1"}, allowed: true},
			{name: "publish own topic", action: "iot:Publish", resource: res("topic", "my/topic/dev1"),
				ctx: Context{ClientID: "dev1"}, allowed: true, reason: "allowed by policy e_client_id statement 1"},
			{name: "publish another client's topic", action: "iot:Publish", resource: res("topic", "my/topic/dev2"),
				ctx: Context{ClientID: "dev1"}},
			{name: "star in client id is literal", action: "iot:Publish", resource: res("topic", "my/topic/devX"),
				ctx: Context{ClientID: "dev*"}},
			{name: "star in client id matches itself", action: "iot:Publish", resource: res("topic", "my/topic/dev*"),
				ctx: Context{ClientID: "dev*"}, allowed: true},
			{name: "question mark in client id is literal", action: "iot:Publish", resource: res("topic", "my/topic/devX"),
				ctx: Context{ClientID: "dev?"}},
			{name: "empty client id is not substituted", action: "iot:Publish", resource: res("topic", "my/topic/"),
				ctx: Context{}},
		},
	},
	{
		name: "f_fleet_provisioning_claim",
		cases: []evalCase{
			{name: "connect any client id", action: "iot:Connect", resource: res("client", "claim-1"), allowed: true},
			{name: "publish create keys", action: "iot:Publish", resource: res("topic", "$aws/certificates/create/json"), allowed: true},
			{name: "receive create accepted", action: "iot:Receive",
				resource: res("topic", "$aws/certificates/create/json/accepted"), allowed: true},
			{name: "subscribe create hash", action: "iot:Subscribe",
				resource: res("topicfilter", "$aws/certificates/create/json/#"), allowed: true},
			{name: "publish register thing", action: "iot:Publish",
				resource: res("topic", "$aws/provisioning-templates/MyTemplate/provision/json"), allowed: true},
			{name: "other template", action: "iot:Publish",
				resource: res("topic", "$aws/provisioning-templates/Other/provision/json"), allowed: false},
			{name: "create from csr is not granted", action: "iot:Publish",
				resource: res("topic", "$aws/certificates/create-from-csr/json")},
			{name: "thing shadow", action: "iot:Publish", resource: res("topic", "$aws/things/x/shadow/update")},
		},
	},
}

// TestExamples evaluates every example policy of reference §1.7 and records
// each decision's reason in testdata/decisions/<example>.golden.
func TestExamples(t *testing.T) {
	t.Parallel()
	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			t.Parallel()
			doc := readExample(t, ex.name)
			p := mustParse(t, doc) // the verbatim document must parse
			if ex.fix != nil {
				p = mustParse(t, ex.fix(doc))
			}
			lines := runCases(t, NewSet(Named{ex.name, p}), ex.cases)
			checkGolden(t, "decisions/"+ex.name+".golden", []byte(strings.Join(lines, "\n")+"\n"))
		})
	}
}

// TestParsedGolden records the normalized document and the compiled form of
// every example in testdata/parsed/<example>.golden.
func TestParsedGolden(t *testing.T) {
	t.Parallel()
	names := []string{"default_thing_policy"}
	for _, ex := range examples {
		names = append(names, ex.name)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			doc := string(DefaultThingPolicy())
			if name != "default_thing_policy" {
				doc = readExample(t, name)
			}
			p := mustParse(t, doc)
			norm, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, norm, "", "  "); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, "parsed/"+name+".golden", []byte(pretty.String()+"\n----------\n"+dump(p)))
		})
	}
}
