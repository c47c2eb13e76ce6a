package registry_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/thingcore/thingcore/internal/registry"
	"github.com/thingcore/thingcore/internal/testcert"
)

func TestRegistrationCode(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t, registry.Deps{})
	first, err := r.RegistrationCode(ctx)
	if err != nil {
		t.Fatalf("RegistrationCode: %v", err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(first) {
		t.Errorf("RegistrationCode = %q, want 64 hex digits", first)
	}
	again, err := r.RegistrationCode(ctx)
	if err != nil || again != first {
		t.Errorf("RegistrationCode again = %q, %v; want %q", again, err, first)
	}
}

func TestAddCACertificate(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t, registry.Deps{})
	code, err := r.RegistrationCode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ca := testcert.NewCA(t)
	other := testcert.NewCA(t)
	sni := testcert.NewCA(t)
	good, _ := certPEM(t, ca, code)
	wrongCN, _ := certPEM(t, ca, "not the code")
	wrongSigner, _ := certPEM(t, other, code)
	leaf, _ := certPEM(t, ca, "leaf")
	tests := []struct {
		name string
		reg  registry.CARegistration
		want error
	}{
		{"wrong common name", registry.CARegistration{CertificatePEM: string(ca.CertPEM), VerificationCertificatePEM: wrongCN}, registry.ErrRegistrationCodeValidation},
		{"signed by another key", registry.CARegistration{CertificatePEM: string(ca.CertPEM), VerificationCertificatePEM: wrongSigner}, registry.ErrCertificateValidation},
		{"no verification certificate", registry.CARegistration{CertificatePEM: string(ca.CertPEM)}, registry.ErrInvalid},
		{"not a CA", registry.CARegistration{CertificatePEM: leaf, VerificationCertificatePEM: good}, registry.ErrCertificateValidation},
		{"bad mode", registry.CARegistration{CertificatePEM: string(ca.CertPEM), VerificationCertificatePEM: good, Mode: "X"}, registry.ErrInvalid},
		{"verified", registry.CARegistration{CertificatePEM: string(ca.CertPEM), VerificationCertificatePEM: good, Active: true, AutoRegistration: true}, nil},
		{"again", registry.CARegistration{CertificatePEM: string(ca.CertPEM), VerificationCertificatePEM: good}, registry.ErrAlreadyExists},
		{"SNI_ONLY with verification", registry.CARegistration{CertificatePEM: string(sni.CertPEM), VerificationCertificatePEM: good, Mode: registry.CAModeSNIOnly}, registry.ErrInvalid},
		{"SNI_ONLY", registry.CARegistration{CertificatePEM: string(sni.CertPEM), Mode: registry.CAModeSNIOnly}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.AddCACertificate(ctx, tt.reg)
			wantErr(t, "AddCACertificate", err, tt.want)
			if err != nil {
				return
			}
			desc, err := r.CACertificate(ctx, got.ID)
			if err != nil {
				t.Fatalf("CACertificate: %v", err)
			}
			if desc.ARN != "arn:aws:iot:eu-west-1:123456789012:cacert/"+got.ID || desc.PEM != tt.reg.CertificatePEM {
				t.Errorf("CACertificate = %+v, want the cacert ARN and the PEM registered", desc)
			}
		})
	}
	t.Run("flags", func(t *testing.T) {
		cas, _, err := r.ListCACertificates(ctx, 0, "", true)
		if err != nil || len(cas) != 2 {
			t.Fatalf("ListCACertificates = %d, %v; want 2", len(cas), err)
		}
		if c := cas[0]; c.Status != registry.CAActive || c.AutoRegistration != registry.AutoRegistrationEnable || c.Mode != registry.CAModeDefault {
			t.Errorf("first CA = %s %s %s, want ACTIVE ENABLE DEFAULT", c.Status, c.AutoRegistration, c.Mode)
		}
		if c := cas[1]; c.Status != registry.CAInactive || c.AutoRegistration != registry.AutoRegistrationDisable || c.Mode != registry.CAModeSNIOnly {
			t.Errorf("second CA = %s %s %s, want INACTIVE DISABLE SNI_ONLY", c.Status, c.AutoRegistration, c.Mode)
		}
		desc, _, err := r.ListCACertificates(ctx, 1, "", false)
		if err != nil || len(desc) != 1 || desc[0].ID != cas[1].ID {
			t.Errorf("ListCACertificates(descending, 1) = %v, %v; want the newest", desc, err)
		}
	})
	t.Run("issuer", func(t *testing.T) {
		c, err := r.IssuerCA(ctx, ca.ClientCert(t, testcert.KeyEC, "dev").Leaf)
		if err != nil || c.PEM != string(ca.CertPEM) {
			t.Errorf("IssuerCA = %s, %v; want the registered CA", c.ID, err)
		}
		_, err = r.IssuerCA(ctx, other.ClientCert(t, testcert.KeyEC, "dev").Leaf)
		wantErr(t, "IssuerCA(unregistered)", err, registry.ErrNotFound)
	})
}

func TestUpdateAndDeleteCACertificate(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t, registry.Deps{})
	ca := testcert.NewCA(t)
	c, err := r.AddCACertificate(ctx, registry.CARegistration{CertificatePEM: string(ca.CertPEM), Mode: registry.CAModeSNIOnly, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name        string
		do          func() error
		want        error
		wantStatus  registry.CAStatus
		wantAuto    registry.AutoRegistration
		wantVersion int
	}{
		{"delete while active", func() error { return r.DeleteCACertificate(ctx, c.ID) }, registry.ErrCertificateState, registry.CAActive, registry.AutoRegistrationDisable, 1},
		{"enable auto-registration", func() error { return r.UpdateCACertificate(ctx, c.ID, "", registry.AutoRegistrationEnable) }, nil, registry.CAActive, registry.AutoRegistrationEnable, 2},
		{"unchanged", func() error { return r.UpdateCACertificate(ctx, c.ID, registry.CAActive, "") }, nil, registry.CAActive, registry.AutoRegistrationEnable, 2},
		{"bad status", func() error { return r.UpdateCACertificate(ctx, c.ID, "REVOKED", "") }, registry.ErrInvalid, registry.CAActive, registry.AutoRegistrationEnable, 2},
		{"bad auto-registration", func() error { return r.UpdateCACertificate(ctx, c.ID, "", "ON") }, registry.ErrInvalid, registry.CAActive, registry.AutoRegistrationEnable, 2},
		{"deactivate", func() error { return r.UpdateCACertificate(ctx, c.ID, registry.CAInactive, "") }, nil, registry.CAInactive, registry.AutoRegistrationEnable, 3},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			wantErr(t, st.name, st.do(), st.want)
			got, err := r.CACertificate(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != st.wantStatus || got.AutoRegistration != st.wantAuto || got.CustomerVersion != st.wantVersion {
				t.Errorf("after: %s %s v%d, want %s %s v%d", got.Status, got.AutoRegistration, got.CustomerVersion,
					st.wantStatus, st.wantAuto, st.wantVersion)
			}
		})
	}
	t.Run("delete inactive", func(t *testing.T) {
		if err := r.DeleteCACertificate(ctx, c.ID); err != nil {
			t.Fatalf("DeleteCACertificate: %v", err)
		}
		_, err := r.CACertificate(ctx, c.ID)
		wantErr(t, "CACertificate(deleted)", err, registry.ErrNotFound)
		err = r.DeleteCACertificate(ctx, c.ID)
		wantErr(t, "DeleteCACertificate(again)", err, registry.ErrNotFound)
		err = r.UpdateCACertificate(ctx, strings.Repeat("5", 64), registry.CAActive, "")
		wantErr(t, "UpdateCACertificate(missing)", err, registry.ErrNotFound)
	})
}
