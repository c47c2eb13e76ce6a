package interop

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/thingcore/thingcore/internal/brokertest"
)

// runNode runs a node script in test/interop with scenario as JSON on argv
// and decodes the JSON line it prints into out.
func runNode(t *testing.T, node, script string, scenario, out any) {
	t.Helper()
	in, err := json.Marshal(scenario)
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, node, script, string(in))
	if r.code != 0 {
		t.Fatalf("node %s %s: %s", script, in, r)
	}
	if err := json.Unmarshal([]byte(r.stdout), out); err != nil {
		t.Fatalf("node %s: output %q: %v (stderr: %s)", script, r.stdout, err, r.stderr)
	}
}

// mqttjsTLS is the scenario's "tls" object.
type mqttjsTLS struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
	CA   string `json:"ca"`
}

type mqttjsScenario struct {
	Scenario        string     `json:"scenario"`
	URL             string     `json:"url"`
	ProtocolVersion int        `json:"protocolVersion"`
	TLS             *mqttjsTLS `json:"tls,omitempty"`
	Prefix          string     `json:"prefix"`
	Count           int        `json:"count,omitempty"`
}

type jsMessage struct {
	Topic   string `json:"topic"`
	Payload string `json:"payload"`
	QoS     *int   `json:"qos,omitempty"`
}

type jsProps struct {
	UserProperties         map[string]any `json:"userProperties"`
	ContentType            *string        `json:"contentType"`
	PayloadFormatIndicator *bool          `json:"payloadFormatIndicator"`
	ResponseTopic          *string        `json:"responseTopic"`
	CorrelationData        *string        `json:"correlationData"`
}

type jsPropMessage struct {
	Topic   string  `json:"topic"`
	Payload string  `json:"payload"`
	Props   jsProps `json:"props"`
}

func ptr[T any](v T) *T { return &v }

// TestMQTTJS drives mqtt.js over mTLS and WebSocket with MQTT 3.1.1 and 5.
func TestMQTTJS(t *testing.T) {
	node := needNodeModules(t, "mqtt")
	for _, tr := range []string{"mtls", "ws"} {
		for _, v := range []struct {
			name string
			n    int
		}{{"v311", 4}, {"v5", 5}} {
			t.Run(tr+"/"+v.name, func(t *testing.T) {
				t.Parallel()
				srv := brokertest.Start(t, brokertest.Options{TLS: tr == "mtls", WebSocket: tr == "ws"})
				base := mqttjsScenario{ProtocolVersion: v.n}
				if tr == "mtls" {
					f := srv.ClientFiles(t, "ec", "mqttjs")
					base.URL = "mqtts://localhost:" + brokertest.Port(srv.TLSAddr)
					base.TLS = &mqttjsTLS{Cert: f.Cert, Key: f.Key, CA: f.CA}
				} else {
					base.URL = "ws://127.0.0.1:" + brokertest.Port(srv.WSAddr) + "/mqtt"
				}
				scenario := func(name string) mqttjsScenario {
					s := base
					s.Scenario = name
					s.Prefix = fmt.Sprintf("js-%s-%s-%s", tr, v.name, name)
					return s
				}

				t.Run("round-trip", func(t *testing.T) {
					sc := scenario("round-trip")
					var got struct {
						Granted  []int       `json:"granted"`
						Received []jsMessage `json:"received"`
					}
					runNode(t, node, "mqttjs.mjs", sc, &got)
					want := []jsMessage{
						{Topic: sc.Prefix + "/rt/0", Payload: "m0", QoS: ptr(0)},
						{Topic: sc.Prefix + "/rt/1", Payload: "m1", QoS: ptr(1)},
						{Topic: sc.Prefix + "/rt/2", Payload: "m2", QoS: ptr(2)},
					}
					if !slices.Equal(got.Granted, []int{2}) {
						t.Errorf("SUBACK granted %v, want [2]", got.Granted)
					}
					if d := cmp.Diff(want, got.Received); d != "" {
						t.Errorf("received (-want +got):\n%s", d)
					}
				})

				t.Run("shared-subscription", func(t *testing.T) {
					sc := scenario("shared")
					sc.Count = 40
					var got struct{ A, B []string }
					runNode(t, node, "mqttjs.mjs", sc, &got)
					all := append(slices.Clone(got.A), got.B...)
					slices.Sort(all)
					var want []string
					for i := range sc.Count {
						want = append(want, fmt.Sprintf("n%d", i))
					}
					slices.Sort(want)
					if d := cmp.Diff(want, all); d != "" {
						t.Errorf("messages received by the group (-want +got):\n%s\na: %v\nb: %v", d, got.A, got.B)
					}
					// Random choice among live members: with 40 messages a
					// member getting none has probability 2^-39.
					if len(got.A) == 0 || len(got.B) == 0 {
						t.Errorf("one member got every message: a %d, b %d", len(got.A), len(got.B))
					}
				})

				if v.n != 5 {
					return
				}
				t.Run("properties-pass-through", func(t *testing.T) {
					sc := scenario("properties")
					var got struct{ Request, Reply jsPropMessage }
					runNode(t, node, "mqttjs.mjs", sc, &got)
					want := jsPropMessage{
						Topic:   sc.Prefix + "/req",
						Payload: `{"ask":1}`,
						Props: jsProps{
							UserProperties:         map[string]any{"a": "1", "b": []any{"x", "y"}},
							ContentType:            ptr("application/json"),
							PayloadFormatIndicator: ptr(true),
							ResponseTopic:          ptr(sc.Prefix + "/reply"),
							CorrelationData:        ptr("corr-1"),
						},
					}
					if d := cmp.Diff(want, got.Request); d != "" {
						t.Errorf("request (-want +got):\n%s", d)
					}
					wantReply := jsPropMessage{Topic: sc.Prefix + "/reply", Payload: "answer", Props: jsProps{CorrelationData: ptr("corr-1")}}
					if d := cmp.Diff(wantReply, got.Reply); d != "" {
						t.Errorf("reply (-want +got):\n%s", d)
					}
				})

				t.Run("topic-alias", func(t *testing.T) {
					sc := scenario("topic-alias")
					var got struct {
						TopicAliasMaximum *int        `json:"topicAliasMaximum"`
						Received          []jsMessage `json:"received"`
					}
					runNode(t, node, "mqttjs.mjs", sc, &got)
					if got.TopicAliasMaximum == nil || *got.TopicAliasMaximum != 8 {
						t.Errorf("CONNACK Topic Alias Maximum = %v, want 8", got.TopicAliasMaximum)
					}
					topic := sc.Prefix + "/alias/t"
					want := []jsMessage{{Topic: topic, Payload: "first"}, {Topic: topic, Payload: "second"}}
					if d := cmp.Diff(want, got.Received); d != "" {
						t.Errorf("received (-want +got):\n%s", d)
					}
				})
			})
		}
	}
}
