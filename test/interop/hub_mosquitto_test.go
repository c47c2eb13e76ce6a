package interop

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/thingcore/thingcore/internal/hub"
	"github.com/thingcore/thingcore/internal/hubtest"
)

// hubMosq runs mosquitto_pub and mosquitto_sub as devices of one hub, each
// with its thing folder from h.NewDevice.
type hubMosq struct {
	t        *testing.T
	h        *hubtest.Hub
	pub, sub string
	stdbuf   string
	version  string // mqttv311 or mqttv5
}

// args are the connection flags for device d with client id = its thing.
func (m *hubMosq) args(d *hubtest.Device) []string {
	return []string{"-V", m.version, "-h", "localhost", "-p", hostPort(m.t, m.h.Endpoints.MQTT),
		"--cafile", d.CA, "--cert", d.CertFile, "--key", d.KeyFile, "-i", d.Thing}
}

// subscribe starts mosquitto_sub -d for d and waits until it has printed
// the broker's SUBACK codes, whatever they are. -d logs the packets to
// stdout, which stdbuf makes line-buffered so the SUBACK shows while it runs.
func (m *hubMosq) subscribe(d *hubtest.Device, extra ...string) *proc {
	m.t.Helper()
	args := append([]string{"-oL", m.sub}, m.args(d)...)
	p := start(m.t, nil, m.stdbuf, append(append(args, "-d", "-W", "30"), extra...)...)
	waitOutput(m.t, p, 30*time.Second, subackCodes)
	return p
}

// suback returns the reason codes of the SUBACK a mosquitto_sub -d printed,
// or "" if none.
func suback(p *proc) string {
	if got := subackCodes.FindStringSubmatch(p.stdout.String()); got != nil {
		return got[1]
	}
	return ""
}

// publish runs mosquitto_pub for d to completion.
func (m *hubMosq) publish(d *hubtest.Device, extra ...string) result {
	m.t.Helper()
	return run(m.t, nil, m.pub, append(m.args(d), extra...)...)
}

// subackCodes are the codes mosquitto_sub -d printed for its SUBACK:
// "Subscribed (mid: 1): 128".
var subackCodes = regexp.MustCompile(`Subscribed \(mid: \d+\): ([\d, ]+)\n`)

// pubackRC is the reason code mosquitto_pub -d printed for its PUBACK:
// "received PUBACK (Mid: 1, RC:0)".
var pubackRC = regexp.MustCompile(`received PUBACK \(Mid: \d+, RC:(\d+)\)`)

const hubShadowPayload = `{"state":{"reported":{"temperature":22}}}`

// TestHubMosquitto is the seed scenario: two devices onboarded through the
// hub's API, mosquitto_sub and mosquitto_pub with their thing folders, over
// MQTT 3.1.1 and 5.
func TestHubMosquitto(t *testing.T) {
	pub, sub, stdbuf := need(t, "mosquitto_pub"), need(t, "mosquitto_sub"), need(t, "stdbuf")
	for _, v := range mosqVersions {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			// The "stub authorizer": any authenticated device may do anything,
			// so B may read A's shadow topic.
			t.Run("allow-all/B-receives-A-shadow-update", func(t *testing.T) {
				h := hubtest.Start(t, hubtest.Options{Config: hub.Config{InsecureAllowAll: true}})
				a, b := h.NewDevice(t, "A"), h.NewDevice(t, "B")
				m := &hubMosq{t: t, h: h, pub: pub, sub: sub, stdbuf: stdbuf, version: v.flag}
				const topic = "$aws/things/A/shadow/update"
				s := m.subscribe(b, "-t", topic, "-q", "1", "-C", "1")
				if got := suback(s); got != "1" {
					t.Fatalf("mosquitto_sub SUBACK %q, want granted QoS 1\nstdout: %s", got, s.stdout.String())
				}
				if r := m.publish(a, "-t", topic, "-q", "1", "-m", hubShadowPayload); r.code != 0 {
					t.Fatalf("mosquitto_pub as A: %s", r)
				}
				if code := s.wait(t); code != 0 {
					t.Fatalf("mosquitto_sub as B exit %d\nstdout: %s\nstderr: %s", code, s.stdout.String(), s.stderr.String())
				}
				// Among -d's packet log, the message alone on its line.
				if got := strings.Split(strings.TrimRight(s.stdout.String(), "\n"), "\n"); !slices.Contains(got, hubShadowPayload) {
					t.Errorf("mosquitto_sub as B printed %q, want a line %q", got, hubShadowPayload)
				}
			})
			// The default thing policy: each device its own topics only.
			t.Run("default-policy", func(t *testing.T) {
				h := hubtest.Start(t, hubtest.Options{})
				a, b := h.NewDevice(t, "A"), h.NewDevice(t, "B")
				m := &hubMosq{t: t, h: h, pub: pub, sub: sub, stdbuf: stdbuf, version: v.flag}
				refused := "128" // MQTT 3.1.1 SUBACK failure
				if v.flag == "mqttv5" {
					refused = "135" // 0x87 Not authorized
				}
				for _, tc := range []struct {
					name string
					run  func(t *testing.T)
				}{
					{"A-publishes-own-shadow", func(t *testing.T) {
						// QoS 1: exit 0 means the hub acknowledged the publish
						// rather than closing the connection.
						r := m.publish(a, "-t", "$aws/things/A/shadow/update", "-q", "1", "-m", hubShadowPayload, "-d")
						if r.code != 0 {
							t.Fatalf("mosquitto_pub as A to its own shadow: %s, want exit 0", r)
						}
						// MQTT 5 may say 0x10 No matching subscribers; any
						// code below 0x80 is a success.
						rc := pubackRC.FindStringSubmatch(r.stdout)
						code := -1
						if rc != nil {
							code, _ = strconv.Atoi(rc[1]) // \d+: on overflow Atoi gives MaxInt
						}
						if code < 0 || code >= 0x80 {
							t.Errorf("mosquitto_pub as A: %s, want a successful PUBACK", r)
						}
					}},
					{"B-subscribes-own-shadow", func(t *testing.T) {
						s := m.subscribe(b, "-t", "$aws/things/B/shadow/update", "-q", "1", "-E")
						if code := s.wait(t); code != 0 {
							t.Fatalf("mosquitto_sub -E as B exit %d\nstderr: %s", code, s.stderr.String())
						}
						if got := suback(s); got != "1" {
							t.Errorf("SUBACK for B's own shadow %q, want 1\nstdout: %s", got, s.stdout.String())
						}
					}},
					{"B-refused-A-shadow", func(t *testing.T) {
						s := m.subscribe(b, "-t", "$aws/things/A/shadow/update", "-q", "1", "-E")
						s.wait(t)
						if got := suback(s); got != refused {
							t.Errorf("SUBACK for A's shadow %q, want %s\nstdout: %s", got, refused, s.stdout.String())
						}
						if !strings.Contains(s.stderr.String(), "All subscription requests were denied") {
							t.Errorf("mosquitto_sub stderr %q, want it to say the subscription was denied", s.stderr.String())
						}
						h.Logs.WaitFor(t, 10*time.Second, "subscription refused", `"client_id":"B"`, "$aws/things/A/shadow/update")
					}},
					{"B-refused-hash", func(t *testing.T) {
						s := m.subscribe(b, "-t", "#", "-q", "1", "-E")
						s.wait(t)
						if got := suback(s); got != refused {
							t.Errorf("SUBACK for # %q, want %s\nstdout: %s", got, refused, s.stdout.String())
						}
					}},
					{"A-refused-publishing-to-B-shadow", func(t *testing.T) {
						r := m.publish(a, "-t", "$aws/things/B/shadow/update", "-q", "1", "-m", hubShadowPayload, "-d")
						if v.flag == "mqttv5" {
							// MQTT 5: PUBACK 0x87, which mosquitto_pub reports.
							if !strings.Contains(r.stderr+r.stdout, "Not authorized") {
								t.Errorf("mosquitto_pub -V 5 as A to B's shadow: %s, want a Not authorized PUBACK", r)
							}
						} else if r.code == 0 {
							// MQTT 3.1.1: AWS closes the connection.
							t.Errorf("mosquitto_pub -V 311 as A to B's shadow: %s, want the connection closed (non-zero exit)", r)
						}
						h.Logs.WaitFor(t, 10*time.Second, "publish refused", `"client_id":"A"`, "$aws/things/B/shadow/update")
					}},
				} {
					t.Run(tc.name, tc.run)
				}
			})
		})
	}
}
