package registry_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/thingcore/thingcore/internal/registry"
	"github.com/thingcore/thingcore/internal/testcert"
)

func TestAddCertificate(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t, registry.Deps{})
	ca := testcert.NewCA(t)
	p, wantID := certPEM(t, ca, "dev1")

	got, err := r.AddCertificate(ctx, p, registry.StatusActive, "")
	if err != nil {
		t.Fatalf("AddCertificate: %v", err)
	}
	leaf, _, _ := registry.ParseCertificatePEM(p)
	want := registry.Certificate{
		ID: wantID, ARN: "arn:aws:iot:eu-west-1:123456789012:cert/" + wantID, PEM: p, Status: registry.StatusActive,
		OwnedBy: "123456789012", CreatedAt: epoch.Add(time.Second), LastModifiedAt: epoch.Add(time.Second),
		CustomerVersion: 1, GenerationID: got.GenerationID,
		NotBefore: leaf.NotBefore.UTC(), NotAfter: leaf.NotAfter.UTC(), Mode: "DEFAULT",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AddCertificate (-want +got):\n%s", diff)
	}
	if !uuidRE.MatchString(got.GenerationID) {
		t.Errorf("GenerationID = %q, want a UUID", got.GenerationID)
	}
	desc, err := r.Certificate(ctx, strings.ToUpper(wantID))
	if err != nil {
		t.Fatalf("Certificate: %v", err)
	}
	if diff := cmp.Diff(got, desc); diff != "" {
		t.Errorf("Certificate differs from AddCertificate (-add +get):\n%s", diff)
	}

	// A registered CA for the caID cases.
	code, err := r.RegistrationCode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	verification, _ := certPEM(t, ca, code)
	regCA, err := r.AddCACertificate(ctx, registry.CARegistration{
		CertificatePEM: string(ca.CertPEM), VerificationCertificatePEM: verification, Active: true,
	})
	if err != nil {
		t.Fatalf("AddCACertificate: %v", err)
	}
	signedByCA, _ := certPEM(t, ca, "dev2")
	other := testcert.NewCA(t)
	signedByOther, _ := certPEM(t, other, "dev3")

	tests := []struct {
		name   string
		pem    string
		status registry.CertStatus
		caID   string
		want   error
	}{
		{"same certificate again", p, registry.StatusInactive, "", registry.ErrAlreadyExists},
		{"not PEM", "hello", "", "", registry.ErrCertificateValidation},
		{"PEM of garbage", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "", "", registry.ErrCertificateValidation},
		{"two certificates", signedByCA + signedByOther, "", "", registry.ErrCertificateValidation},
		{"bad status", signedByCA, "ENABLED", "", registry.ErrInvalid},
		{"unknown CA", signedByCA, "", strings.Repeat("ab", 32), registry.ErrNotFound},
		{"not signed by the CA", signedByOther, "", regCA.ID, registry.ErrCertificateValidation},
		{"signed by the CA", signedByCA, registry.StatusPendingActivation, regCA.ID, nil},
		{"default status", signedByOther, "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := r.AddCertificate(ctx, tt.pem, tt.status, tt.caID)
			wantErr(t, "AddCertificate", err, tt.want)
			if err != nil {
				return
			}
			wantStatus := tt.status
			if wantStatus == "" {
				wantStatus = registry.StatusInactive
			}
			if c.Status != wantStatus || c.CACertificateID != tt.caID {
				t.Errorf("AddCertificate = status %s CA %q, want %s %q", c.Status, c.CACertificateID, wantStatus, tt.caID)
			}
		})
	}
	t.Run("conflict names the certificate", func(t *testing.T) {
		_, err := r.AddCertificate(ctx, p, "", "")
		var e *registry.Error
		if !errors.As(err, &e) || e.ResourceID != wantID || e.ResourceARN != want.ARN {
			t.Errorf("AddCertificate(again) = %#v, want resource %s", err, wantID)
		}
	})
	t.Run("missing certificate", func(t *testing.T) {
		_, err := r.Certificate(ctx, strings.Repeat("0", 64))
		wantErr(t, "Certificate(missing)", err, registry.ErrNotFound)
		_, err = r.Certificate(ctx, "short")
		wantErr(t, "Certificate(short id)", err, registry.ErrInvalid)
	})
}

func TestUpdateCertificateStatus(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t, registry.Deps{})
	ca := testcert.NewCA(t)
	tests := []struct {
		name string
		from registry.CertStatus
		to   registry.CertStatus
		want error
	}{
		{"activate", registry.StatusInactive, registry.StatusActive, nil},
		{"deactivate", registry.StatusActive, registry.StatusInactive, nil},
		{"revoke", registry.StatusActive, registry.StatusRevoked, nil},
		{"same status is idempotent", registry.StatusActive, registry.StatusActive, nil},
		{"activate a JITR certificate", registry.StatusPendingActivation, registry.StatusActive, nil},
		{"deprecated REGISTER_INACTIVE", registry.StatusActive, registry.StatusRegisterInactive, nil},
		{"to PENDING_TRANSFER", registry.StatusActive, registry.StatusPendingTransfer, registry.ErrInvalid},
		{"to PENDING_ACTIVATION", registry.StatusInactive, registry.StatusPendingActivation, registry.ErrInvalid},
		{"unknown status", registry.StatusInactive, "ON", registry.ErrInvalid},
		{"out of REVOKED", registry.StatusRevoked, registry.StatusActive, registry.ErrCertificateState},
		{"out of PENDING_TRANSFER", registry.StatusPendingTransfer, registry.StatusActive, registry.ErrCertificateState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := addCert(t, r, ca, tt.from)
			err := r.UpdateCertificateStatus(ctx, before.ID, tt.to)
			wantErr(t, "UpdateCertificateStatus", err, tt.want)
			after, gerr := r.Certificate(ctx, before.ID)
			if gerr != nil {
				t.Fatal(gerr)
			}
			changed := err == nil && tt.from != tt.to
			wantStatus, wantVersion := tt.from, 1
			if changed {
				wantStatus, wantVersion = tt.to, 2
			}
			if after.Status != wantStatus || after.CustomerVersion != wantVersion {
				t.Errorf("after: status %s version %d, want %s %d", after.Status, after.CustomerVersion, wantStatus, wantVersion)
			}
			if moved := after.LastModifiedAt.After(before.LastModifiedAt); moved != changed {
				t.Errorf("LastModifiedAt %v -> %v; want moved=%v", before.LastModifiedAt, after.LastModifiedAt, changed)
			}
			if regen := after.GenerationID != before.GenerationID; regen != changed {
				t.Errorf("GenerationID %s -> %s; want changed=%v", before.GenerationID, after.GenerationID, changed)
			}
		})
	}
	t.Run("missing certificate", func(t *testing.T) {
		err := r.UpdateCertificateStatus(ctx, strings.Repeat("1", 64), registry.StatusActive)
		wantErr(t, "UpdateCertificateStatus(missing)", err, registry.ErrNotFound)
	})
}

func TestDeleteCertificate(t *testing.T) {
	ctx := context.Background()
	ca := testcert.NewCA(t)
	withPolicies := map[string]bool{}
	r := newRegistry(t, registry.Deps{CertificateHasPolicies: func(_ context.Context, arn string) (bool, error) {
		return withPolicies[arn], nil
	}})
	if _, err := r.CreateThing(ctx, "holder", "", nil); err != nil {
		t.Fatal(err)
	}
	active := addCert(t, r, ca, registry.StatusActive)
	attached := addCert(t, r, ca, registry.StatusInactive)
	if err := r.AttachThingPrincipal(ctx, "holder", attached.ARN, false); err != nil {
		t.Fatal(err)
	}
	policied := addCert(t, r, ca, registry.StatusInactive)
	forced := addCert(t, r, ca, registry.StatusRevoked)
	withPolicies[policied.ARN], withPolicies[forced.ARN] = true, true
	plain := addCert(t, r, ca, registry.StatusInactive)

	tests := []struct {
		name    string
		id      string
		force   bool
		want    error
		wantMsg string
	}{
		{"active", active.ID, false, registry.ErrCertificateState,
			"Certificate must be deactivated (not ACTIVE) before deletion. Id: " + active.ID},
		{"active forced", active.ID, true, registry.ErrCertificateState, ""},
		{"attached to a thing", attached.ID, false, registry.ErrDeleteConflict,
			"Things must be detached before deletion (arn: " + attached.ARN + ")"},
		{"attached to a thing forced", attached.ID, true, registry.ErrDeleteConflict, ""},
		{"policies attached", policied.ID, false, registry.ErrDeleteConflict, ""},
		{"policies attached forced", forced.ID, true, nil, ""},
		{"inactive", plain.ID, false, nil, ""},
		{"missing", strings.Repeat("2", 64), false, registry.ErrNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.DeleteCertificate(ctx, tt.id, tt.force)
			wantErr(t, "DeleteCertificate", err, tt.want)
			if tt.wantMsg != "" {
				if got := message(t, err); got != tt.wantMsg {
					t.Errorf("message = %q, want %q", got, tt.wantMsg)
				}
			}
			_, gerr := r.Certificate(ctx, tt.id)
			if gone := errors.Is(gerr, registry.ErrNotFound); gone != (err == nil || tt.want == registry.ErrNotFound) {
				t.Errorf("after DeleteCertificate = %v: Certificate = %v", err, gerr)
			}
		})
	}
	t.Run("deleted certificates leave the list", func(t *testing.T) {
		certs, _, err := r.ListCertificates(ctx, 0, "", true)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range certs {
			ids = append(ids, c.ID)
		}
		if diff := cmp.Diff([]string{active.ID, attached.ID, policied.ID}, ids); diff != "" {
			t.Errorf("ListCertificates (-want +got):\n%s", diff)
		}
	})
}

func TestListCertificates(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t, registry.Deps{})
	ca := testcert.NewCA(t)
	var ids []string // in creation order
	for range 5 {
		ids = append(ids, addCert(t, r, ca, registry.StatusActive).ID)
	}
	collect := func(t *testing.T, size int, ascending bool) [][]string {
		t.Helper()
		var pages [][]string
		marker := ""
		for range 10 {
			certs, next, err := r.ListCertificates(ctx, size, marker, ascending)
			if err != nil {
				t.Fatalf("ListCertificates: %v", err)
			}
			var page []string
			for _, c := range certs {
				page = append(page, c.ID)
			}
			pages = append(pages, page)
			if next == "" {
				return pages
			}
			marker = next
		}
		t.Fatal("pagination does not end")
		return nil
	}
	tests := []struct {
		name      string
		size      int
		ascending bool
		want      [][]string
	}{
		{"ascending by 2", 2, true, [][]string{{ids[0], ids[1]}, {ids[2], ids[3]}, {ids[4]}}},
		{"descending by 2", 2, false, [][]string{{ids[4], ids[3]}, {ids[2], ids[1]}, {ids[0]}}},
		{"one page", 0, true, [][]string{ids}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, collect(t, tt.size, tt.ascending)); diff != "" {
				t.Errorf("pages (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("bad page size", func(t *testing.T) {
		_, _, err := r.ListCertificates(ctx, 300, "", true)
		wantErr(t, "ListCertificates(300)", err, registry.ErrInvalid)
	})
}
