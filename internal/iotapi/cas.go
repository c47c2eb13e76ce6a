package iotapi

import (
	"errors"
	"net/http"

	"github.com/thingcore/thingcore/internal/httpapi"
	"github.com/thingcore/thingcore/internal/pki"
	"github.com/thingcore/thingcore/internal/registry"
)

func (s *service) registerCAs(api *httpapi.API) {
	handle(api, http.MethodGet, "/registrationcode", "GetRegistrationCode", s.getRegistrationCode)
	handle(api, http.MethodPost, "/cacertificate", "RegisterCACertificate", s.registerCACertificate)
	handle(api, http.MethodGet, "/cacertificate/{caCertificateId}", "DescribeCACertificate", s.describeCACertificate)
	handle(api, http.MethodGet, "/cacertificates", "ListCACertificates", s.listCACertificates)
	handle(api, http.MethodPut, "/cacertificate/{caCertificateId}", "UpdateCACertificate", s.updateCACertificate)
	handle(api, http.MethodDelete, "/cacertificate/{caCertificateId}", "DeleteCACertificate", s.deleteCACertificate)
}

// getRegistrationCode: GET /registrationcode -> registrationCode, 64 hex
// digits, the same on every call.
func (s *service) getRegistrationCode(w http.ResponseWriter, r *http.Request) error {
	code, err := s.reg.RegistrationCode(r.Context())
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, struct {
		RegistrationCode string `json:"registrationCode"`
	}{code})
}

// registrationConfig is AWS's RegistrationConfig (just-in-time
// provisioning), which thingcore does not support.
type registrationConfig struct {
	TemplateBody string `json:"templateBody"`
	RoleARN      string `json:"roleArn"`
	TemplateName string `json:"templateName"`
}

// check refuses a registration config that asks for something: an empty
// one, as some tools send, is fine.
func (c *registrationConfig) check() error {
	if c != nil && *c != (registrationConfig{}) {
		return httpapi.Errorf(httpapi.InvalidRequest,
			"registrationConfig is not supported: thingcore does not do just-in-time provisioning")
	}
	return nil
}

type registerCACertificateRequest struct {
	CACertificate           string              `json:"caCertificate"`
	VerificationCertificate string              `json:"verificationCertificate"`
	RegistrationConfig      *registrationConfig `json:"registrationConfig"`
	CertificateMode         string              `json:"certificateMode"`
}

// registerCACertificate: POST /cacertificate?setAsActive&
// allowAutoRegistration with caCertificate, verificationCertificate,
// certificateMode -> certificateArn, certificateId. In DEFAULT mode the
// verification certificate proves possession of the CA's key: signed by
// it, with the registration code as its subject common name.
func (s *service) registerCACertificate(w http.ResponseWriter, r *http.Request) error {
	active, _, err := httpapi.QueryBool(r, "setAsActive")
	if err != nil {
		return err
	}
	autoReg, _, err := httpapi.QueryBool(r, "allowAutoRegistration")
	if err != nil {
		return err
	}
	in, err := httpapi.ReadJSON[registerCACertificateRequest](r)
	if err != nil {
		return err
	}
	if in.CACertificate == "" {
		return httpapi.Errorf(httpapi.InvalidRequest, "caCertificate is required")
	}
	if err := in.RegistrationConfig.check(); err != nil {
		return err
	}
	if in.CertificateMode != registry.CAModeSNIOnly && in.VerificationCertificate != "" {
		code, err := s.reg.RegistrationCode(r.Context())
		if err != nil {
			return err
		}
		_, err = pki.VerifyCARegistration([]byte(in.CACertificate), []byte(in.VerificationCertificate), code, s.now())
		switch {
		case errors.Is(err, pki.ErrRegistrationCode):
			return httpapi.Errorf(httpapi.RegistrationCodeValidation,
				"The certificate verification failed: the verification certificate's common name is not the registration code").WithCause(err)
		case err != nil:
			return certValidation("The certificate verification failed: %v", err).WithCause(err)
		}
	}
	// The registry checks the rest: the mode, a missing verification
	// certificate, duplicates and the per-subject limit.
	ca, err := s.reg.AddCACertificate(r.Context(), registry.CARegistration{
		CertificatePEM: in.CACertificate, VerificationCertificatePEM: in.VerificationCertificate,
		Active: active, AutoRegistration: autoReg, Mode: in.CertificateMode,
	})
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, certificateResponse{CertificateARN: ca.ARN, CertificateID: ca.ID})
}

// caCertificateDescription is AWS's CACertificateDescription.
type caCertificateDescription struct {
	CertificateARN         string   `json:"certificateArn"`
	CertificateID          string   `json:"certificateId"`
	Status                 string   `json:"status"`
	CertificatePEM         string   `json:"certificatePem"`
	OwnedBy                string   `json:"ownedBy"`
	CreationDate           epoch    `json:"creationDate,omitzero"`
	AutoRegistrationStatus string   `json:"autoRegistrationStatus"`
	LastModifiedDate       epoch    `json:"lastModifiedDate,omitzero"`
	CustomerVersion        int      `json:"customerVersion"`
	GenerationID           string   `json:"generationId"`
	Validity               validity `json:"validity"`
	CertificateMode        string   `json:"certificateMode"`
}

// describeCACertificate: GET /cacertificate/{caCertificateId} ->
// certificateDescription (registrationConfig is never set).
func (s *service) describeCACertificate(w http.ResponseWriter, r *http.Request) error {
	ca, err := s.reg.CACertificate(r.Context(), r.PathValue("caCertificateId"))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, struct {
		Description caCertificateDescription `json:"certificateDescription"`
	}{caCertificateDescription{
		CertificateARN: ca.ARN, CertificateID: ca.ID, Status: string(ca.Status), CertificatePEM: ca.PEM,
		OwnedBy: ca.OwnedBy, CreationDate: epoch(ca.CreatedAt), AutoRegistrationStatus: string(ca.AutoRegistration),
		LastModifiedDate: epoch(ca.LastModifiedAt), CustomerVersion: ca.CustomerVersion, GenerationID: ca.GenerationID,
		Validity: validity{NotBefore: epoch(ca.NotBefore), NotAfter: epoch(ca.NotAfter)}, CertificateMode: ca.Mode,
	}})
}

// caCertificateSummary is AWS's CACertificate, an item of
// ListCACertificates.
type caCertificateSummary struct {
	CertificateARN string `json:"certificateArn"`
	CertificateID  string `json:"certificateId"`
	Status         string `json:"status"`
	CreationDate   epoch  `json:"creationDate,omitzero"`
}

// listCACertificates: GET /cacertificates?pageSize&marker&isAscendingOrder
// &templateName -> certificates, nextMarker. No CA has a provisioning
// template, so filtering by one lists none.
func (s *service) listCACertificates(w http.ResponseWriter, r *http.Request) error {
	n, err := pageSize(r, "pageSize")
	if err != nil {
		return err
	}
	asc, _, err := httpapi.QueryBool(r, "isAscendingOrder")
	if err != nil {
		return err
	}
	var cas []registry.CACertificate
	var next string
	if query(r, "templateName") == "" {
		if cas, next, err = s.reg.ListCACertificates(r.Context(), n, query(r, "marker"), asc); err != nil {
			return err
		}
	}
	out := struct {
		Certificates []caCertificateSummary `json:"certificates"`
		NextMarker   string                 `json:"nextMarker,omitempty"`
	}{make([]caCertificateSummary, len(cas)), next}
	for i, ca := range cas {
		out.Certificates[i] = caCertificateSummary{CertificateARN: ca.ARN, CertificateID: ca.ID,
			Status: string(ca.Status), CreationDate: epoch(ca.CreatedAt)}
	}
	return httpapi.WriteJSON(w, out)
}

// updateCACertificate: PUT /cacertificate/{caCertificateId}?newStatus&
// newAutoRegistrationStatus with removeAutoRegistration -> {}. An omitted
// status leaves it as it is; removeAutoRegistration disables
// auto-registration unless newAutoRegistrationStatus says otherwise.
func (s *service) updateCACertificate(w http.ResponseWriter, r *http.Request) error {
	in, err := httpapi.ReadJSON[struct {
		RegistrationConfig     *registrationConfig `json:"registrationConfig"`
		RemoveAutoRegistration bool                `json:"removeAutoRegistration"`
	}](r)
	if err != nil {
		return err
	}
	if err := in.RegistrationConfig.check(); err != nil {
		return err
	}
	autoReg := registry.AutoRegistration(query(r, "newAutoRegistrationStatus"))
	if autoReg == "" && in.RemoveAutoRegistration {
		autoReg = registry.AutoRegistrationDisable
	}
	status := registry.CAStatus(query(r, "newStatus"))
	return s.reg.UpdateCACertificate(r.Context(), r.PathValue("caCertificateId"), status, autoReg)
}

// deleteCACertificate: DELETE /cacertificate/{caCertificateId} -> {}. The
// CA must be INACTIVE; certificates it signed stay registered.
func (s *service) deleteCACertificate(w http.ResponseWriter, r *http.Request) error {
	return s.reg.DeleteCACertificate(r.Context(), r.PathValue("caCertificateId"))
}
