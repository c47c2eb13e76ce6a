package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/thingcore/thingcore/internal/kvstore"
)

// CAStatus is a CA certificate's status.
type CAStatus string

// CA certificate statuses.
const (
	CAActive   CAStatus = "ACTIVE"
	CAInactive CAStatus = "INACTIVE"
)

// AutoRegistration is a CA's auto-registration status (JITR).
type AutoRegistration string

// Auto-registration statuses.
const (
	AutoRegistrationEnable  AutoRegistration = "ENABLE"
	AutoRegistrationDisable AutoRegistration = "DISABLE"
)

// CA certificate modes.
const (
	CAModeDefault = "DEFAULT"  // registered with a verification certificate
	CAModeSNIOnly = "SNI_ONLY" // registered without one
)

// maxCAsPerSubject is AWS's limit on CA certificates with one subject.
const maxCAsPerSubject = 10

// CACertificate is a registered CA certificate.
type CACertificate struct {
	ID               string // lowercase hex SHA-256 of the DER
	ARN              string
	PEM              string
	Status           CAStatus
	AutoRegistration AutoRegistration
	OwnedBy          string
	CreatedAt        time.Time
	LastModifiedAt   time.Time
	CustomerVersion  int
	GenerationID     string
	NotBefore        time.Time
	NotAfter         time.Time
	Mode             string // CAModeDefault or CAModeSNIOnly
}

// caRecord is a CA certificate as stored.
type caRecord struct {
	ID               string           `json:"id"`
	PEM              string           `json:"pem"`
	Status           CAStatus         `json:"status"`
	AutoRegistration AutoRegistration `json:"auto_registration"`
	CreatedAt        time.Time        `json:"created_at"`
	LastModifiedAt   time.Time        `json:"last_modified_at"`
	CustomerVersion  int              `json:"customer_version"`
	GenerationID     string           `json:"generation_id"`
	NotBefore        time.Time        `json:"not_before"`
	NotAfter         time.Time        `json:"not_after"`
	Mode             string           `json:"mode"`
}

func (r *Registry) caCertificate(rec caRecord) CACertificate {
	return CACertificate{
		ID: rec.ID, ARN: r.CACertificateARN(rec.ID), PEM: rec.PEM, Status: rec.Status,
		AutoRegistration: rec.AutoRegistration, OwnedBy: r.cfg.AccountID,
		CreatedAt: rec.CreatedAt, LastModifiedAt: rec.LastModifiedAt, CustomerVersion: rec.CustomerVersion,
		GenerationID: rec.GenerationID, NotBefore: rec.NotBefore, NotAfter: rec.NotAfter, Mode: rec.Mode,
	}
}

func caKey(id string) string { return kvstore.Key("ca", id) }

var registrationCodeKey = kvstore.Key("meta", "registration-code")

// RegistrationCode returns the account's CA registration code (64 hex
// digits), creating it on first use; it never changes afterwards.
func (r *Registry) RegistrationCode(ctx context.Context) (string, error) {
	for range maxCASAttempts {
		e, err := r.b.Get(ctx, registrationCodeKey)
		if err == nil {
			return string(e.Value), nil
		}
		if !isNotFound(err) {
			return "", fmt.Errorf("registry: registration code: %w", err)
		}
		var b [32]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand doc)
		code := hex.EncodeToString(b[:])
		_, err = r.b.Create(ctx, registrationCodeKey, []byte(code))
		switch {
		case err == nil:
			return code, nil
		case errors.Is(err, kvstore.ErrExists):
			continue // created concurrently: read it
		default:
			return "", fmt.Errorf("registry: registration code: %w", err)
		}
	}
	return "", fmt.Errorf("registry: registration code: %w", errContention)
}

// CARegistration is a request to register a CA certificate
// (RegisterCACertificate).
type CARegistration struct {
	// CertificatePEM is the CA certificate. Required.
	CertificatePEM string
	// VerificationCertificatePEM proves possession of the CA's key: a
	// certificate whose subject common name is the registration code,
	// signed by the CA. Required in DEFAULT mode, empty in SNI_ONLY mode.
	VerificationCertificatePEM string
	// Active registers the CA as ACTIVE instead of INACTIVE.
	Active bool
	// AutoRegistration enables JITR for certificates the CA signed.
	AutoRegistration bool
	// Mode is CAModeDefault ("" means it) or CAModeSNIOnly.
	Mode string
}

// AddCACertificate registers a CA certificate. The error wraps
// ErrCertificateValidation when a certificate does not parse, is not a CA,
// or the verification certificate is not signed by it,
// ErrRegistrationCodeValidation when the verification certificate's common
// name is not the registration code, ErrAlreadyExists when the CA is
// registered, and ErrLimitExceeded past 10 CAs with one subject.
func (r *Registry) AddCACertificate(ctx context.Context, reg CARegistration) (CACertificate, error) {
	ca, id, err := ParseCertificatePEM(reg.CertificatePEM)
	if err != nil {
		return CACertificate{}, err
	}
	if !ca.BasicConstraintsValid || !ca.IsCA {
		return CACertificate{}, newError(ErrCertificateValidation, "The certificate is not a CA certificate")
	}
	switch reg.Mode {
	case "", CAModeDefault:
		reg.Mode = CAModeDefault
		if err := r.verifyPossession(ctx, ca, reg.VerificationCertificatePEM); err != nil {
			return CACertificate{}, err
		}
	case CAModeSNIOnly:
		if reg.VerificationCertificatePEM != "" {
			return CACertificate{}, invalidf("A verification certificate must not be given in SNI_ONLY mode")
		}
	default:
		return CACertificate{}, invalidf("Invalid certificate mode %q", reg.Mode)
	}
	cas, err := r.listCAs(ctx)
	if err != nil {
		return CACertificate{}, err
	}
	same := 0
	for _, c := range cas {
		if c.ID == id {
			return CACertificate{}, r.caExists(id)
		}
		if other, _, err := ParseCertificatePEM(c.PEM); err == nil && bytes.Equal(other.RawSubject, ca.RawSubject) {
			same++
		}
	}
	if same >= maxCAsPerSubject {
		return CACertificate{}, newError(ErrLimitExceeded,
			"There are already %d CA certificates with the subject %s", maxCAsPerSubject, ca.Subject)
	}
	now := r.now()
	rec := caRecord{
		ID: id, PEM: canonicalPEM(ca), Status: CAInactive, AutoRegistration: AutoRegistrationDisable,
		CreatedAt: now, LastModifiedAt: now, CustomerVersion: 1, GenerationID: r.deps.NewID(),
		NotBefore: ca.NotBefore.UTC(), NotAfter: ca.NotAfter.UTC(), Mode: reg.Mode,
	}
	if reg.Active {
		rec.Status = CAActive
	}
	if reg.AutoRegistration {
		rec.AutoRegistration = AutoRegistrationEnable
	}
	val, err := json.Marshal(rec)
	if err != nil {
		return CACertificate{}, fmt.Errorf("registry: add ca %s: %w", id, err)
	}
	if _, err := r.b.Create(ctx, caKey(id), val); err != nil {
		if errors.Is(err, kvstore.ErrExists) {
			return CACertificate{}, r.caExists(id)
		}
		return CACertificate{}, fmt.Errorf("registry: add ca %s: %w", id, err)
	}
	return r.caCertificate(rec), nil
}

func (r *Registry) caExists(id string) error {
	return &Error{
		Kind: ErrAlreadyExists, Message: "The CA certificate is already registered",
		ResourceID: id, ResourceARN: r.CACertificateARN(id),
	}
}

// verifyPossession checks a verification certificate: common name = the
// registration code, signed by ca.
func (r *Registry) verifyPossession(ctx context.Context, ca *x509.Certificate, verificationPEM string) error {
	if verificationPEM == "" {
		return invalidf("A verification certificate is required in DEFAULT mode")
	}
	v, _, err := ParseCertificatePEM(verificationPEM)
	if err != nil {
		return err
	}
	code, err := r.RegistrationCode(ctx)
	if err != nil {
		return err
	}
	if !strings.EqualFold(v.Subject.CommonName, code) {
		return newError(ErrRegistrationCodeValidation,
			"The verification certificate's common name is not the registration code")
	}
	if err := v.CheckSignatureFrom(ca); err != nil {
		return newError(ErrCertificateValidation, "The verification certificate is not signed by the CA certificate")
	}
	return nil
}

// getCA reads a CA record and its revision; id is normalized.
func (r *Registry) getCA(ctx context.Context, id string) (caRecord, uint64, error) {
	return getRecord[caRecord](ctx, r, caKey(id), "ca "+id, "CA certificate %s does not exist", id)
}

// CACertificate returns the CA certificate with this id.
func (r *Registry) CACertificate(ctx context.Context, id string) (CACertificate, error) {
	id, err := normalizeCertID(id)
	if err != nil {
		return CACertificate{}, err
	}
	rec, _, err := r.getCA(ctx, id)
	if err != nil {
		return CACertificate{}, err
	}
	return r.caCertificate(rec), nil
}

// listCAs reads every CA record. There are few (10 per subject).
func (r *Registry) listCAs(ctx context.Context) ([]caRecord, error) {
	keys, err := r.b.Keys(ctx, "ca.*")
	if err != nil {
		return nil, fmt.Errorf("registry: list ca certificates: %w", err)
	}
	out := make([]caRecord, 0, len(keys))
	for _, k := range keys {
		rec, _, err := r.getCA(ctx, strings.TrimPrefix(k, "ca."))
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// ListCACertificates returns up to pageSize (1 to 250; 0 means 250) CA
// certificates ordered by creation date, oldest first when ascending, from
// the page that marker names. The returned marker is "" on the last page.
func (r *Registry) ListCACertificates(ctx context.Context, pageSize int, marker string, ascending bool) ([]CACertificate, string, error) {
	n, err := checkPageSize(pageSize)
	if err != nil {
		return nil, "", err
	}
	after, err := decodeToken(marker)
	if err != nil {
		return nil, "", err
	}
	cas, err := r.listCAs(ctx)
	if err != nil {
		return nil, "", err
	}
	byTok := make(map[string]caRecord, len(cas))
	toks := make([]string, 0, len(cas))
	for _, c := range cas {
		t := dateToken(c.CreatedAt, c.ID)
		byTok[t] = c
		toks = append(toks, t)
	}
	page, next := sortedPage(toks, after, n, ascending)
	out := make([]CACertificate, len(page))
	for i, t := range page {
		out[i] = r.caCertificate(byTok[t])
	}
	return out, next, nil
}

// IssuerCA returns the registered CA certificate that signed leaf (subject
// equal to leaf's issuer, signature verified), for registering a device
// certificate without naming its CA and for just-in-time registration. The
// error wraps ErrNotFound when no registered CA signed it.
func (r *Registry) IssuerCA(ctx context.Context, leaf *x509.Certificate) (CACertificate, error) {
	cas, err := r.listCAs(ctx)
	if err != nil {
		return CACertificate{}, err
	}
	for _, c := range cas {
		ca, _, err := ParseCertificatePEM(c.PEM)
		if err != nil || !bytes.Equal(ca.RawSubject, leaf.RawIssuer) {
			continue
		}
		if leaf.CheckSignatureFrom(ca) == nil {
			return r.caCertificate(c), nil
		}
	}
	return CACertificate{}, notFoundf("No registered CA certificate signed the certificate")
}

// UpdateCACertificate sets a CA certificate's status and auto-registration
// status; "" leaves either unchanged. A change bumps LastModifiedAt and
// CustomerVersion.
func (r *Registry) UpdateCACertificate(ctx context.Context, id string, status CAStatus, autoReg AutoRegistration) error {
	id, err := normalizeCertID(id)
	if err != nil {
		return err
	}
	if status != "" && status != CAActive && status != CAInactive {
		return invalidf("Invalid CA certificate status %q", status)
	}
	if autoReg != "" && autoReg != AutoRegistrationEnable && autoReg != AutoRegistrationDisable {
		return invalidf("Invalid auto-registration status %q", autoReg)
	}
	get := func() (caRecord, uint64, error) { return r.getCA(ctx, id) }
	return updateRecord(ctx, r, caKey(id), "ca "+id, get, func(rec *caRecord) (bool, error) {
		changed := false
		if status != "" && status != rec.Status {
			rec.Status, changed = status, true
		}
		if autoReg != "" && autoReg != rec.AutoRegistration {
			rec.AutoRegistration, changed = autoReg, true
		}
		if !changed {
			return false, nil
		}
		rec.LastModifiedAt = r.now()
		rec.CustomerVersion++
		rec.GenerationID = r.deps.NewID()
		return true, nil
	})
}

// DeleteCACertificate deletes a CA certificate. The error wraps
// ErrCertificateState while it is ACTIVE and ErrNotFound when it does not
// exist. Device certificates it signed stay registered and keep its id (AWS
// lists no DeleteConflictException for this operation).
func (r *Registry) DeleteCACertificate(ctx context.Context, id string) error {
	id, err := normalizeCertID(id)
	if err != nil {
		return err
	}
	for range maxCASAttempts {
		rec, rev, err := r.getCA(ctx, id)
		if err != nil {
			return err
		}
		if rec.Status == CAActive {
			return newError(ErrCertificateState, "CA certificate must be deactivated (not ACTIVE) before deletion. Id: %s", id)
		}
		err = r.b.DeleteIf(ctx, caKey(id), rev)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, kvstore.ErrConflict), isNotFound(err):
			continue
		default:
			return fmt.Errorf("registry: delete ca %s: %w", id, err)
		}
	}
	return fmt.Errorf("registry: delete ca %s: %w", id, errContention)
}
