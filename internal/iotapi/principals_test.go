package iotapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/google/go-cmp/cmp"
)

// newCert registers a fresh certificate without a CA and returns its ARN.
func newCert(t *testing.T, h *harness, ca *testCA) (arn, id string) {
	t.Helper()
	p, _ := ca.issue(t, "device", nil)
	out, err := h.client.RegisterCertificateWithoutCA(context.Background(), &iot.RegisterCertificateWithoutCAInput{
		CertificatePem: aws.String(p), Status: types.CertificateStatusActive})
	if err != nil {
		t.Fatalf("RegisterCertificateWithoutCA: %v", err)
	}
	return aws.ToString(out.CertificateArn), aws.ToString(out.CertificateId)
}

func TestThingPrincipals(t *testing.T) {
	h := start(t, harnessOpts{})
	c := h.client
	ctx := context.Background()
	own := newTestCA(t, "own CA")
	for _, name := range []string{"lamp", "fan", "solo"} {
		if _, err := c.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
	}
	arn1, id1 := newCert(t, h, own)
	arn2, _ := newCert(t, h, own)
	arn3, _ := newCert(t, h, own)
	attach := func(thing, principal string, typ types.ThingPrincipalType) error {
		_, err := c.AttachThingPrincipal(ctx, &iot.AttachThingPrincipalInput{ThingName: aws.String(thing),
			Principal: aws.String(principal), ThingPrincipalType: typ})
		return err
	}
	for _, a := range []struct{ thing, principal string }{{"lamp", arn1}, {"lamp", arn2}, {"fan", id1}} {
		if err := attach(a.thing, a.principal, ""); err != nil {
			t.Fatalf("AttachThingPrincipal(%s, %s): %v", a.thing, a.principal, err)
		}
	}
	if err := attach("solo", arn3, types.ThingPrincipalTypeExclusiveThing); err != nil {
		t.Fatalf("AttachThingPrincipal(EXCLUSIVE_THING): %v", err)
	}

	t.Run("list thing principals in pages", func(t *testing.T) {
		p := iot.NewListThingPrincipalsPaginator(c, &iot.ListThingPrincipalsInput{ThingName: aws.String("lamp"), MaxResults: aws.Int32(1)})
		var got []string
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("ListThingPrincipals: %v", err)
			}
			if len(out.Principals) > 1 {
				t.Errorf("page of %d principals, want at most 1", len(out.Principals))
			}
			got = append(got, out.Principals...)
		}
		want := []string{arn1, arn2}
		if arn2 < arn1 {
			want = []string{arn2, arn1}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("principals (-want +got):\n%s", diff)
		}
	})
	t.Run("list principal things", func(t *testing.T) {
		out, err := c.ListPrincipalThings(ctx, &iot.ListPrincipalThingsInput{Principal: aws.String(arn1)})
		if err != nil {
			t.Fatalf("ListPrincipalThings: %v", err)
		}
		if diff := cmp.Diff([]string{"fan", "lamp"}, out.Things); diff != "" {
			t.Errorf("things (-want +got):\n%s", diff)
		}
	})

	const unknownID = "0000000000000000000000000000000000000000000000000000000000000000"
	tests := []struct {
		name   string
		call   func() error
		target any
	}{
		{"attach to a missing thing", func() error { return attach("missing", arn1, "") }, new(*types.ResourceNotFoundException)},
		{"attach a missing certificate", func() error { return attach("lamp", certARN(unknownID), "") }, new(*types.ResourceNotFoundException)},
		{"attach a principal that is not a certificate", func() error {
			return attach("lamp", "us-east-1:11111111-2222-3333-4444-555555555555", "")
		}, new(*types.InvalidRequestException)},
		{"attach exclusively a shared certificate", func() error {
			return attach("fan", arn1, types.ThingPrincipalTypeExclusiveThing)
		}, new(*types.InvalidRequestException)},
		{"attach elsewhere an exclusive certificate", func() error { return attach("lamp", arn3, "") }, new(*types.InvalidRequestException)},
		{"attach with a bad principal type", func() error { return attach("lamp", arn1, "SOMETIMES") }, new(*types.InvalidRequestException)},
		{"detach from a missing thing", func() error {
			_, err := c.DetachThingPrincipal(ctx, &iot.DetachThingPrincipalInput{ThingName: aws.String("missing"), Principal: aws.String(arn1)})
			return err
		}, new(*types.ResourceNotFoundException)},
		{"list principals of a missing thing", func() error {
			_, err := c.ListThingPrincipals(ctx, &iot.ListThingPrincipalsInput{ThingName: aws.String("missing")})
			return err
		}, new(*types.ResourceNotFoundException)},
		{"list things of a missing certificate", func() error {
			_, err := c.ListPrincipalThings(ctx, &iot.ListPrincipalThingsInput{Principal: aws.String(certARN(unknownID))})
			return err
		}, new(*types.ResourceNotFoundException)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, tt.name, tt.call(), tt.target)
		})
	}

	t.Run("principal header is required", func(t *testing.T) {
		// The SDK refuses to send these without a principal; other clients may.
		for _, r := range []struct{ method, path string }{
			{http.MethodPut, "/things/lamp/principals"},
			{http.MethodDelete, "/things/lamp/principals"},
			{http.MethodGet, "/principals/things"},
		} {
			resp := h.raw(t, r.method, r.path, nil, "")
			if resp.Status != http.StatusBadRequest || resp.ErrorType != "InvalidRequestException" ||
				!strings.Contains(string(resp.Body), "x-amzn-principal") {
				t.Errorf("%s %s = %d %s %s, want 400 InvalidRequestException naming x-amzn-principal",
					r.method, r.path, resp.Status, resp.ErrorType, resp.Body)
			}
		}
	})
	t.Run("detach then list", func(t *testing.T) {
		if _, err := c.DetachThingPrincipal(ctx, &iot.DetachThingPrincipalInput{ThingName: aws.String("lamp"), Principal: aws.String(arn1)}); err != nil {
			t.Fatalf("DetachThingPrincipal: %v", err)
		}
		out, err := c.ListThingPrincipals(ctx, &iot.ListThingPrincipalsInput{ThingName: aws.String("lamp")})
		if err != nil {
			t.Fatalf("ListThingPrincipals: %v", err)
		}
		if diff := cmp.Diff([]string{arn2}, out.Principals); diff != "" {
			t.Errorf("principals (-want +got):\n%s", diff)
		}
	})
}
