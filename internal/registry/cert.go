package registry

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/thingcore/thingcore/internal/kvstore"
)

// CertStatus is a device certificate's status.
type CertStatus string

// Certificate statuses (AWS's CertificateStatus enum).
const (
	StatusActive            CertStatus = "ACTIVE"
	StatusInactive          CertStatus = "INACTIVE"
	StatusRevoked           CertStatus = "REVOKED"
	StatusPendingTransfer   CertStatus = "PENDING_TRANSFER"
	StatusRegisterInactive  CertStatus = "REGISTER_INACTIVE" // deprecated by AWS
	StatusPendingActivation CertStatus = "PENDING_ACTIVATION"
)

func (s CertStatus) valid() bool {
	switch s {
	case StatusActive, StatusInactive, StatusRevoked, StatusPendingTransfer, StatusRegisterInactive, StatusPendingActivation:
		return true
	}
	return false
}

// CertModeDefault is the certificate mode of every certificate: the device
// presents it in TLS (AWS's DEFAULT; SNI_ONLY applies only to CAs here).
const CertModeDefault = "DEFAULT"

// Certificate is a registered device certificate.
type Certificate struct {
	ID              string // lowercase hex SHA-256 of the DER
	ARN             string
	PEM             string
	Status          CertStatus
	CACertificateID string // "" when registered without a CA
	OwnedBy         string // the account id
	CreatedAt       time.Time
	LastModifiedAt  time.Time
	CustomerVersion int    // 1, plus one per status change
	GenerationID    string // a UUID, new on every change
	NotBefore       time.Time
	NotAfter        time.Time
	Mode            string // CertModeDefault
}

// certRecord is a certificate as stored.
type certRecord struct {
	ID              string     `json:"id"`
	PEM             string     `json:"pem"`
	Status          CertStatus `json:"status"`
	CAID            string     `json:"ca_id,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	LastModifiedAt  time.Time  `json:"last_modified_at"`
	CustomerVersion int        `json:"customer_version"`
	GenerationID    string     `json:"generation_id"`
	NotBefore       time.Time  `json:"not_before"`
	NotAfter        time.Time  `json:"not_after"`
}

func (r *Registry) certificate(rec certRecord) Certificate {
	return Certificate{
		ID: rec.ID, ARN: r.CertificateARN(rec.ID), PEM: rec.PEM, Status: rec.Status, CACertificateID: rec.CAID,
		OwnedBy: r.cfg.AccountID, CreatedAt: rec.CreatedAt, LastModifiedAt: rec.LastModifiedAt,
		CustomerVersion: rec.CustomerVersion, GenerationID: rec.GenerationID,
		NotBefore: rec.NotBefore, NotAfter: rec.NotAfter, Mode: CertModeDefault,
	}
}

func certKey(id string) string { return kvstore.Key("cert", id) }

// certDateKey is the creation-order index entry of a certificate.
func certDateKey(created time.Time, id string) string {
	return "certdate." + dateToken(created, id)
}

// dateToken is the sort key of a certificate: zero-padded creation time in
// nanoseconds, then the id.
func dateToken(created time.Time, id string) string {
	return fmt.Sprintf("%020d.%s", created.UnixNano(), id)
}

// maxPEMLen is the longest certificate PEM the iot model accepts.
const maxPEMLen = 65536

// ParseCertificatePEM parses a PEM text holding exactly one certificate and
// returns it with its id (lowercase hex SHA-256 of the DER). The error wraps
// ErrCertificateValidation.
func ParseCertificatePEM(s string) (*x509.Certificate, string, error) {
	if len(s) > maxPEMLen {
		return nil, "", newError(ErrCertificateValidation, "The certificate PEM is longer than %d characters", maxPEMLen)
	}
	block, rest := pem.Decode([]byte(s))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, "", newError(ErrCertificateValidation, "The certificate is not a PEM-encoded X.509 certificate")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, "", newError(ErrCertificateValidation, "The certificate PEM must hold exactly one certificate")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, "", newError(ErrCertificateValidation, "The certificate is not valid: %v", err)
	}
	sum := sha256.Sum256(c.Raw)
	return c, hex.EncodeToString(sum[:]), nil
}

// canonicalPEM re-encodes a parsed certificate as PEM.
func canonicalPEM(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

// AddCertificate registers a device certificate (RegisterCertificate,
// RegisterCertificateWithoutCA, and the certificates thingcore issues).
// status "" means INACTIVE. caID, when set, names the registered CA that
// must have signed the certificate. Validity comes from the certificate.
// The error wraps ErrAlreadyExists when a certificate with the same DER is
// registered, ErrCertificateValidation for a bad PEM or signature, and
// ErrNotFound for an unknown CA.
func (r *Registry) AddCertificate(ctx context.Context, certPEM string, status CertStatus, caID string) (Certificate, error) {
	if status == "" {
		status = StatusInactive
	}
	if !status.valid() {
		return Certificate{}, invalidf("Invalid certificate status %q", status)
	}
	c, id, err := ParseCertificatePEM(certPEM)
	if err != nil {
		return Certificate{}, err
	}
	if caID != "" {
		ca, err := r.CACertificate(ctx, caID)
		if err != nil {
			return Certificate{}, err
		}
		caCert, _, err := ParseCertificatePEM(ca.PEM)
		if err != nil {
			return Certificate{}, fmt.Errorf("registry: ca %s: %w", ca.ID, err)
		}
		if err := c.CheckSignatureFrom(caCert); err != nil {
			return Certificate{}, newError(ErrCertificateValidation,
				"The certificate is not signed by CA certificate %s", ca.ID)
		}
		caID = ca.ID
	}
	now := r.now()
	rec := certRecord{
		ID: id, PEM: canonicalPEM(c), Status: status, CAID: caID, CreatedAt: now, LastModifiedAt: now,
		CustomerVersion: 1, GenerationID: r.deps.NewID(),
		NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(),
	}
	val, err := json.Marshal(rec)
	if err != nil {
		return Certificate{}, fmt.Errorf("registry: add certificate %s: %w", id, err)
	}
	// The index entry first: a crash before the record leaves an entry
	// that listing skips, never a certificate that listing misses.
	dateKey := certDateKey(now, id)
	if _, err := r.b.Put(ctx, dateKey, nil); err != nil {
		return Certificate{}, fmt.Errorf("registry: add certificate %s: %w", id, err)
	}
	if _, err := r.b.Create(ctx, certKey(id), val); err != nil {
		_ = r.b.Delete(ctx, dateKey) // ours alone (time and id); a leftover is skipped
		if errors.Is(err, kvstore.ErrExists) {
			return Certificate{}, &Error{
				Kind: ErrAlreadyExists, Message: "The certificate is already provisioned or registered",
				ResourceID: id, ResourceARN: r.CertificateARN(id),
			}
		}
		return Certificate{}, fmt.Errorf("registry: add certificate %s: %w", id, err)
	}
	return r.certificate(rec), nil
}

// getCert reads a certificate record and its revision; id is normalized.
func (r *Registry) getCert(ctx context.Context, id string) (certRecord, uint64, error) {
	return getRecord[certRecord](ctx, r, certKey(id), "certificate "+id, "Certificate %s does not exist", id)
}

// Certificate returns the device certificate with this id (one KV read).
func (r *Registry) Certificate(ctx context.Context, id string) (Certificate, error) {
	id, err := normalizeCertID(id)
	if err != nil {
		return Certificate{}, err
	}
	rec, _, err := r.getCert(ctx, id)
	if err != nil {
		return Certificate{}, err
	}
	return r.certificate(rec), nil
}

// CertificateThings returns the device certificate with this id and the
// names of the things attached to it, sorted: what device authentication
// needs on CONNECT, in two KV reads.
func (r *Registry) CertificateThings(ctx context.Context, id string) (Certificate, []string, error) {
	c, err := r.Certificate(ctx, id)
	if err != nil {
		return Certificate{}, nil, err
	}
	things, err := r.principalThings(ctx, c.ID)
	if err != nil {
		return Certificate{}, nil, err
	}
	return c, things, nil
}

// ListCertificates returns up to pageSize (1 to 250; 0 means 250) device
// certificates ordered by creation date, oldest first when ascending, from
// the page that marker names ("" for the first). The returned marker is ""
// on the last page.
func (r *Registry) ListCertificates(ctx context.Context, pageSize int, marker string, ascending bool) ([]Certificate, string, error) {
	keys, next, err := r.certPage(ctx, pageSize, marker, ascending)
	if err != nil {
		return nil, "", err
	}
	out := make([]Certificate, 0, len(keys))
	for _, k := range keys {
		_, id, _ := strings.Cut(k, ".")
		rec, _, err := r.getCert(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue // deleted since listed, or an index entry left by a crash
		}
		if err != nil {
			return nil, "", err
		}
		out = append(out, r.certificate(rec))
	}
	return out, next, nil
}

// certPage returns one page of date tokens from the creation-order index.
func (r *Registry) certPage(ctx context.Context, size int, marker string, ascending bool) ([]string, string, error) {
	n, err := checkPageSize(size)
	if err != nil {
		return nil, "", err
	}
	after, err := decodeToken(marker)
	if err != nil {
		return nil, "", err
	}
	keys, err := r.b.Keys(ctx, "certdate.*.*")
	if err != nil {
		return nil, "", fmt.Errorf("registry: list certificates: %w", err)
	}
	toks := make([]string, len(keys))
	for i, k := range keys {
		toks[i] = strings.TrimPrefix(k, "certdate.")
	}
	page, next := sortedPage(toks, after, n, ascending)
	return page, next, nil
}

// sortedPage sorts tokens (ascending or descending) and pages them.
func sortedPage(toks []string, after string, n int, ascending bool) ([]string, string) {
	less := func(a, b string) bool { return a < b }
	if ascending {
		slices.Sort(toks)
	} else {
		slices.Sort(toks)
		slices.Reverse(toks)
		less = func(a, b string) bool { return a > b }
	}
	return pageAfter(toks, after, n, less)
}

// UpdateCertificateStatus sets a device certificate's status. Setting the
// current status succeeds without a change. PENDING_TRANSFER and
// PENDING_ACTIVATION cannot be set (ErrInvalid, as AWS documents). A
// REVOKED or PENDING_TRANSFER certificate cannot change (ErrCertificateState;
// AWS does not document REVOKED -> ACTIVE, and a revocation that can be
// undone is no revocation).
func (r *Registry) UpdateCertificateStatus(ctx context.Context, id string, s CertStatus) error {
	id, err := normalizeCertID(id)
	if err != nil {
		return err
	}
	switch {
	case !s.valid():
		return invalidf("Invalid certificate status %q", s)
	case s == StatusPendingTransfer || s == StatusPendingActivation:
		return invalidf("The certificate status cannot be set to %s", s)
	}
	get := func() (certRecord, uint64, error) { return r.getCert(ctx, id) }
	return updateRecord(ctx, r, certKey(id), "certificate "+id, get, func(rec *certRecord) (bool, error) {
		if rec.Status == s {
			return false, nil
		}
		if rec.Status == StatusRevoked || rec.Status == StatusPendingTransfer {
			return false, newError(ErrCertificateState, "Certificate %s is %s and its status cannot be changed", id, rec.Status)
		}
		rec.Status = s
		rec.LastModifiedAt = r.now()
		rec.CustomerVersion++
		rec.GenerationID = r.deps.NewID()
		return true, nil
	})
}

// DeleteCertificate deletes a device certificate. The error wraps
// ErrCertificateState while it is ACTIVE, ErrDeleteConflict while things
// are attached to it, or (unless force) while Deps.CertificateHasPolicies
// reports policies attached, and ErrNotFound when it does not exist.
func (r *Registry) DeleteCertificate(ctx context.Context, id string, force bool) error {
	id, err := normalizeCertID(id)
	if err != nil {
		return err
	}
	arn := r.CertificateARN(id)
	for range maxCASAttempts {
		rec, rev, err := r.getCert(ctx, id)
		if err != nil {
			return err
		}
		if rec.Status == StatusActive {
			return newError(ErrCertificateState, "Certificate must be deactivated (not ACTIVE) before deletion. Id: %s", id)
		}
		things, err := r.b.Keys(ctx, kvstore.Key("pt", id)+".*")
		if err != nil {
			return fmt.Errorf("registry: delete certificate %s: %w", id, err)
		}
		if len(things) > 0 {
			return newError(ErrDeleteConflict, "Things must be detached before deletion (arn: %s)", arn)
		}
		if !force && r.deps.CertificateHasPolicies != nil {
			has, err := r.deps.CertificateHasPolicies(ctx, arn)
			if err != nil {
				return fmt.Errorf("registry: delete certificate %s: %w", id, err)
			}
			if has {
				return newError(ErrDeleteConflict, "Certificate policies must be detached before deletion (arn: %s)", arn)
			}
		}
		// At the revision checked: an attach in between re-writes the record.
		err = r.b.DeleteIf(ctx, certKey(id), rev)
		switch {
		case err == nil:
			// A leftover index entry is skipped by listing, so a failure
			// here does not undo the deletion.
			_ = r.b.Delete(ctx, certDateKey(rec.CreatedAt, id))
			return nil
		case errors.Is(err, kvstore.ErrConflict), isNotFound(err):
			continue
		default:
			return fmt.Errorf("registry: delete certificate %s: %w", id, err)
		}
	}
	return fmt.Errorf("registry: delete certificate %s: %w", id, errContention)
}
