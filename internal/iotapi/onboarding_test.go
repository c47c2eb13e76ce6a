package iotapi_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/google/go-cmp/cmp"

	"github.com/thingcore/thingcore/internal/pki"
	"github.com/thingcore/thingcore/internal/registry"
)

// TestDeviceOnboarding walks the flow of AWS's getting-started guides with
// AWS's own SDK: a thing, keys and a certificate, the attachment, then
// deactivation and deletion in the order AWS enforces.
func TestDeviceOnboarding(t *testing.T) {
	h := start(t, harnessOpts{}) // RSA keys, as AWS issues them
	c := h.client
	ctx := context.Background()
	const thing = "kitchen-lamp"

	ct, err := c.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String(thing),
		AttributePayload: &types.AttributePayload{Attributes: map[string]string{"room": "kitchen"}}})
	if err != nil {
		t.Fatalf("CreateThing: %v", err)
	}
	if got, want := aws.ToString(ct.ThingArn), "arn:aws:iot:us-east-1:123456789012:thing/"+thing; got != want {
		t.Errorf("CreateThing.ThingArn = %q, want %q", got, want)
	}

	kc, err := c.CreateKeysAndCertificate(ctx, &iot.CreateKeysAndCertificateInput{SetAsActive: true})
	if err != nil {
		t.Fatalf("CreateKeysAndCertificate: %v", err)
	}
	id := aws.ToString(kc.CertificateId)
	block, _ := pem.Decode([]byte(aws.ToString(kc.CertificatePem)))
	if block == nil {
		t.Fatalf("certificatePem is not PEM: %q", aws.ToString(kc.CertificatePem))
	}
	if got := pki.CertificateID(block.Bytes); got != id {
		t.Errorf("certificateId = %s, want SHA-256 of the DER %s", id, got)
	}
	if got := aws.ToString(kc.CertificateArn); got != certARN(id) {
		t.Errorf("certificateArn = %q, want %q", got, certARN(id))
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.CheckSignatureFrom(h.ca.Cert); err != nil {
		t.Errorf("certificate is not signed by the hub CA: %v", err)
	}
	if kc.KeyPair == nil {
		t.Fatal("keyPair is missing")
	}
	priv := aws.ToString(kc.KeyPair.PrivateKey)
	if !strings.HasPrefix(priv, "-----BEGIN RSA PRIVATE KEY-----") {
		t.Errorf("keyPair.PrivateKey starts %.40q, want an RSA PRIVATE KEY PEM", priv)
	}
	if pub := aws.ToString(kc.KeyPair.PublicKey); !strings.HasPrefix(pub, "-----BEGIN PUBLIC KEY-----") {
		t.Errorf("keyPair.PublicKey starts %.40q, want a PUBLIC KEY PEM", pub)
	}
	assertNotStored(t, h, priv)

	if _, err := c.AttachThingPrincipal(ctx, &iot.AttachThingPrincipalInput{ThingName: aws.String(thing),
		Principal: kc.CertificateArn}); err != nil {
		t.Fatalf("AttachThingPrincipal: %v", err)
	}
	lp, err := c.ListThingPrincipals(ctx, &iot.ListThingPrincipalsInput{ThingName: aws.String(thing)})
	if err != nil {
		t.Fatalf("ListThingPrincipals: %v", err)
	}
	if diff := cmp.Diff([]string{certARN(id)}, lp.Principals); diff != "" {
		t.Errorf("ListThingPrincipals (-want +got):\n%s", diff)
	}
	pt, err := c.ListPrincipalThings(ctx, &iot.ListPrincipalThingsInput{Principal: kc.CertificateArn})
	if err != nil {
		t.Fatalf("ListPrincipalThings: %v", err)
	}
	if diff := cmp.Diff([]string{thing}, pt.Things); diff != "" {
		t.Errorf("ListPrincipalThings (-want +got):\n%s", diff)
	}

	dc, err := c.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(id)})
	if err != nil {
		t.Fatalf("DescribeCertificate: %v", err)
	}
	d := dc.CertificateDescription
	if d.Status != types.CertificateStatusActive || aws.ToString(d.CertificatePem) != aws.ToString(kc.CertificatePem) ||
		aws.ToString(d.OwnedBy) != testAccount || d.CertificateMode != types.CertificateModeDefault {
		t.Errorf("DescribeCertificate = status %s, owner %s, mode %s, same PEM %v; want ACTIVE, %s, DEFAULT, true",
			d.Status, aws.ToString(d.OwnedBy), d.CertificateMode,
			aws.ToString(d.CertificatePem) == aws.ToString(kc.CertificatePem), testAccount)
	}
	if got := aws.ToTime(d.CreationDate); got.Before(epoch) || got.After(epoch.Add(time.Minute)) {
		t.Errorf("creationDate = %v, want just after %v (the registry clock)", got, epoch)
	}
	if got := aws.ToTime(d.Validity.NotAfter); !got.Equal(pki.DeviceNotAfter) && !got.Equal(h.ca.Cert.NotAfter) {
		t.Errorf("validity.notAfter = %v, want %v (or the CA's expiry)", got, pki.DeviceNotAfter)
	}

	// Delete ordering: attached thing and active certificate block deletion.
	_, err = c.DeleteThing(ctx, &iot.DeleteThingInput{ThingName: aws.String(thing)})
	wantError(t, "DeleteThing(attached)", err, new(*types.InvalidRequestException))
	_, err = c.DeleteCertificate(ctx, &iot.DeleteCertificateInput{CertificateId: aws.String(id)})
	wantError(t, "DeleteCertificate(ACTIVE)", err, new(*types.CertificateStateException))
	if got, want := errorMessage(err), "Certificate must be deactivated (not ACTIVE) before deletion. Id: "+id; got != want {
		t.Errorf("DeleteCertificate(ACTIVE) message = %q, want %q", got, want)
	}

	if _, err := c.UpdateCertificate(ctx, &iot.UpdateCertificateInput{CertificateId: aws.String(id),
		NewStatus: types.CertificateStatusInactive}); err != nil {
		t.Fatalf("UpdateCertificate(INACTIVE): %v", err)
	}
	if diff := cmp.Diff([]statusChange{{id, registry.StatusInactive}}, h.statusChanges()); diff != "" {
		t.Errorf("CertificateStatusChanged calls (-want +got):\n%s", diff)
	}
	_, err = c.DeleteCertificate(ctx, &iot.DeleteCertificateInput{CertificateId: aws.String(id)})
	wantError(t, "DeleteCertificate(attached)", err, new(*types.DeleteConflictException))

	if _, err := c.DetachThingPrincipal(ctx, &iot.DetachThingPrincipalInput{ThingName: aws.String(thing),
		Principal: kc.CertificateArn}); err != nil {
		t.Fatalf("DetachThingPrincipal: %v", err)
	}
	if _, err := c.DeleteCertificate(ctx, &iot.DeleteCertificateInput{CertificateId: aws.String(id)}); err != nil {
		t.Fatalf("DeleteCertificate: %v", err)
	}
	if got := h.statusChanges(); len(got) != 2 || got[1] != (statusChange{id, registry.StatusInactive}) {
		t.Errorf("CertificateStatusChanged after delete = %v, want a second call with %s INACTIVE", got, id)
	}
	if _, err := c.DeleteThing(ctx, &iot.DeleteThingInput{ThingName: aws.String(thing)}); err != nil {
		t.Fatalf("DeleteThing: %v", err)
	}
	_, err = c.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String(thing)})
	wantError(t, "DescribeThing(deleted)", err, new(*types.ResourceNotFoundException))
	_, err = c.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(id)})
	wantError(t, "DescribeCertificate(deleted)", err, new(*types.ResourceNotFoundException))
}

// assertNotStored fails if any stored registry value contains the private
// key's base64 body.
func assertNotStored(t *testing.T, h *harness, privPEM string) {
	t.Helper()
	block, _ := pem.Decode([]byte(privPEM))
	if block == nil {
		t.Fatal("private key is not PEM")
	}
	body := strings.Split(strings.TrimSpace(privPEM), "\n")[1] // first base64 line
	ctx := context.Background()
	b, err := h.kv.Bucket(ctx, registry.BucketName)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := b.Keys(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		e, err := b.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(e.Value), body) {
			t.Errorf("the private key is stored under %s", k)
		}
	}
}
