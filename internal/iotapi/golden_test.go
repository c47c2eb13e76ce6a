package iotapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/thingcore/thingcore/internal/pki"
)

// TestGoldenResponses pins raw JSON responses: member names and case,
// epoch-second timestamps, omitted members, error envelopes. Values that
// differ on every run (ids of fresh certificates, PEMs, keys) are replaced
// by placeholders. Run with -update to rewrite them.
func TestGoldenResponses(t *testing.T) {
	h := start(t, harnessOpts{keyType: pki.KeyEC})
	ctx := context.Background()
	c := h.client
	if _, err := c.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String("lamp"),
		AttributePayload: &types.AttributePayload{Attributes: map[string]string{"room": "hall", "color": "red"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String("sensor"), ThingTypeName: aws.String("probe")}); err != nil {
		t.Fatal(err)
	}
	own := newTestCA(t, "golden CA")
	certPEM, certID := own.issue(t, "golden device", nil)
	if _, err := c.RegisterCertificateWithoutCA(ctx, &iot.RegisterCertificateWithoutCAInput{
		CertificatePem: aws.String(certPEM), Status: types.CertificateStatusActive}); err != nil {
		t.Fatal(err)
	}
	ca := registerCA(t, h, newTestCA(t, "golden registered CA"), true)
	principal := http.Header{"X-Amzn-Principal": {certARN(certID)}}

	tests := []struct {
		name         string
		method, path string
		header       http.Header
		body         string
		replace      []string
	}{
		{name: "describe_thing", method: "GET", path: "/things/lamp"},
		{name: "describe_thing_with_type", method: "GET", path: "/things/sensor"},
		{name: "list_things_page", method: "GET", path: "/things?maxResults=1"},
		{name: "create_thing_conflict", method: "POST", path: "/things/lamp", body: `{"attributePayload":{"attributes":{"room":"attic"}}}`},
		{name: "describe_thing_not_found", method: "GET", path: "/things/ghost"},
		{name: "describe_certificate", method: "GET", path: "/certificates/" + certID,
			replace: []string{certID, "<CERT_ID>", jsonString(certPEM), "<CERT_PEM>"}},
		{name: "list_certificates", method: "GET", path: "/certificates?isAscendingOrder=true",
			replace: []string{certID, "<CERT_ID>"}},
		{name: "attach_thing_principal", method: "PUT", path: "/things/lamp/principals", header: principal},
		{name: "list_thing_principals", method: "GET", path: "/things/lamp/principals", replace: []string{certID, "<CERT_ID>"}},
		{name: "list_principal_things", method: "GET", path: "/principals/things", header: principal},
		{name: "delete_active_certificate", method: "DELETE", path: "/certificates/" + certID,
			replace: []string{certID, "<CERT_ID>"}},
		{name: "describe_ca_certificate", method: "GET", path: "/cacertificate/" + ca.id,
			replace: []string{ca.id, "<CA_ID>", jsonString(ca.pem), "<CA_PEM>"}},
		{name: "describe_endpoint_ats", method: "GET", path: "/endpoint?endpointType=iot%3AData-ATS"},
		{name: "describe_endpoint_bad_type", method: "GET", path: "/endpoint?endpointType=iot%3AMagic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			golden(t, tt.name, h.raw(t, tt.method, tt.path, tt.header, tt.body), tt.replace...)
		})
	}

	t.Run("create_keys_and_certificate", func(t *testing.T) {
		r := h.raw(t, "POST", "/keys-and-certificate?setAsActive=true", nil, "")
		var out struct {
			CertificateID  string `json:"certificateId"`
			CertificatePEM string `json:"certificatePem"`
			KeyPair        struct{ PublicKey, PrivateKey string }
		}
		if err := json.Unmarshal(r.Body, &out); err != nil {
			t.Fatal(err)
		}
		golden(t, "create_keys_and_certificate", r, out.CertificateID, "<CERT_ID>", jsonString(out.CertificatePEM), "<CERT_PEM>",
			jsonString(out.KeyPair.PublicKey), "<PUBLIC_KEY_PEM>", jsonString(out.KeyPair.PrivateKey), "<PRIVATE_KEY_PEM>")
	})
}

func TestDescribeEndpoint(t *testing.T) {
	h := start(t, harnessOpts{})
	ctx := context.Background()
	for _, tt := range []struct {
		name, typ, want string
	}{
		{"no type", "", testHost},
		{"data ATS", "iot:Data-ATS", testHost},
		{"legacy data", "iot:Data", testHost},
		{"jobs", "iot:Jobs", testHost},
		{"credential provider", "iot:CredentialProvider", "credentials." + testHost},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := &iot.DescribeEndpointInput{}
			if tt.typ != "" {
				in.EndpointType = aws.String(tt.typ)
			}
			out, err := h.client.DescribeEndpoint(ctx, in)
			if err != nil {
				t.Fatalf("DescribeEndpoint(%q): %v", tt.typ, err)
			}
			if got := aws.ToString(out.EndpointAddress); got != tt.want {
				t.Errorf("DescribeEndpoint(%q) = %q, want %q", tt.typ, got, tt.want)
			}
		})
	}
	t.Run("unknown type", func(t *testing.T) {
		_, err := h.client.DescribeEndpoint(ctx, &iot.DescribeEndpointInput{EndpointType: aws.String("iot:Magic")})
		wantError(t, "DescribeEndpoint(iot:Magic)", err, new(*types.InvalidRequestException))
	})
}
