package shadow

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// step is one request in a scenario. op is "update", "get" or "delete";
// at is seconds after t0.
type step struct {
	op    string
	at    int64
	body  string // update body
	token string // get/delete clientToken
}

func upd(at int64, body string) step  { return step{op: "update", at: at, body: body} }
func get(at int64, token string) step { return step{op: "get", at: at, token: token} }

// scenarios are run against a fresh Document; every response body goes
// into testdata/scenarios/<name>.golden.
var scenarios = []struct {
	name  string
	lim   Limits
	steps []step
}{
	{name: "aws_tutorial", steps: []step{ // DG-arch using-device-shadows.md, §1.4–§1.7
		upd(0, `{"state":{"reported":{"ID":"SmartLamp21","ColorRGB":[128,128,128]}}}`),
		upd(60, `{"state":{"desired":{"ColorRGB":[255,255,0]}},"clientToken":"21b21b21-bfd2-4279-8c65-e2f697ff4fab"}`),
		get(70, "426bfd96-e720-46d3-95cd-014e3ef12bb6"),
		upd(120, `{"state":{"reported":{"ColorRGB":[255,255,0]}},"clientToken":"a4dc2227-9213-4c6a-a6a5-053304f60258"}`),
		get(130, ""),
	}},
	{name: "partial_merge_keeps_timestamps", steps: []step{
		upd(0, `{"state":{"reported":{"Color":"red","Status":"Good","nested":{"a":1,"b":2}}}}`),
		upd(10, `{"state":{"reported":{"Status":"Great","nested":{"b":3}}}}`),
		upd(20, `{"state":{"desired":{"Status":"Great"}}}`),
		get(30, ""),
	}},
	{name: "null_removes_keys", steps: []step{ // §1.10; nested objects emptied by null are kept (§5.6)
		upd(0, `{"state":{"desired":{"a":1,"b":{"c":2,"d":3},"e":"x"}}}`),
		upd(10, `{"state":{"desired":{"b":{"c":null}}}}`),
		upd(20, `{"state":{"desired":{"a":null,"b":{"d":null},"missing":null}}}`),
		get(30, ""),
		upd(40, `{"state":{"desired":{"b":null,"e":null}}}`),
		get(50, ""),
	}},
	{name: "section_null", steps: []step{
		upd(0, `{"state":{"desired":{"a":1},"reported":{"a":2}}}`),
		upd(10, `{"state":{"desired":null}}`),
		get(20, ""),
	}},
	{name: "state_null_clears_both", steps: []step{
		upd(0, `{"state":{"desired":{"a":1},"reported":{"b":2}},"clientToken":"c1"}`),
		upd(10, `{"state":null,"clientToken":"c2"}`),
		get(20, ""),
		upd(30, `{"state":{"desired":{"a":1}}}`),
	}},
	{name: "empty_objects", steps: []step{ // moto "Insert new dicts", "No data", "Missing data"
		upd(0, `{"state":{"desired":{}}}`),
		get(1, ""),
		upd(2, `{"state":{"reported":{"online":null}}}`),
		get(3, ""),
		upd(4, `{"state":{"desired":{"a":1,"b":{"c":3},"d":{}},"reported":{}}}`),
		upd(5, `{"state":{"reported":{"x":{"y":null}}}}`),
		get(6, ""),
	}},
	{name: "arrays_replaced_whole", steps: []step{
		upd(0, `{"state":{"desired":{"list":[1,2,3],"objs":[{"a":1},[true]]},"reported":{"list":[1,2,3],"objs":[{"a":1},[true]]}}}`),
		get(1, ""),
		upd(2, `{"state":{"desired":{"list":[1,2]}}}`),
		upd(3, `{"state":{"reported":{"objs":[{"a":1},[true,false]]}}}`),
		upd(4, `{"state":{"reported":{"list":[2,1]}}}`),
		get(5, ""),
	}},
	{name: "type_changes", steps: []step{ // moto test_update_desired
		upd(0, `{"state":{"desired":{"b":{"c":3}}}}`),
		upd(1, `{"state":{"desired":{"b":{"c":{"d":3}}}}}`),
		upd(2, `{"state":{"desired":{"b":5}}}`),
		upd(3, `{"state":{"desired":{"b":[{"x":1}]}}}`),
		upd(4, `{"state":{"desired":{"b":{"x":null}}}}`),
		get(5, ""),
	}},
	{name: "nested_delta", steps: []step{ // moto aws-verified delta cases
		upd(0, `{"state":{"desired":{"a":{"b":{"c":"d2"}}},"reported":{"a":{"b":{"c":"d","e":"f"}}}}}`),
		upd(1, `{"state":{"desired":{"a":{"b":null,"b1":{"c":"d"},"b2":"sth"}},"reported":{"a":{"b1":{"c":"d"}}}}}`),
		upd(2, `{"state":{"desired":{"e":{}},"reported":{"e":{"f":1}}}}`),
		get(3, ""),
	}},
	{name: "delta_on_reported_only_updates", steps: []step{ // §1.6, PYv2 transcript
		upd(0, `{"state":{"desired":{"Status":"On","Color":"red"}},"clientToken":"d1"}`),
		upd(60, `{"state":{"reported":{"Status":"On"}},"clientToken":"r1"}`),
		upd(120, `{"state":{"reported":{"Other":1}},"clientToken":"r2"}`),
		upd(180, `{"state":{"reported":{"Color":"red"}},"clientToken":"r3"}`),
		upd(240, `{"state":{"reported":{"Status":"Off"}},"clientToken":"r4"}`),
	}},
	{name: "optimistic_locking", steps: []step{ // §1.11
		upd(0, `{"state":{"desired":{"a":1}},"version":0}`),
		upd(1, `{"state":{"desired":{"a":2}},"version":1,"clientToken":"ok"}`),
		upd(2, `{"state":{"desired":{"a":3}},"version":1,"clientToken":"426bfd96-e720-46d3-95cd-014e3ef12bb6"}`),
		upd(3, `{"state":{"desired":{"a":4}},"version":99}`),
		upd(4, `{"state":{"desired":{"a":5}}}`),
		get(5, ""),
	}},
	{name: "size_limit_merged", lim: Limits{MaxBytes: 64}, steps: []step{ // §1.12, 8 KB scaled down
		upd(0, `{"state":{"desired":{"a":"0123456789012345678901234567890123456789"}}}`),
		upd(1, `{"state":{"reported":{"b":"0123456789012345678901234567890123456789"}},"clientToken":"big"}`),
		upd(2, `{"state":{"desired":{"a":null},"reported":{"b":"0123456789012345678901234567890123456789"}}}`),
		get(3, ""),
	}},
	{name: "delete_and_recreate", steps: []step{ // §1.8
		upd(0, `{"state":{"desired":{"a":1}}}`),
		upd(1, `{"state":{"desired":{"a":2}}}`),
		{op: "delete", at: 2, token: "del"},
		upd(3, `{"state":{"reported":{"a":2}}}`),
		get(4, ""),
	}},
	{name: "accepted_echo", steps: []step{ // §1.5: request state echoed, nulls and empties included
		upd(0, `{"state":{"desired":{"prop1":"13"},"reported":{}}}`),
		upd(1, `{"state":{"desired":{"engine":null,"x":{"y":null,"z":[1,{"q":2}]}},"reported":null},"clientToken":"e"}`),
	}},
	{name: "number_and_string_fidelity", steps: []step{
		upd(0, `{"state":{"desired":{"a":1.0,"b":1e2,"c":-0,"d":12345678901234567890123,"s":"<a&b> \u00e9 \u2028 \"q\" \n"},"reported":{"a":1,"b":100,"d":12345678901234567890124}}}`),
		get(1, ""),
	}},
}

func TestScenarios(t *testing.T) {
	t.Parallel()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			var d Document
			var out strings.Builder
			for _, s := range sc.steps {
				now := t0.Add(time.Duration(s.at) * time.Second)
				switch s.op {
				case "update":
					fmt.Fprintf(&out, "== update @%d\n%s\n", now.Unix(), s.body)
					u, e := ParseUpdate([]byte(s.body), sc.lim)
					if e != nil {
						fmt.Fprintf(&out, "rejected: %s\n", e.JSON())
						continue
					}
					before := string(d.Marshal())
					a, docs, delta, e := d.Apply(u, now, sc.lim)
					if e != nil {
						if after := string(d.Marshal()); after != before {
							t.Errorf("Apply(%s) failed but changed the document:\n%s\n->\n%s", s.body, before, after)
						}
						fmt.Fprintf(&out, "rejected: %s\n", e.JSON())
						continue
					}
					fmt.Fprintf(&out, "accepted: %s\ndocuments: %s\n", a, docs)
					if delta != nil {
						fmt.Fprintf(&out, "delta: %s\n", delta)
					}
				case "get":
					fmt.Fprintf(&out, "== get @%d\n%s\n", now.Unix(), d.Get(s.token, now))
				case "delete":
					fmt.Fprintf(&out, "== delete @%d\n%s\n", now.Unix(), d.Delete(s.token, now))
				}
			}
			checkGolden(t, "scenarios/"+sc.name+".golden", []byte(out.String()))
		})
	}
}
