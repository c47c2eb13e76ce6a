package interop

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/thingcore/thingcore/internal/hubtest"
)

// sdkServiceError is a step the service rejected, as shadow_sdkv2.mjs
// records the SDK's ServiceError: modeledError is the decoded */rejected
// document.
type sdkServiceError struct {
	Description  string `json:"description"`
	ModeledError *struct {
		Code        int    `json:"code"`
		Message     string `json:"message"`
		ClientToken string `json:"clientToken"`
	} `json:"modeledError"`
	InternalError *string `json:"internalError"`
}

// shadowResponse is one step's response (or error) in the scripts' output:
// an accepted document, a delta event or a delete/accepted.
type shadowResponse struct {
	State       map[string]any   `json:"state"`
	Metadata    map[string]any   `json:"metadata"`
	Version     *int             `json:"version"`
	Timestamp   *float64         `json:"timestamp"`
	ClientToken string           `json:"clientToken"`
	Error       *sdkServiceError `json:"error"`
}

// shadowDocuments is an update/documents event.
type shadowDocuments struct {
	Previous *struct {
		State   map[string]any `json:"state"`
		Version int            `json:"version"`
	} `json:"previous"`
	Current *struct {
		State   map[string]any `json:"state"`
		Version int            `json:"version"`
	} `json:"current"`
	Timestamp *float64 `json:"timestamp"`
}

// TestHubShadowSDKv2 drives the AWS IoT Device SDK v2 for JavaScript's
// IotShadowClientv2 (shadow_sdkv2.mjs) against the hub's shadow service,
// over MQTT 5 and over MQTT 3.1.1, as a device whose certificate has the
// default thing policy: get of a missing shadow, update desired, the delta
// stream, update reported, get, a version conflict as a ServiceError, the
// update/documents stream, a named shadow with its own delta stream, delete,
// and versions continuing after a delete.
func TestHubShadowSDKv2(t *testing.T) {
	node := needNodeModules(t, "aws-iot-device-sdk-v2", "aws-crt")
	h := hubtest.Start(t, hubtest.Options{})
	mqttPort, err := strconv.Atoi(hostPort(t, h.Endpoints.MQTT))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, protocol string }{
		{"mqtt5", "5"},
		{"mqtt311", "311"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := h.NewDevice(t, "shadow-sdkv2-"+tc.name)
			sc := map[string]any{
				"protocol": tc.protocol, "host": "localhost", "port": mqttPort,
				"cert": d.CertFile, "key": d.KeyFile, "ca": d.CA, "clientId": d.Thing,
				"thing": d.Thing, "shadowName": "config",
			}
			var got struct {
				GetMissing, UpdateDesired, Delta1, UpdateReported, Delta2, UpdateInSync, Get shadowResponse
				Conflict, VersionedUpdate, Delta3                                            shadowResponse
				NamedGetMissing, NamedUpdate, NamedDelta, NamedGet, NamedConflict            shadowResponse
				NamedDelete, NamedGetDeleted, Delete, GetDeleted, DeleteDeleted, Recreate    shadowResponse
				Documents                                                                    []shadowDocuments
				DeltaCount, NamedDeltaCount                                                  int
			}
			runNode(t, node, "shadow_sdkv2.mjs", sc, &got)

			notFound := "No shadow exists with name: '" + d.Thing + "'"
			wantError(t, "getMissing", got.GetMissing, 404, notFound)
			wantAccepted(t, "updateDesired", got.UpdateDesired, 1,
				map[string]any{"desired": map[string]any{"color": "red", "power": "on"}})
			wantDelta(t, "delta after updateDesired", got.Delta1, 1, map[string]any{"color": "red", "power": "on"})
			wantAccepted(t, "updateReported", got.UpdateReported, 2,
				map[string]any{"reported": map[string]any{"color": "green", "power": "on"}})
			wantDelta(t, "delta after updateReported", got.Delta2, 2, map[string]any{"color": "red"})
			wantAccepted(t, "updateInSync", got.UpdateInSync, 3, map[string]any{"reported": map[string]any{"color": "red"}})
			wantAccepted(t, "get", got.Get, 3, map[string]any{
				"desired":  map[string]any{"color": "red", "power": "on"},
				"reported": map[string]any{"color": "red", "power": "on"},
			})
			wantError(t, "conflict", got.Conflict, 409, "Version conflict")
			wantAccepted(t, "versionedUpdate", got.VersionedUpdate, 4, map[string]any{"reported": map[string]any{"color": "blue"}})
			wantDelta(t, "delta after versionedUpdate", got.Delta3, 4, map[string]any{"color": "red"})
			if got.DeltaCount != 3 {
				t.Errorf("classic delta stream got %d events, want 3 (no delta when in sync)", got.DeltaCount)
			}

			var docVersions [][2]int
			for _, e := range got.Documents {
				var v [2]int
				if e.Previous != nil {
					v[0] = e.Previous.Version
				}
				if e.Current != nil {
					v[1] = e.Current.Version
				}
				docVersions = append(docVersions, v)
			}
			if diff := cmp.Diff([][2]int{{0, 1}, {1, 2}, {2, 3}, {3, 4}}, docVersions); diff != "" {
				t.Errorf("update/documents (previous, current) versions (-want +got):\n%s", diff)
			}
			if n := len(got.Documents); n > 0 && got.Documents[n-1].Current != nil {
				want := map[string]any{
					"desired":  map[string]any{"color": "red", "power": "on"},
					"reported": map[string]any{"color": "blue", "power": "on"},
				}
				if diff := cmp.Diff(want, got.Documents[n-1].Current.State); diff != "" {
					t.Errorf("last update/documents current.state (-want +got):\n%s", diff)
				}
			}

			// The named shadow. The name AWS quotes in a named shadow's 404
			// is UNCONFIRMED (reference §1.9); the code is what SDKs check.
			wantError(t, "namedGetMissing", got.NamedGetMissing, 404, "")
			wantAccepted(t, "namedUpdate", got.NamedUpdate, 1, map[string]any{
				"desired": map[string]any{"mode": "eco"}, "reported": map[string]any{"mode": "boost"},
			})
			wantDelta(t, "named delta", got.NamedDelta, 1, map[string]any{"mode": "eco"})
			wantAccepted(t, "namedGet", got.NamedGet, 1, map[string]any{
				"desired": map[string]any{"mode": "eco"}, "reported": map[string]any{"mode": "boost"},
				"delta": map[string]any{"mode": "eco"},
			})
			wantError(t, "namedConflict", got.NamedConflict, 409, "Version conflict")
			wantVersion(t, "namedDelete", got.NamedDelete, 1)
			wantError(t, "namedGetDeleted", got.NamedGetDeleted, 404, "")
			if got.NamedDeltaCount != 1 {
				t.Errorf("named delta stream got %d events, want 1", got.NamedDeltaCount)
			}

			// delete/accepted carries the deleted version; after it the
			// shadow is not found, and a new one continues the versions.
			wantVersion(t, "delete", got.Delete, 4)
			wantError(t, "getDeleted", got.GetDeleted, 404, notFound)
			wantError(t, "deleteDeleted", got.DeleteDeleted, 404, notFound)
			wantAccepted(t, "recreate", got.Recreate, 5, map[string]any{"reported": map[string]any{"color": "red"}})
		})
	}
}

// wantAccepted checks an accepted document: no error, the version, the
// state, a timestamp and the SDK's clientToken echoed.
func wantAccepted(t *testing.T, step string, got shadowResponse, version int, state map[string]any) {
	t.Helper()
	if !wantVersion(t, step, got, version) {
		return
	}
	if diff := cmp.Diff(state, got.State); diff != "" {
		t.Errorf("%s: state (-want +got):\n%s", step, diff)
	}
	if got.Timestamp == nil || *got.Timestamp <= 0 {
		t.Errorf("%s: timestamp %v, want epoch seconds", step, got.Timestamp)
	}
	if got.ClientToken == "" {
		t.Errorf("%s: no clientToken echoed", step)
	}
}

// wantDelta checks an update/delta event.
func wantDelta(t *testing.T, step string, got shadowResponse, version int, delta map[string]any) {
	t.Helper()
	if !wantVersion(t, step, got, version) {
		return
	}
	if diff := cmp.Diff(delta, got.State); diff != "" {
		t.Errorf("%s: delta state (-want +got):\n%s", step, diff)
	}
	if got.Metadata == nil {
		t.Errorf("%s: no metadata", step)
	}
}

// wantVersion checks that a step succeeded with the version; it reports
// whether it did.
func wantVersion(t *testing.T, step string, got shadowResponse, version int) bool {
	t.Helper()
	if got.Error != nil {
		t.Errorf("%s: service error %+v, want version %d", step, *got.Error, version)
		return false
	}
	if got.Version == nil {
		t.Errorf("%s: no version in %+v, want %d", step, got, version)
		return false
	}
	if *got.Version != version {
		t.Errorf("%s: version %d, want %d", step, *got.Version, version)
		return false
	}
	return true
}

// wantError checks that a step failed with the service's rejected document:
// the code, the message unless want is "", and the SDK's clientToken (its
// correlation token) echoed.
func wantError(t *testing.T, step string, got shadowResponse, code int, message string) {
	t.Helper()
	if got.Error == nil || got.Error.ModeledError == nil {
		t.Errorf("%s: got %+v, want a ServiceError with code %d", step, got, code)
		return
	}
	m := got.Error.ModeledError
	if m.Code != code || (message != "" && m.Message != message) {
		t.Errorf("%s: rejected {code %d, message %q}, want {%d, %q}", step, m.Code, m.Message, code, message)
	}
	if m.ClientToken == "" {
		t.Errorf("%s: rejected document has no clientToken", step)
	}
	t.Logf("%s: %d %s", step, m.Code, m.Message)
}
