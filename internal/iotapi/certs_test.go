package iotapi_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
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

func csrPEM(t *testing.T, key any) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "my device"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func TestCreateCertificateFromCsr(t *testing.T) {
	h := start(t, harnessOpts{})
	c := h.client
	ctx := context.Background()
	key := newKey(t)
	csr := csrPEM(t, key)

	var ids []string
	for i := range 2 { // the same CSR twice gives two certificates
		out, err := c.CreateCertificateFromCsr(ctx, &iot.CreateCertificateFromCsrInput{
			CertificateSigningRequest: aws.String(csr), SetAsActive: i == 0})
		if err != nil {
			t.Fatalf("CreateCertificateFromCsr #%d: %v", i+1, err)
		}
		cert, err := pki.ParseCertificatePEM([]byte(aws.ToString(out.CertificatePem)))
		if err != nil {
			t.Fatal(err)
		}
		if !key.PublicKey.Equal(cert.PublicKey) {
			t.Errorf("certificate #%d does not carry the CSR's key", i+1)
		}
		if err := cert.CheckSignatureFrom(h.ca.Cert); err != nil {
			t.Errorf("certificate #%d is not signed by the hub CA: %v", i+1, err)
		}
		if got := pki.CertificateID(cert.Raw); got != aws.ToString(out.CertificateId) {
			t.Errorf("certificateId = %s, want %s", aws.ToString(out.CertificateId), got)
		}
		ids = append(ids, aws.ToString(out.CertificateId))
	}
	if ids[0] == ids[1] {
		t.Errorf("the same CSR gave the same certificate twice: %s", ids[0])
	}
	for i, want := range []types.CertificateStatus{types.CertificateStatusActive, types.CertificateStatusInactive} {
		d, err := c.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(ids[i])})
		if err != nil {
			t.Fatal(err)
		}
		if d.CertificateDescription.Status != want {
			t.Errorf("certificate #%d status = %s, want %s (setAsActive=%v)", i+1, d.CertificateDescription.Status, want, i == 0)
		}
	}

	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, csr string }{
		{"not PEM", "hello"},
		{"a certificate instead", string(h.ca.CertPEM)},
		{"RSA 1024", csrPEM(t, weak)},
		{"longer than 4096", csr + strings.Repeat(" ", 4097-len(csr))},
		{"empty", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.CreateCertificateFromCsr(ctx, &iot.CreateCertificateFromCsrInput{CertificateSigningRequest: aws.String(tt.csr)})
			wantError(t, "CreateCertificateFromCsr", err, new(*types.InvalidRequestException))
		})
	}
}

func TestRegisterCertificate(t *testing.T) {
	h := start(t, harnessOpts{keyType: pki.KeyEC})
	c := h.client
	ctx := context.Background()
	active := registerCA(t, h, newTestCA(t, "active CA"), true)
	inactive := registerCA(t, h, newTestCA(t, "inactive CA"), false)
	unregistered := newTestCA(t, "unregistered CA")
	hubCreds, err := h.ca.IssueDevice(pki.KeyEC, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fromActive, fromActiveID := active.issue(t, "dev-1", nil)
	fromActive2, _ := active.issue(t, "dev-2", nil)
	forged, _ := active.issue(t, "forged", newKey(t))
	fromInactive, _ := inactive.issue(t, "dev-3", nil)
	fromUnregistered, _ := unregistered.issue(t, "dev-4", nil)

	register := func(certPEM, caPEM string, status types.CertificateStatus) (*iot.RegisterCertificateOutput, error) {
		in := &iot.RegisterCertificateInput{CertificatePem: aws.String(certPEM), Status: status}
		if caPEM != "" {
			in.CaCertificatePem = aws.String(caPEM)
		}
		return c.RegisterCertificate(ctx, in)
	}
	tests := []struct {
		name       string
		cert, ca   string
		status     types.CertificateStatus
		target     any    // nil: success
		wantCAID   string // on success
		wantStatus types.CertificateStatus
	}{
		{name: "signed by a registered CA", cert: fromActive, status: types.CertificateStatusActive,
			wantCAID: active.id, wantStatus: types.CertificateStatusActive},
		{name: "with its CA named", cert: fromActive2, ca: active.pem, wantCAID: active.id, wantStatus: types.CertificateStatusInactive},
		{name: "signed by the hub CA", cert: string(hubCreds.CertificatePEM), status: types.CertificateStatusRevoked,
			wantStatus: types.CertificateStatusRevoked},
		{name: "again", cert: fromActive, target: new(*types.ResourceAlreadyExistsException)},
		{name: "forged signature", cert: forged, target: new(*types.CertificateValidationException)},
		{name: "forged signature with its CA named", cert: forged, ca: active.pem, target: new(*types.CertificateValidationException)},
		{name: "CA not active", cert: fromInactive, target: new(*types.CertificateStateException)},
		{name: "CA not registered", cert: fromUnregistered, target: new(*types.CertificateValidationException)},
		{name: "named CA not registered", cert: fromUnregistered, ca: unregistered.pem, target: new(*types.CertificateValidationException)},
		{name: "a CA certificate", cert: unregistered.pem, target: new(*types.CertificateValidationException)},
		{name: "not PEM", cert: "garbage", target: new(*types.CertificateValidationException)},
		{name: "status not allowed", cert: fromUnregistered, status: types.CertificateStatusPendingTransfer,
			target: new(*types.InvalidRequestException)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := register(tt.cert, tt.ca, tt.status)
			if tt.target != nil {
				wantError(t, "RegisterCertificate", err, tt.target)
				return
			}
			if err != nil {
				t.Fatalf("RegisterCertificate: %v", err)
			}
			d, err := c.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: out.CertificateId})
			if err != nil {
				t.Fatal(err)
			}
			if got := aws.ToString(d.CertificateDescription.CaCertificateId); got != tt.wantCAID {
				t.Errorf("caCertificateId = %q, want %q", got, tt.wantCAID)
			}
			if got := d.CertificateDescription.Status; got != tt.wantStatus {
				t.Errorf("status = %s, want %s", got, tt.wantStatus)
			}
		})
	}
	if _, err := c.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(fromActiveID)}); err != nil {
		t.Errorf("DescribeCertificate(registered): %v", err)
	}

	t.Run("without a CA", func(t *testing.T) {
		out, err := c.RegisterCertificateWithoutCA(ctx, &iot.RegisterCertificateWithoutCAInput{
			CertificatePem: aws.String(fromUnregistered), Status: types.CertificateStatusActive})
		if err != nil {
			t.Fatalf("RegisterCertificateWithoutCA: %v", err)
		}
		d, err := c.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: out.CertificateId})
		if err != nil {
			t.Fatal(err)
		}
		if d.CertificateDescription.Status != types.CertificateStatusActive || d.CertificateDescription.CaCertificateId != nil {
			t.Errorf("status %s, caCertificateId %v; want ACTIVE and none", d.CertificateDescription.Status, d.CertificateDescription.CaCertificateId)
		}
		_, err = c.RegisterCertificateWithoutCA(ctx, &iot.RegisterCertificateWithoutCAInput{CertificatePem: aws.String(unregistered.pem)})
		wantError(t, "RegisterCertificateWithoutCA(CA certificate)", err, new(*types.CertificateValidationException))
	})
}

func TestCertificateErrors(t *testing.T) {
	h := start(t, harnessOpts{keyType: pki.KeyEC})
	c := h.client
	ctx := context.Background()
	kc, err := c.CreateKeysAndCertificate(ctx, &iot.CreateKeysAndCertificateInput{})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(kc.CertificateId)
	revoked, err := c.CreateKeysAndCertificate(ctx, &iot.CreateKeysAndCertificateInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateCertificate(ctx, &iot.UpdateCertificateInput{CertificateId: revoked.CertificateId, NewStatus: types.CertificateStatusRevoked}); err != nil {
		t.Fatal(err)
	}
	before := len(h.statusChanges())
	const unknownID = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
	tests := []struct {
		name   string
		call   func() error
		target any
	}{
		{"describe an unknown id", func() error {
			_, err := c.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(unknownID)})
			return err
		}, new(*types.ResourceNotFoundException)},
		{"describe a malformed id", func() error {
			_, err := c.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String("xyz")})
			return err
		}, new(*types.InvalidRequestException)},
		{"update an unknown id", func() error {
			_, err := c.UpdateCertificate(ctx, &iot.UpdateCertificateInput{CertificateId: aws.String(unknownID), NewStatus: types.CertificateStatusInactive})
			return err
		}, new(*types.ResourceNotFoundException)},
		{"update to PENDING_ACTIVATION", func() error {
			_, err := c.UpdateCertificate(ctx, &iot.UpdateCertificateInput{CertificateId: aws.String(id), NewStatus: types.CertificateStatusPendingActivation})
			return err
		}, new(*types.InvalidRequestException)},
		{"update to an unknown status", func() error {
			_, err := c.UpdateCertificate(ctx, &iot.UpdateCertificateInput{CertificateId: aws.String(id), NewStatus: "MAYBE"})
			return err
		}, new(*types.InvalidRequestException)},
		{"reactivate a revoked certificate", func() error {
			_, err := c.UpdateCertificate(ctx, &iot.UpdateCertificateInput{CertificateId: revoked.CertificateId, NewStatus: types.CertificateStatusActive})
			return err
		}, new(*types.CertificateStateException)},
		{"delete an unknown id", func() error {
			_, err := c.DeleteCertificate(ctx, &iot.DeleteCertificateInput{CertificateId: aws.String(unknownID)})
			return err
		}, new(*types.ResourceNotFoundException)},
		{"list with pageSize 0", func() error {
			_, err := c.ListCertificates(ctx, &iot.ListCertificatesInput{PageSize: aws.Int32(0)})
			return err
		}, new(*types.InvalidRequestException)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, tt.name, tt.call(), tt.target)
		})
	}
	if got := h.statusChanges(); len(got) != before {
		t.Errorf("CertificateStatusChanged was called on failures: %v", got[before:])
	}
	t.Run("upper-case id", func(t *testing.T) {
		if _, err := c.UpdateCertificate(ctx, &iot.UpdateCertificateInput{CertificateId: aws.String(strings.ToUpper(id)),
			NewStatus: types.CertificateStatusActive}); err != nil {
			t.Fatalf("UpdateCertificate: %v", err)
		}
		got := h.statusChanges()
		if want := (statusChange{id, registry.StatusActive}); got[len(got)-1] != want {
			t.Errorf("last status change = %v, want %v (the id in lower case)", got[len(got)-1], want)
		}
	})
}

func TestListCertificates(t *testing.T) {
	h := start(t, harnessOpts{keyType: pki.KeyEC})
	c := h.client
	ctx := context.Background()
	var created []string // in creation order (the registry clock ticks)
	for range 5 {
		out, err := c.CreateKeysAndCertificate(ctx, &iot.CreateKeysAndCertificateInput{SetAsActive: true})
		if err != nil {
			t.Fatal(err)
		}
		created = append(created, aws.ToString(out.CertificateId))
	}
	reversed := make([]string, len(created))
	for i, id := range created {
		reversed[len(created)-1-i] = id
	}
	tests := []struct {
		name      string
		in        iot.ListCertificatesInput
		want      []string
		wantPages int
	}{
		{"ascending in pages of two", iot.ListCertificatesInput{PageSize: aws.Int32(2), AscendingOrder: true}, created, 3},
		{"newest first by default", iot.ListCertificatesInput{PageSize: aws.Int32(2)}, reversed, 3},
		{"one page", iot.ListCertificatesInput{AscendingOrder: true}, created, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			p := iot.NewListCertificatesPaginator(c, &in)
			var got []string
			pages := 0
			for p.HasMorePages() {
				out, err := p.NextPage(ctx)
				if err != nil {
					t.Fatalf("ListCertificates: %v", err)
				}
				pages++
				for _, cert := range out.Certificates {
					got = append(got, aws.ToString(cert.CertificateId))
					if cert.Status != types.CertificateStatusActive || cert.CreationDate == nil || aws.ToString(cert.CertificateArn) != certARN(aws.ToString(cert.CertificateId)) {
						t.Errorf("certificate %+v: want ACTIVE, a creation date and its ARN", cert)
					}
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("certificates (-want +got):\n%s", diff)
			}
			if pages != tt.wantPages {
				t.Errorf("pages = %d, want %d", pages, tt.wantPages)
			}
		})
	}
}
