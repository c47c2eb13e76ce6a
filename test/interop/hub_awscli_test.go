package interop

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thingcore/thingcore/internal/hubtest"
	"github.com/thingcore/thingcore/internal/policy"
)

// awsCLI runs Debian's AWS CLI v2 against one hub.
type awsCLI struct {
	t        *testing.T
	path     string
	env      []string
	endpoint string
}

func newAWSCLI(t *testing.T, h *hubtest.Hub, secret string) *awsCLI {
	t.Helper()
	return &awsCLI{t: t, path: needAWSCLIv2(t), env: awsEnv(t, h, secret), endpoint: apiURL(t, h)}
}

// run runs `aws iot <args> --endpoint-url <hub> --output json`.
func (c *awsCLI) run(args ...string) result {
	c.t.Helper()
	a := append([]string{"iot"}, args...)
	a = append(a, "--endpoint-url", c.endpoint, "--output", "json", "--no-cli-pager")
	return runEnv(c.t, c.env, c.path, a...)
}

// mustJSON runs the command, fails unless it exits 0, and decodes its JSON.
func (c *awsCLI) mustJSON(args ...string) map[string]any {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("aws iot %s: %s", strings.Join(args, " "), r)
	}
	return decodeJSON(c.t, "aws iot "+args[0], r.stdout)
}

// mustEmpty runs a command whose AWS response has no body: the CLI exits 0
// and prints nothing.
func (c *awsCLI) mustEmpty(args ...string) {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "" {
		c.t.Fatalf("aws iot %s: %s, want exit 0 and no output", strings.Join(args, " "), r)
	}
}

var (
	certIDPattern   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	thingARNPattern = regexp.MustCompile(`^arn:aws:iot:us-east-1:[0-9]{12}:thing/`)
	certARNPattern  = regexp.MustCompile(`^arn:aws:iot:us-east-1:[0-9]{12}:cert/[0-9a-f]{64}$`)
)

// TestHubAWSCLI provisions a device with the AWS CLI v2 exactly as AWS's
// getting-started guide does, then deactivates its certificate and checks
// the hub refuses it on MQTT.
func TestHubAWSCLI(t *testing.T) {
	needAWSCLIv2(t)
	top := t
	h := hubtest.Start(t, hubtest.Options{})
	cli := newAWSCLI(t, h, h.Creds.SecretAccessKey)
	const thing = "cli-thing"
	var (
		certID, certARN string
		dev             *hubtest.Device
		connLost        <-chan struct{}
	)
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"create-thing", func(t *testing.T) {
			out := cli.mustJSON("create-thing", "--thing-name", thing)
			if d := cmp.Diff([]string{"thingArn", "thingId", "thingName"}, jsonKeys(out)); d != "" {
				t.Errorf("create-thing fields (-want +got):\n%s", d)
			}
			if out["thingName"] != thing || !thingARNPattern.MatchString(jsonString(out["thingArn"])) || !strings.HasSuffix(jsonString(out["thingArn"]), ":thing/"+thing) || jsonString(out["thingId"]) == "" {
				t.Errorf("create-thing = %v", out)
			}
		}},
		{"create-keys-and-certificate", func(t *testing.T) {
			out := cli.mustJSON("create-keys-and-certificate", "--set-as-active")
			if d := cmp.Diff([]string{"certificateArn", "certificateId", "certificatePem", "keyPair"}, jsonKeys(out)); d != "" {
				t.Errorf("create-keys-and-certificate fields (-want +got):\n%s", d)
			}
			certID, certARN = jsonString(out["certificateId"]), jsonString(out["certificateArn"])
			if !certIDPattern.MatchString(certID) || !certARNPattern.MatchString(certARN) || !strings.HasSuffix(certARN, "/"+certID) {
				t.Errorf("certificateId %q, certificateArn %q: want 64 hex digits and arn:aws:iot:us-east-1:<account>:cert/<id>", certID, certARN)
			}
			kp, _ := out["keyPair"].(map[string]any)
			if d := cmp.Diff([]string{"PrivateKey", "PublicKey"}, jsonKeys(kp)); d != "" {
				t.Errorf("keyPair fields (-want +got):\n%s", d)
			}
			certPEM, keyPEM := jsonString(out["certificatePem"]), jsonString(kp["PrivateKey"])
			if !strings.HasPrefix(certPEM, "-----BEGIN CERTIFICATE-----") || !strings.Contains(keyPEM, "PRIVATE KEY-----") ||
				!strings.HasPrefix(jsonString(kp["PublicKey"]), "-----BEGIN PUBLIC KEY-----") {
				t.Fatalf("create-keys-and-certificate PEMs: certificatePem %.40q, PrivateKey %.40q, PublicKey %.40q", certPEM, keyPEM, jsonString(kp["PublicKey"]))
			}
			dev = writeDeviceFiles(top, h, certPEM, keyPEM) // top: the files outlive this step

		}},
		{"attach-thing-principal", func(t *testing.T) {
			cli.mustEmpty("attach-thing-principal", "--thing-name", thing, "--principal", certARN)
			out := cli.mustJSON("list-thing-principals", "--thing-name", thing)
			if d := cmp.Diff(map[string]any{"principals": []any{certARN}}, out); d != "" {
				t.Errorf("list-thing-principals (-want +got):\n%s", d)
			}
		}},
		{"list-things", func(t *testing.T) {
			out := cli.mustJSON("list-things")
			things, _ := out["things"].([]any)
			if len(things) != 1 {
				t.Fatalf("list-things = %v, want one thing", out)
			}
			th, _ := things[0].(map[string]any)
			if d := cmp.Diff([]string{"attributes", "thingArn", "thingName", "version"}, jsonKeys(th)); d != "" {
				t.Errorf("list-things item fields (-want +got):\n%s", d)
			}
			if th["thingName"] != thing || !strings.HasSuffix(jsonString(th["thingArn"]), ":thing/"+thing) || th["version"] != float64(1) {
				t.Errorf("list-things item = %v", th)
			}
		}},
		{"describe-endpoint", func(t *testing.T) {
			out := cli.mustJSON("describe-endpoint", "--endpoint-type", "iot:Data-ATS")
			if d := cmp.Diff(map[string]any{"endpointAddress": "localhost"}, out); d != "" {
				t.Errorf("describe-endpoint (-want +got):\n%s", d)
			}
		}},
		{"create-and-attach-policy", func(t *testing.T) {
			// As on AWS, a certificate may do nothing until a policy is attached.
			doc := string(policy.ThingPolicy("us-east-1", "000000000000"))
			out := cli.mustJSON("create-policy", "--policy-name", "cli-policy", "--policy-document", doc)
			if d := cmp.Diff([]string{"policyArn", "policyDocument", "policyName", "policyVersionId"}, jsonKeys(out)); d != "" {
				t.Errorf("create-policy fields (-want +got):\n%s", d)
			}
			if out["policyName"] != "cli-policy" || out["policyVersionId"] != "1" {
				t.Errorf("create-policy = %v", out)
			}
			cli.mustEmpty("attach-policy", "--policy-name", "cli-policy", "--target", certARN)
			att := cli.mustJSON("list-attached-policies", "--target", certARN)
			ps, _ := att["policies"].([]any)
			if len(ps) != 1 || jsonString(ps[0].(map[string]any)["policyName"]) != "cli-policy" {
				t.Errorf("list-attached-policies = %v, want cli-policy", att)
			}
			got := cli.mustJSON("get-policy", "--policy-name", "cli-policy")
			if got["defaultVersionId"] != "1" {
				t.Errorf("get-policy = %v, want defaultVersionId 1", got)
			}
			if r := cli.run("delete-policy", "--policy-name", "cli-policy"); r.code == 0 || !strings.Contains(r.stderr, "DeleteConflictException") {
				t.Errorf("delete-policy of an attached policy: exit %d, stderr %q; want DeleteConflictException", r.code, r.stderr)
			}
			if r := cli.run("create-policy", "--policy-name", "bad", "--policy-document", `{"Statement":[{"Effect":"Maybe"}]}`); r.code == 0 || !strings.Contains(r.stderr, "MalformedPolicyException") {
				t.Errorf("create-policy with a malformed document: exit %d, stderr %q; want MalformedPolicyException", r.code, r.stderr)
			}
			// A policy that is not attached is deleted; then it is gone.
			cli.mustJSON("create-policy", "--policy-name", "spare", "--policy-document", doc)
			cli.mustEmpty("delete-policy", "--policy-name", "spare")
			if r := cli.run("get-policy", "--policy-name", "spare"); r.code == 0 || !strings.Contains(r.stderr, "ResourceNotFoundException") {
				t.Errorf("get-policy after delete-policy: exit %d, stderr %q; want ResourceNotFoundException", r.code, r.stderr)
			}
			list := cli.mustJSON("list-policies")
			if ps, _ := list["policies"].([]any); len(ps) != 1 {
				t.Errorf("list-policies = %v, want only cli-policy", list)
			}
		}},
		{"device-connects-while-active", func(t *testing.T) {
			if err := mqttConnect(t, h, dev, thing); err != nil {
				t.Fatalf("MQTT connect with the CLI's certificate: %v", err)
			}
		}},
		{"connect-and-stay", func(t *testing.T) {
			connLost = mqttStay(top, h, dev, thing)
		}},
		{"update-certificate-inactive", func(t *testing.T) {
			cli.mustEmpty("update-certificate", "--certificate-id", certID, "--new-status", "INACTIVE")
			out := cli.mustJSON("describe-certificate", "--certificate-id", certID)
			desc, _ := out["certificateDescription"].(map[string]any)
			if desc["status"] != "INACTIVE" || desc["certificateId"] != certID || desc["certificateArn"] != certARN {
				t.Errorf("describe-certificate = %v, want status INACTIVE", out)
			}
		}},
		{"connected-device-disconnected", func(t *testing.T) {
			// AWS: "Within a few minutes of updating a certificate from the
			// ACTIVE state to any other state, IoT disconnects all devices
			// that used that certificate to connect."
			select {
			case <-connLost:
			case <-time.After(30 * time.Second):
				t.Fatal("the device connected with the certificate is still connected 30s after it became INACTIVE")
			}
		}},
		{"device-refused-when-inactive", func(t *testing.T) {
			err := mqttConnect(t, h, dev, thing)
			if err == nil {
				t.Fatal("MQTT connect with an INACTIVE certificate succeeded, want refused")
			}
			if !strings.Contains(strings.ToLower(err.Error()), "not authorized") {
				t.Errorf("MQTT connect error %q, want not authorized", err)
			}
			h.Logs.WaitFor(t, 10*time.Second, "connection refused", certID, "INACTIVE")
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			t.Fatalf("step %s failed; later steps depend on it", s.name)
		}
	}
}

// TestHubAWSCLIErrors checks what the AWS CLI prints for the hub's errors.
func TestHubAWSCLIErrors(t *testing.T) {
	needAWSCLIv2(t)
	h := hubtest.Start(t, hubtest.Options{})
	for _, tc := range []struct {
		name   string
		secret string
		args   []string
		// stderr must contain each of these.
		want []string
	}{
		{"wrong-secret", "not-the-secret", []string{"list-things"},
			[]string{"An error occurred (InvalidSignatureException) when calling the ListThings operation"}},
		{"missing-thing", "", []string{"describe-thing", "--thing-name", "no-such-thing"},
			[]string{"An error occurred (ResourceNotFoundException) when calling the DescribeThing operation"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secret := tc.secret
			if secret == "" {
				secret = h.Creds.SecretAccessKey
			}
			r := newAWSCLI(t, h, secret).run(tc.args...)
			if r.code == 0 {
				t.Fatalf("aws iot %s: %s, want a failure", strings.Join(tc.args, " "), r)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("aws iot %s: %s\nwant stderr containing %q", strings.Join(tc.args, " "), r, w)
				}
			}
			// The CLI v2 exits 254 for an error the service returned (as
			// opposed to 252/253 for bad input or configuration).
			if r.code != 254 {
				t.Errorf("aws iot %s exit %d, want 254 (service error)", strings.Join(tc.args, " "), r.code)
			}
			if slices.Contains(strings.Fields(r.stderr), h.Creds.SecretAccessKey) {
				t.Errorf("stderr shows the secret")
			}
		})
	}
}

// jsonString is v as a string, or "" when it is not one.
func jsonString(v any) string {
	s, _ := v.(string)
	return s
}
