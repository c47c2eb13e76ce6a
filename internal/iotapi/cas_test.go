package iotapi_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/google/go-cmp/cmp"
)

// registeredCA is a test CA registered with the hub.
type registeredCA struct {
	*testCA
	id string
}

// registerCA registers ca with the proof of possession of its key.
func registerCA(t *testing.T, h *harness, ca *testCA, active bool) registeredCA {
	t.Helper()
	ctx := context.Background()
	code, err := h.client.GetRegistrationCode(ctx, &iot.GetRegistrationCodeInput{})
	if err != nil {
		t.Fatalf("GetRegistrationCode: %v", err)
	}
	verification, _ := ca.issue(t, aws.ToString(code.RegistrationCode), nil)
	out, err := h.client.RegisterCACertificate(ctx, &iot.RegisterCACertificateInput{
		CaCertificate: aws.String(ca.pem), VerificationCertificate: aws.String(verification), SetAsActive: active})
	if err != nil {
		t.Fatalf("RegisterCACertificate: %v", err)
	}
	return registeredCA{ca, aws.ToString(out.CertificateId)}
}

func TestCARegistration(t *testing.T) {
	h := start(t, harnessOpts{})
	c := h.client
	ctx := context.Background()

	rc, err := c.GetRegistrationCode(ctx, &iot.GetRegistrationCodeInput{})
	if err != nil {
		t.Fatalf("GetRegistrationCode: %v", err)
	}
	code := aws.ToString(rc.RegistrationCode)
	if len(code) != 64 {
		t.Errorf("registrationCode = %q, want 64 hex digits", code)
	}
	if again, err := c.GetRegistrationCode(ctx, &iot.GetRegistrationCodeInput{}); err != nil || aws.ToString(again.RegistrationCode) != code {
		t.Errorf("GetRegistrationCode again = %v, %v; want the same code %s", again, err, code)
	}

	ca := newTestCA(t, "customer CA")
	verification, _ := ca.issue(t, code, nil)
	wrongCN, _ := ca.issue(t, "not the code", nil)
	forged, _ := ca.issue(t, code, newKey(t))
	notCA := newTestCA(t, "leaf")
	notCA.pem, _ = ca.issue(t, "just a leaf", nil)

	register := func(in iot.RegisterCACertificateInput) (*iot.RegisterCACertificateOutput, error) {
		return c.RegisterCACertificate(ctx, &in)
	}
	errs := []struct {
		name   string
		in     iot.RegisterCACertificateInput
		target any
	}{
		{"verification CN is not the code", iot.RegisterCACertificateInput{CaCertificate: aws.String(ca.pem),
			VerificationCertificate: aws.String(wrongCN)}, new(*types.RegistrationCodeValidationException)},
		{"verification not signed by the CA", iot.RegisterCACertificateInput{CaCertificate: aws.String(ca.pem),
			VerificationCertificate: aws.String(forged)}, new(*types.CertificateValidationException)},
		{"not a CA", iot.RegisterCACertificateInput{CaCertificate: aws.String(notCA.pem),
			VerificationCertificate: aws.String(verification)}, new(*types.CertificateValidationException)},
		{"no verification certificate", iot.RegisterCACertificateInput{CaCertificate: aws.String(ca.pem)},
			new(*types.InvalidRequestException)},
		{"registration config", iot.RegisterCACertificateInput{CaCertificate: aws.String(ca.pem),
			VerificationCertificate: aws.String(verification), RegistrationConfig: &types.RegistrationConfig{TemplateName: aws.String("jitp")}},
			new(*types.InvalidRequestException)},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := register(tt.in)
			wantError(t, "RegisterCACertificate", err, tt.target)
		})
	}

	out, err := register(iot.RegisterCACertificateInput{CaCertificate: aws.String(ca.pem), VerificationCertificate: aws.String(verification),
		SetAsActive: true, AllowAutoRegistration: true})
	if err != nil {
		t.Fatalf("RegisterCACertificate: %v", err)
	}
	id := aws.ToString(out.CertificateId)
	if got, want := aws.ToString(out.CertificateArn), "arn:aws:iot:us-east-1:123456789012:cacert/"+id; got != want {
		t.Errorf("certificateArn = %q, want %q", got, want)
	}
	t.Run("again", func(t *testing.T) {
		_, err := register(iot.RegisterCACertificateInput{CaCertificate: aws.String(ca.pem), VerificationCertificate: aws.String(verification)})
		var ae *types.ResourceAlreadyExistsException
		wantError(t, "RegisterCACertificate again", err, &ae)
		if aws.ToString(ae.ResourceId) != id {
			t.Errorf("resourceId = %q, want %q", aws.ToString(ae.ResourceId), id)
		}
	})
	t.Run("SNI_ONLY needs no proof", func(t *testing.T) {
		other := newTestCA(t, "sni CA")
		if _, err := register(iot.RegisterCACertificateInput{CaCertificate: aws.String(other.pem), CertificateMode: types.CertificateModeSniOnly}); err != nil {
			t.Fatalf("RegisterCACertificate(SNI_ONLY): %v", err)
		}
	})

	describe := func(t *testing.T) *types.CACertificateDescription {
		t.Helper()
		d, err := c.DescribeCACertificate(ctx, &iot.DescribeCACertificateInput{CertificateId: aws.String(id)})
		if err != nil {
			t.Fatalf("DescribeCACertificate: %v", err)
		}
		return d.CertificateDescription
	}
	d := describe(t)
	if d.Status != types.CACertificateStatusActive || d.AutoRegistrationStatus != types.AutoRegistrationStatusEnable ||
		aws.ToString(d.CertificatePem) != ca.pem || d.CertificateMode != types.CertificateModeDefault ||
		!aws.ToTime(d.Validity.NotAfter).Equal(testNotAfter) {
		t.Errorf("DescribeCACertificate = %s %s %s notAfter %v, same PEM %v; want ACTIVE ENABLE DEFAULT %v true",
			d.Status, d.AutoRegistrationStatus, d.CertificateMode, aws.ToTime(d.Validity.NotAfter), aws.ToString(d.CertificatePem) == ca.pem, testNotAfter)
	}

	t.Run("list", func(t *testing.T) {
		var got []string
		p := iot.NewListCACertificatesPaginator(c, &iot.ListCACertificatesInput{PageSize: aws.Int32(1), AscendingOrder: true})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("ListCACertificates: %v", err)
			}
			for _, ca := range page.Certificates {
				got = append(got, string(ca.Status))
			}
		}
		if diff := cmp.Diff([]string{"ACTIVE", "INACTIVE"}, got); diff != "" {
			t.Errorf("statuses of the CAs oldest first (-want +got):\n%s", diff)
		}
	})

	_, err = c.DeleteCACertificate(ctx, &iot.DeleteCACertificateInput{CertificateId: aws.String(id)})
	wantError(t, "DeleteCACertificate(ACTIVE)", err, new(*types.CertificateStateException))
	if _, err := c.UpdateCACertificate(ctx, &iot.UpdateCACertificateInput{CertificateId: aws.String(id),
		NewStatus: types.CACertificateStatusInactive, RemoveAutoRegistration: true}); err != nil {
		t.Fatalf("UpdateCACertificate: %v", err)
	}
	if d := describe(t); d.Status != types.CACertificateStatusInactive || d.AutoRegistrationStatus != types.AutoRegistrationStatusDisable ||
		aws.ToInt32(d.CustomerVersion) != 2 {
		t.Errorf("after UpdateCACertificate: %s %s version %d, want INACTIVE DISABLE 2", d.Status, d.AutoRegistrationStatus, aws.ToInt32(d.CustomerVersion))
	}
	_, err = c.UpdateCACertificate(ctx, &iot.UpdateCACertificateInput{CertificateId: aws.String(id), NewStatus: "SOMETIMES"})
	wantError(t, "UpdateCACertificate(bad status)", err, new(*types.InvalidRequestException))
	if _, err := c.DeleteCACertificate(ctx, &iot.DeleteCACertificateInput{CertificateId: aws.String(id)}); err != nil {
		t.Fatalf("DeleteCACertificate: %v", err)
	}
	_, err = c.DescribeCACertificate(ctx, &iot.DescribeCACertificateInput{CertificateId: aws.String(id)})
	wantError(t, "DescribeCACertificate(deleted)", err, new(*types.ResourceNotFoundException))
}
