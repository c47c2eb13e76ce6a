package policy

import (
	"strings"
	"testing"
)

// benchSet is a realistic certificate: AWS's shadow example, the default
// thing policy and a deny policy.
func benchSet(b *testing.B) *Set {
	fix := strings.NewReplacer("[AWS_REGION]", testRegion, "[AWS_ACCOUNT_ID]", testAccount)
	return NewSet(
		Named{"shadow", mustParse(b, fix.Replace(readExample(b, "a_shadow_thing")))},
		Named{"default", mustParse(b, string(ThingPolicy(testRegion, testAccount)))},
		Named{"deny-admin", mustParse(b, `{"Version":"2012-10-17","Statement":[
			{"Effect":"Deny","Action":["iot:Publish","iot:Receive"],"Resource":"arn:aws:iot:us-east-1:123456789012:topic/admin/*"}]}`)},
	)
}

func BenchmarkEvaluate(b *testing.B) {
	s := benchSet(b)
	ctx := Context{ClientID: "thingOne", ThingName: "thingOne", IsAttached: true}
	reqs := []struct{ name, action, resource string }{
		{"publish-allowed", "iot:Publish", res("topic", "things/thingOne/telemetry/temp")},
		{"receive-allowed", "iot:Receive", res("topic", "$aws/things/thingOne/shadow/update/delta")},
		{"publish-denied", "iot:Publish", res("topic", "things/thingTwo/telemetry/temp")},
	}
	for _, r := range reqs {
		b.Run("Set/"+r.name, func(b *testing.B) {
			req := Request{Action: r.action, Resource: r.resource, Context: ctx}
			b.ReportAllocs()
			for b.Loop() {
				s.Evaluate(req)
			}
		})
		b.Run("Bound/"+r.name, func(b *testing.B) {
			bound := s.Bind(ctx)
			b.ReportAllocs()
			for b.Loop() {
				bound.Evaluate(r.action, r.resource)
			}
		})
	}
	b.Run("Bind", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.Bind(ctx)
		}
	})
}

func TestBoundEvaluateDoesNotAllocate(t *testing.T) {
	s := NewSet(Named{"default", mustParse(t, string(ThingPolicy(testRegion, testAccount)))})
	bound := s.Bind(Context{ClientID: "t", ThingName: "t", IsAttached: true})
	allowed, denied := res("topic", "things/t/x"), res("topic", "things/u/x")
	n := testing.AllocsPerRun(100, func() {
		bound.Evaluate("iot:Publish", allowed)
		bound.Evaluate("iot:Receive", denied)
		s.Evaluate(Request{Action: "iot:Publish", Resource: allowed, Context: Context{ThingName: "t"}})
	})
	if n != 0 {
		t.Errorf("Evaluate allocates %v times per run, want 0", n)
	}
}
