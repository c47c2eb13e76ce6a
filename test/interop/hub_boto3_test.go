package interop

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thingcore/thingcore/internal/hubtest"
	"github.com/thingcore/thingcore/internal/policy"
)

// boto3Error is how hub_boto3.py reports a botocore ClientError.
type boto3Error struct {
	Code      string         `json:"code"`
	Message   string         `json:"message"`
	Status    int            `json:"status"`
	Operation string         `json:"operation"`
	Success   map[string]any `json:"unexpected_success,omitempty"`
}

// TestHubBoto3 provisions a device with boto3 (hub_boto3.py), checks the
// responses' shapes and the errors botocore raises, and that the device's
// certificate, deactivated by the script, is refused on MQTT.
func TestHubBoto3(t *testing.T) {
	python := needBoto3(t)
	h := hubtest.Start(t, hubtest.Options{})
	const thing = "boto3-thing"
	dir := t.TempDir()
	env := append(awsEnv(t, h, h.Creds.SecretAccessKey), "THINGCORE_API_URL="+apiURL(t, h), "THINGCORE_CA="+h.Endpoints.RootCA,
		"THINGCORE_POLICY_DOCUMENT="+string(policy.ThingPolicy("us-east-1", "000000000000")))
	r := runEnv(t, env, python, "hub_boto3.py", thing, dir)
	if r.code != 0 {
		t.Fatalf("hub_boto3.py: %s", r)
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("hub_boto3.py output %q: %v", r.stdout, err)
	}
	obj := func(t *testing.T, key string) map[string]any {
		t.Helper()
		raw, ok := out[key]
		if !ok {
			t.Fatalf("hub_boto3.py output lacks %q: %s", key, r.stdout)
		}
		return decodeJSON(t, key, string(raw))
	}
	kc := decodeJSON(t, "create_keys_and_certificate", string(out["create_keys_and_certificate"]))
	certID, certARN := jsonString(kc["certificateId"]), jsonString(kc["certificateArn"])

	t.Run("responses", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			check func(t *testing.T, got map[string]any)
		}{
			{"create_thing", func(t *testing.T, got map[string]any) {
				if d := cmp.Diff([]string{"thingArn", "thingId", "thingName"}, jsonKeys(got)); d != "" {
					t.Errorf("fields (-want +got):\n%s", d)
				}
				if got["thingName"] != thing || !thingARNPattern.MatchString(jsonString(got["thingArn"])) || !strings.HasSuffix(jsonString(got["thingArn"]), ":thing/"+thing) {
					t.Errorf("create_thing = %v", got)
				}
			}},
			{"create_keys_and_certificate", func(t *testing.T, got map[string]any) {
				if d := cmp.Diff([]string{"certificateArn", "certificateId", "certificatePem", "keyPair"}, jsonKeys(got)); d != "" {
					t.Errorf("fields (-want +got):\n%s", d)
				}
				if !certIDPattern.MatchString(certID) || !certARNPattern.MatchString(certARN) || !strings.HasSuffix(certARN, "/"+certID) {
					t.Errorf("certificateId %q, certificateArn %q", certID, certARN)
				}
				kp, _ := got["keyPair"].(map[string]any)
				if d := cmp.Diff([]string{"PrivateKey", "PublicKey"}, jsonKeys(kp)); d != "" {
					t.Errorf("keyPair fields (-want +got):\n%s", d)
				}
			}},
			{"attach_thing_principal", func(t *testing.T, got map[string]any) {
				if len(got) != 0 {
					t.Errorf("attach_thing_principal = %v, want {}", got)
				}
			}},
			{"list_things", func(t *testing.T, got map[string]any) {
				things, _ := got["things"].([]any)
				if len(things) != 1 {
					t.Fatalf("list_things = %v, want one thing", got)
				}
				th, _ := things[0].(map[string]any)
				want := map[string]any{"thingName": thing, "thingArn": th["thingArn"], "attributes": map[string]any{}, "version": float64(1)}
				if d := cmp.Diff(want, th); d != "" || !strings.HasSuffix(jsonString(th["thingArn"]), ":thing/"+thing) {
					t.Errorf("list_things item (-want +got):\n%s", d)
				}
			}},
			{"describe_endpoint", func(t *testing.T, got map[string]any) {
				if d := cmp.Diff(map[string]any{"endpointAddress": "localhost"}, got); d != "" {
					t.Errorf("describe_endpoint (-want +got):\n%s", d)
				}
			}},
			{"create_policy", func(t *testing.T, got map[string]any) {
				if got["policyName"] != "boto3-policy" || got["policyVersionId"] != "1" || !strings.HasSuffix(jsonString(got["policyArn"]), ":policy/boto3-policy") {
					t.Errorf("create_policy = %v", got)
				}
			}},
			{"list_attached_policies", func(t *testing.T, got map[string]any) {
				ps, _ := got["policies"].([]any)
				if len(ps) != 1 || jsonString(ps[0].(map[string]any)["policyName"]) != "boto3-policy" {
					t.Errorf("list_attached_policies = %v, want boto3-policy", got)
				}
			}},
			{"list_policies", func(t *testing.T, got map[string]any) {
				if ps, _ := got["policies"].([]any); len(ps) != 1 {
					t.Errorf("list_policies = %v, want only boto3-policy (listed before boto3-spare is made)", got)
				}
			}},
			{"delete_policy", func(t *testing.T, got map[string]any) {
				if len(got) != 0 {
					t.Errorf("delete_policy = %v, want {}", got)
				}
			}},
			{"update_certificate", func(t *testing.T, got map[string]any) {
				if len(got) != 0 {
					t.Errorf("update_certificate = %v, want {}", got)
				}
			}},
			{"describe_certificate", func(t *testing.T, got map[string]any) {
				desc, _ := got["certificateDescription"].(map[string]any)
				for _, k := range []string{"certificateArn", "certificateId", "certificatePem", "status", "ownedBy", "creationDate", "lastModifiedDate", "validity"} {
					if _, ok := desc[k]; !ok {
						t.Errorf("certificateDescription lacks %s: %v", k, desc)
					}
				}
				if desc["status"] != "INACTIVE" || desc["certificateId"] != certID || desc["certificateArn"] != certARN {
					t.Errorf("describe_certificate = %v, want status INACTIVE", got)
				}
			}},
		} {
			t.Run(tc.name, func(t *testing.T) { tc.check(t, obj(t, tc.name)) })
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			want boto3Error
		}{
			{"describe_missing_thing", boto3Error{Code: "ResourceNotFoundException", Status: 404, Operation: "DescribeThing"}},
			{"delete_active_certificate", boto3Error{Code: "CertificateStateException", Status: 406, Operation: "DeleteCertificate"}},
			{"wrong_secret", boto3Error{Code: "InvalidSignatureException", Status: 403, Operation: "ListThings"}},
			{"delete_attached_policy", boto3Error{Code: "DeleteConflictException", Status: 409, Operation: "DeletePolicy"}},
			{"malformed_policy", boto3Error{Code: "MalformedPolicyException", Status: 400, Operation: "CreatePolicy"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var got boto3Error
				if err := json.Unmarshal(out[tc.name], &got); err != nil {
					t.Fatalf("%s: %v (%s)", tc.name, err, out[tc.name])
				}
				if got.Message == "" {
					t.Errorf("%s: error has no message: %+v", tc.name, got)
				}
				got.Message = ""
				if d := cmp.Diff(tc.want, got); d != "" {
					t.Errorf("%s error (-want +got):\n%s", tc.name, d)
				}
			})
		}
	})

	t.Run("inactive-certificate-refused", func(t *testing.T) {
		certPEM, err := os.ReadFile(filepath.Join(dir, "certificate.pem.crt"))
		if err != nil {
			t.Fatal(err)
		}
		keyPEM, err := os.ReadFile(filepath.Join(dir, "private.pem.key"))
		if err != nil {
			t.Fatal(err)
		}
		dev := writeDeviceFiles(t, h, string(certPEM), string(keyPEM))
		if err := mqttConnect(t, h, dev, thing); err == nil {
			t.Fatal("MQTT connect with the INACTIVE certificate succeeded, want refused")
		}
		h.Logs.WaitFor(t, 10*time.Second, "connection refused", certID, "INACTIVE")
	})
}
