package interop

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/google/go-cmp/cmp"

	"github.com/thingcore/thingcore/internal/hubtest"
)

// sdkv1Event is a thingShadow event as shadow_sdkv1.mjs records it: a
// 'status' (stat accepted or rejected, doc the response without its
// clientToken), a 'delta' or a 'foreignStateChange'.
type sdkv1Event struct {
	Event       string `json:"event"`
	ThingName   string `json:"thingName"`
	Stat        string `json:"stat"`
	ClientToken string `json:"clientToken"`
	Operation   string `json:"operation"`
	Doc         struct {
		State   map[string]any `json:"state"`
		Version *int           `json:"version"`
		Code    int            `json:"code"`
		Message string         `json:"message"`
	} `json:"doc"`
}

// TestHubShadowSDKv1 drives the aws-iot-device-sdk v1 thingShadow class
// (shadow_sdkv1.mjs) with two clients registered on one thing's shadow: the
// device (its own certificate, the default thing policy) and an app (another
// thing whose certificate also has a policy for the device's shadow topics).
// It checks register, get, update, the 'delta' event, foreign state changes,
// the version the SDK sends on every update (a race where both send the same
// version: one 'rejected' with 409 Version conflict, then a retry with the
// new version succeeds), and delete.
func TestHubShadowSDKv1(t *testing.T) {
	node := needNodeModules(t, "aws-iot-device-sdk")
	h := hubtest.Start(t, hubtest.Options{})
	dev := h.NewDevice(t, "shadow-sdkv1")
	app := h.NewDevice(t, "shadow-sdkv1-app")
	allowShadow(t, h, dev.Thing, app.CertARN)
	port, err := strconv.Atoi(hostPort(t, h.Endpoints.MQTT))
	if err != nil {
		t.Fatal(err)
	}
	client := func(d *hubtest.Device) map[string]string {
		return map[string]string{"clientId": d.Thing, "cert": d.CertFile, "key": d.KeyFile}
	}
	sc := map[string]any{
		"host": "localhost", "port": port, "ca": dev.CA, "thing": dev.Thing,
		"device": client(dev), "app": client(app),
	}
	var got struct {
		GetMissing, AppDesired, DeviceDelta, DeviceForeign, DeviceReported, Get sdkv1Event
		Race                                                                    struct{ App, Device sdkv1Event }
		Retry, Delete, GetDeleted                                               sdkv1Event
		DeviceDeltas, AppDeltas                                                 []map[string]any
		Timeouts                                                                []any
	}
	runNode(t, node, "shadow_sdkv1.mjs", sc, &got)

	notFound := "No shadow exists with name: '" + dev.Thing + "'"
	wantV1Rejected(t, "get of a missing shadow", got.GetMissing, 404, notFound)
	wantV1Accepted(t, "app update desired", got.AppDesired, 1, map[string]any{"desired": map[string]any{"color": "red", "power": "on"}})
	if got.DeviceDelta.Doc.Version == nil || *got.DeviceDelta.Doc.Version != 1 ||
		!cmp.Equal(got.DeviceDelta.Doc.State, map[string]any{"color": "red", "power": "on"}) {
		t.Errorf("device delta event = %+v, want version 1, state {color:red, power:on}", got.DeviceDelta.Doc)
	}
	if v := got.DeviceForeign.Doc.Version; v == nil || *v != 1 {
		t.Errorf("device foreignStateChange for the app's update: %+v, want version 1", got.DeviceForeign.Doc)
	}
	wantV1Accepted(t, "device update reported (sent with version 1)", got.DeviceReported, 2,
		map[string]any{"reported": map[string]any{"color": "red", "power": "on"}})
	wantV1Accepted(t, "get", got.Get, 2, map[string]any{
		"desired":  map[string]any{"color": "red", "power": "on"},
		"reported": map[string]any{"color": "red", "power": "on"},
	})

	// The race: exactly one of the two updates that both said version 2.
	race := []sdkv1Event{got.Race.App, got.Race.Device}
	var accepted, rejected int
	for _, e := range race {
		switch e.Stat {
		case "accepted":
			accepted++
			if v := e.Doc.Version; v == nil || *v != 3 {
				t.Errorf("race: accepted update has version %v, want 3", v)
			}
		case "rejected":
			rejected++
			wantV1Rejected(t, "race loser", e, 409, "Version conflict")
		}
	}
	t.Logf("race: app %s, device %s", got.Race.App.Stat, got.Race.Device.Stat)
	if accepted != 1 || rejected != 1 {
		t.Fatalf("race: app %s, device %s; want one accepted and one rejected", got.Race.App.Stat, got.Race.Device.Stat)
	}
	if got.Retry.Stat != "accepted" || got.Retry.Doc.Version == nil || *got.Retry.Doc.Version != 4 {
		t.Errorf("retry after the conflict = %s %+v, want accepted version 4", got.Retry.Stat, got.Retry.Doc)
	}

	if got.Delete.Stat != "accepted" || got.Delete.Doc.Version == nil || *got.Delete.Doc.Version != 4 {
		t.Errorf("delete = %s %+v, want accepted with the deleted version 4", got.Delete.Stat, got.Delete.Doc)
	}
	wantV1Rejected(t, "get after delete", got.GetDeleted, 404, notFound)
	// Both clients saw the first delta; after the race desired is blue and
	// reported green, so a delta {color: blue} was the last one.
	for name, ds := range map[string][]map[string]any{"device": got.DeviceDeltas, "app": got.AppDeltas} {
		if len(ds) < 2 {
			t.Errorf("%s got %d delta events, want at least 2: %v", name, len(ds), ds)
			continue
		}
		if diff := cmp.Diff(map[string]any{"color": "blue"}, ds[len(ds)-1]["state"]); diff != "" {
			t.Errorf("%s's last delta state (-want +got):\n%s", name, diff)
		}
	}
	if len(got.Timeouts) > 0 {
		t.Errorf("thingShadow timeouts or offline events: %v", got.Timeouts)
	}
}

// allowShadow creates a policy that allows thing's shadow topics and
// attaches it to the certificates, as an app that controls a device would
// have.
func allowShadow(t *testing.T, h *hubtest.Hub, thing string, certARNs ...string) {
	t.Helper()
	ctx := context.Background()
	name := "shadow-access-" + thing
	doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"arn:aws:iot:*:*:topic/$aws/things/%[1]s/shadow/*"},
		{"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:*:*:topicfilter/$aws/things/%[1]s/shadow/*"}]}`, thing)
	if _, err := h.IoT.CreatePolicy(ctx, &iot.CreatePolicyInput{PolicyName: aws.String(name), PolicyDocument: aws.String(doc)}); err != nil {
		t.Fatalf("CreatePolicy %s: %v", name, err)
	}
	for _, arn := range certARNs {
		if _, err := h.IoT.AttachPolicy(ctx, &iot.AttachPolicyInput{PolicyName: aws.String(name), Target: aws.String(arn)}); err != nil {
			t.Fatalf("AttachPolicy %s: %v", name, err)
		}
	}
}

// wantV1Accepted checks an 'accepted' status event.
func wantV1Accepted(t *testing.T, step string, got sdkv1Event, version int, state map[string]any) {
	t.Helper()
	if got.Stat != "accepted" {
		t.Errorf("%s: status %q %+v, want accepted", step, got.Stat, got.Doc)
		return
	}
	if got.Doc.Version == nil || *got.Doc.Version != version {
		t.Errorf("%s: version %v, want %d", step, got.Doc.Version, version)
	}
	if diff := cmp.Diff(state, got.Doc.State); diff != "" {
		t.Errorf("%s: state (-want +got):\n%s", step, diff)
	}
}

// wantV1Rejected checks a 'rejected' status event. That the SDK emitted a
// status at all means the rejected document echoed its clientToken.
func wantV1Rejected(t *testing.T, step string, got sdkv1Event, code int, message string) {
	t.Helper()
	if got.Stat != "rejected" || got.Doc.Code != code || got.Doc.Message != message {
		t.Errorf("%s: status %q {code %d, message %q}, want rejected {%d, %q}", step, got.Stat, got.Doc.Code, got.Doc.Message, code, message)
	}
}
