package iotapi

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/thingcore/thingcore/internal/httpapi"
	"github.com/thingcore/thingcore/internal/pki"
	"github.com/thingcore/thingcore/internal/registry"
)

func (s *service) registerCertificates(api *httpapi.API) {
	handle(api, http.MethodPost, "/keys-and-certificate", "CreateKeysAndCertificate", s.createKeysAndCertificate)
	handle(api, http.MethodPost, "/certificates", "CreateCertificateFromCsr", s.createCertificateFromCSR)
	handle(api, http.MethodPost, "/certificate/register", "RegisterCertificate", s.registerCertificate)
	handle(api, http.MethodPost, "/certificate/register-no-ca", "RegisterCertificateWithoutCA", s.registerCertificateWithoutCA)
	handle(api, http.MethodGet, "/certificates/{certificateId}", "DescribeCertificate", s.describeCertificate)
	handle(api, http.MethodGet, "/certificates", "ListCertificates", s.listCertificates)
	handle(api, http.MethodPut, "/certificates/{certificateId}", "UpdateCertificate", s.updateCertificate)
	handle(api, http.MethodDelete, "/certificates/{certificateId}", "DeleteCertificate", s.deleteCertificate)
}

// keyPair is AWS's KeyPair; its member names are capitalised on the wire.
type keyPair struct {
	PublicKey  string `json:"PublicKey"`
	PrivateKey string `json:"PrivateKey"`
}

// certificateResponse is the output of the operations that create or
// register a device certificate.
type certificateResponse struct {
	CertificateARN string   `json:"certificateArn"`
	CertificateID  string   `json:"certificateId"`
	CertificatePEM string   `json:"certificatePem,omitempty"`
	KeyPair        *keyPair `json:"keyPair,omitempty"`
}

// activeStatus is the status of a certificate created with ?setAsActive=.
func activeStatus(r *http.Request) (registry.CertStatus, error) {
	active, _, err := httpapi.QueryBool(r, "setAsActive")
	if err != nil || !active {
		return registry.StatusInactive, err
	}
	return registry.StatusActive, nil
}

// createKeysAndCertificate: POST /keys-and-certificate?setAsActive= ->
// certificateArn, certificateId, certificatePem, keyPair. The hub CA issues
// the certificate for a fresh key; the private key is in this response only.
func (s *service) createKeysAndCertificate(w http.ResponseWriter, r *http.Request) error {
	status, err := activeStatus(r)
	if err != nil {
		return err
	}
	creds, err := s.ca.IssueDevice(s.keyType, s.now())
	if err != nil {
		return fmt.Errorf("iotapi: issue device certificate: %w", err)
	}
	c, err := s.reg.AddCertificate(r.Context(), string(creds.CertificatePEM), status, "")
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, certificateResponse{
		CertificateARN: c.ARN, CertificateID: c.ID, CertificatePEM: string(creds.CertificatePEM),
		KeyPair: &keyPair{PublicKey: string(creds.PublicKeyPEM), PrivateKey: string(creds.PrivateKeyPEM)},
	})
}

// maxCSRLen is the longest certificateSigningRequest the iot model accepts.
const maxCSRLen = 4096

// createCertificateFromCSR: POST /certificates?setAsActive= with
// certificateSigningRequest -> certificateArn, certificateId,
// certificatePem. Only the CSR's key is used; each call makes a new
// certificate.
func (s *service) createCertificateFromCSR(w http.ResponseWriter, r *http.Request) error {
	status, err := activeStatus(r)
	if err != nil {
		return err
	}
	in, err := httpapi.ReadJSON[struct {
		CSR string `json:"certificateSigningRequest"`
	}](r)
	if err != nil {
		return err
	}
	switch {
	case in.CSR == "":
		return httpapi.Errorf(httpapi.InvalidRequest, "certificateSigningRequest is required")
	case len(in.CSR) > maxCSRLen:
		return httpapi.Errorf(httpapi.InvalidRequest, "certificateSigningRequest is longer than %d characters", maxCSRLen)
	}
	certPEM, _, err := s.ca.SignCSR([]byte(in.CSR), s.now())
	if err != nil {
		return httpapi.Errorf(httpapi.InvalidRequest, "The certificate signing request is not valid: %v", err).WithCause(err)
	}
	c, err := s.reg.AddCertificate(r.Context(), string(certPEM), status, "")
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, certificateResponse{CertificateARN: c.ARN, CertificateID: c.ID, CertificatePEM: string(certPEM)})
}

type registerCertificateRequest struct {
	CertificatePEM   string `json:"certificatePem"`
	CACertificatePEM string `json:"caCertificatePem"`
	Status           string `json:"status"`
}

// registerStatus is the status a registered certificate starts in: the
// body's status (ACTIVE, INACTIVE or REVOKED, the ones AWS documents), else
// ACTIVE with ?setAsActive=true, else INACTIVE.
func registerStatus(r *http.Request, status string) (registry.CertStatus, error) {
	switch s := registry.CertStatus(status); s {
	case "":
		return activeStatus(r)
	case registry.StatusActive, registry.StatusInactive, registry.StatusRevoked:
		return s, nil
	}
	return "", httpapi.Errorf(httpapi.InvalidRequest, "status %q is not valid: use ACTIVE, INACTIVE or REVOKED", status)
}

// readRegistration reads and checks the body shared by RegisterCertificate
// and RegisterCertificateWithoutCA.
func readRegistration(r *http.Request) (registerCertificateRequest, registry.CertStatus, error) {
	in, err := httpapi.ReadJSON[registerCertificateRequest](r)
	if err != nil {
		return in, "", err
	}
	if in.CertificatePEM == "" {
		return in, "", httpapi.Errorf(httpapi.InvalidRequest, "certificatePem is required")
	}
	status, err := registerStatus(r, in.Status)
	return in, status, err
}

func certValidation(format string, args ...any) *httpapi.Error {
	return httpapi.Errorf(httpapi.CertificateValidation, format, args...)
}

// registerCertificate: POST /certificate/register?setAsActive= with
// certificatePem, caCertificatePem, status -> certificateArn,
// certificateId. The certificate must be signed by a registered ACTIVE CA
// (the one in caCertificatePem, else the one whose subject is its issuer)
// or by the hub CA, and be a valid device certificate.
func (s *service) registerCertificate(w http.ResponseWriter, r *http.Request) error {
	in, status, err := readRegistration(r)
	if err != nil {
		return err
	}
	leaf, err := pki.ParseCertificatePEM([]byte(in.CertificatePEM))
	if err != nil {
		return certValidation("The certificate is not valid: %v", err).WithCause(err)
	}
	caCert, caID, err := s.issuer(r, leaf, in.CACertificatePEM)
	if err != nil {
		return err
	}
	if _, err := pki.VerifyIssuedBy([]byte(in.CertificatePEM), caCert, s.now()); err != nil {
		return certValidation("The certificate is not valid for its CA: %v", err).WithCause(err)
	}
	c, err := s.reg.AddCertificate(r.Context(), in.CertificatePEM, status, caID)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, certificateResponse{CertificateARN: c.ARN, CertificateID: c.ID})
}

// issuer finds the CA that RegisterCertificate checks leaf against, and
// its registered id ("" for the hub CA, which is not a registered CA).
func (s *service) issuer(r *http.Request, leaf *x509.Certificate, caPEM string) (*x509.Certificate, string, error) {
	hub := s.ca.Cert
	var ca registry.CACertificate
	if caPEM != "" {
		given, err := pki.ParseCertificatePEM([]byte(caPEM))
		if err != nil {
			return nil, "", certValidation("The CA certificate is not valid: %v", err).WithCause(err)
		}
		if given.Equal(hub) {
			return hub, "", nil
		}
		ca, err = s.reg.CACertificate(r.Context(), pki.CertificateID(given.Raw))
		if errors.Is(err, registry.ErrNotFound) {
			return nil, "", certValidation("The CA certificate %s is not registered", pki.CertificateID(given.Raw))
		}
		if err != nil {
			return nil, "", err
		}
	} else {
		var err error
		ca, err = s.reg.IssuerCA(r.Context(), leaf)
		if errors.Is(err, registry.ErrNotFound) {
			if leaf.CheckSignatureFrom(hub) == nil {
				return hub, "", nil
			}
			return nil, "", certValidation("The certificate is not signed by a registered CA certificate")
		}
		if err != nil {
			return nil, "", err
		}
	}
	if ca.Status != registry.CAActive {
		return nil, "", httpapi.Errorf(httpapi.CertificateState, "The CA certificate %s is %s, not ACTIVE", ca.ID, ca.Status)
	}
	caCert, err := pki.ParseCertificatePEM([]byte(ca.PEM))
	if err != nil {
		return nil, "", fmt.Errorf("iotapi: CA certificate %s: %w", ca.ID, err)
	}
	return caCert, ca.ID, nil
}

// registerCertificateWithoutCA: POST /certificate/register-no-ca with
// certificatePem, status -> certificateArn, certificateId. The
// registration itself is the trust; the certificate need only be a valid
// device certificate.
func (s *service) registerCertificateWithoutCA(w http.ResponseWriter, r *http.Request) error {
	in, status, err := readRegistration(r)
	if err != nil {
		return err
	}
	leaf, err := pki.ParseCertificatePEM([]byte(in.CertificatePEM))
	if err != nil {
		return certValidation("The certificate is not valid: %v", err).WithCause(err)
	}
	if err := pki.CheckDeviceCertificate(leaf, s.now()); err != nil {
		return certValidation("The certificate is not valid: %v", err).WithCause(err)
	}
	c, err := s.reg.AddCertificate(r.Context(), in.CertificatePEM, status, "")
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, certificateResponse{CertificateARN: c.ARN, CertificateID: c.ID})
}

// certificateDescription is AWS's CertificateDescription.
type certificateDescription struct {
	CertificateARN   string   `json:"certificateArn"`
	CertificateID    string   `json:"certificateId"`
	CACertificateID  string   `json:"caCertificateId,omitempty"`
	Status           string   `json:"status"`
	CertificatePEM   string   `json:"certificatePem"`
	OwnedBy          string   `json:"ownedBy"`
	CreationDate     epoch    `json:"creationDate,omitzero"`
	LastModifiedDate epoch    `json:"lastModifiedDate,omitzero"`
	CustomerVersion  int      `json:"customerVersion"`
	TransferData     struct{} `json:"transferData"`
	GenerationID     string   `json:"generationId"`
	Validity         validity `json:"validity"`
	CertificateMode  string   `json:"certificateMode"`
}

// describeCertificate: GET /certificates/{certificateId} ->
// certificateDescription.
func (s *service) describeCertificate(w http.ResponseWriter, r *http.Request) error {
	c, err := s.reg.Certificate(r.Context(), r.PathValue("certificateId"))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, struct {
		Description certificateDescription `json:"certificateDescription"`
	}{certificateDescription{
		CertificateARN: c.ARN, CertificateID: c.ID, CACertificateID: c.CACertificateID, Status: string(c.Status),
		CertificatePEM: c.PEM, OwnedBy: c.OwnedBy, CreationDate: epoch(c.CreatedAt),
		LastModifiedDate: epoch(c.LastModifiedAt), CustomerVersion: c.CustomerVersion, GenerationID: c.GenerationID,
		Validity: validity{NotBefore: epoch(c.NotBefore), NotAfter: epoch(c.NotAfter)}, CertificateMode: c.Mode,
	}})
}

// certificateSummary is AWS's Certificate, an item of ListCertificates.
type certificateSummary struct {
	CertificateARN  string `json:"certificateArn"`
	CertificateID   string `json:"certificateId"`
	Status          string `json:"status"`
	CertificateMode string `json:"certificateMode"`
	CreationDate    epoch  `json:"creationDate,omitzero"`
}

// listCertificates: GET /certificates?pageSize&marker&isAscendingOrder ->
// certificates, nextMarker; by creation date, newest first by default.
func (s *service) listCertificates(w http.ResponseWriter, r *http.Request) error {
	n, err := pageSize(r, "pageSize")
	if err != nil {
		return err
	}
	asc, _, err := httpapi.QueryBool(r, "isAscendingOrder")
	if err != nil {
		return err
	}
	certs, next, err := s.reg.ListCertificates(r.Context(), n, query(r, "marker"), asc)
	if err != nil {
		return err
	}
	out := struct {
		Certificates []certificateSummary `json:"certificates"`
		NextMarker   string               `json:"nextMarker,omitempty"`
	}{make([]certificateSummary, len(certs)), next}
	for i, c := range certs {
		out.Certificates[i] = certificateSummary{CertificateARN: c.ARN, CertificateID: c.ID, Status: string(c.Status),
			CertificateMode: c.Mode, CreationDate: epoch(c.CreatedAt)}
	}
	return httpapi.WriteJSON(w, out)
}

// updateCertificate: PUT /certificates/{certificateId}?newStatus= -> {}.
// Deps.CertificateStatusChanged then hears of it, so that devices of a
// certificate that left ACTIVE are disconnected within this call.
func (s *service) updateCertificate(w http.ResponseWriter, r *http.Request) error {
	status := registry.CertStatus(query(r, "newStatus"))
	if status == "" {
		return httpapi.Errorf(httpapi.InvalidRequest, "newStatus is required")
	}
	id := r.PathValue("certificateId")
	if err := s.reg.UpdateCertificateStatus(r.Context(), id, status); err != nil {
		return err
	}
	s.changed(strings.ToLower(id), status)
	return nil
}

// deleteCertificate: DELETE /certificates/{certificateId}?forceDelete= ->
// {}. The certificate must not be ACTIVE nor attached to things; policies
// attached block it unless forced.
func (s *service) deleteCertificate(w http.ResponseWriter, r *http.Request) error {
	force, _, err := httpapi.QueryBool(r, "forceDelete")
	if err != nil {
		return err
	}
	c, err := s.reg.Certificate(r.Context(), r.PathValue("certificateId"))
	if err != nil {
		return err
	}
	if err := s.reg.DeleteCertificate(r.Context(), c.ID, force); err != nil {
		return err
	}
	s.changed(c.ID, c.Status)
	return nil
}
