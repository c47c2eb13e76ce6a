package iotapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/thingcore/thingcore/internal/httpapi"
	"github.com/thingcore/thingcore/internal/pki"
	"github.com/thingcore/thingcore/internal/policystore"
	"github.com/thingcore/thingcore/internal/registry"
)

// Deps are what the operations work with.
type Deps struct {
	// Registry stores things, certificates, CAs and attachments. Required.
	Registry *registry.Registry
	// CA is the hub CA: it issues device certificates
	// (CreateKeysAndCertificate, CreateCertificateFromCsr), and
	// RegisterCertificate accepts certificates it signed. Required.
	CA *pki.CA
	// Endpoint returns DescribeEndpoint's endpointAddress for an endpoint
	// type ("" or one of iot:Data, iot:Data-ATS, iot:CredentialProvider,
	// iot:Jobs, as the caller sent it). Required.
	Endpoint func(endpointType string) string
	// CertificateStatusChanged is called after UpdateCertificate succeeds
	// (with the new status) and after DeleteCertificate succeeds (with the
	// status the certificate had). Optional.
	CertificateStatusChanged func(certID string, status registry.CertStatus)
	// Now is the clock for issuing and checking certificates. Default
	// time.Now.
	Now func() time.Time
	// KeyType is the key algorithm of CreateKeysAndCertificate. Default
	// (zero) RSA 2048, as AWS, which MicroPython boards need.
	KeyType pki.KeyType
	// Policies stores IoT policies and their attachments. Optional: the
	// policy operations are served only when it is set.
	Policies *policystore.Store
}

// service holds the operations' dependencies.
type service struct {
	reg      *registry.Registry
	ca       *pki.CA
	endpoint func(string) string
	changed  func(string, registry.CertStatus)
	now      func() time.Time
	keyType  pki.KeyType
	policies *policystore.Store
}

// Register hangs the operations on api. Like http.ServeMux.Handle it panics
// on a programming error: a missing required dependency, or an operation
// already registered.
func Register(api *httpapi.API, d Deps) {
	if api == nil || d.Registry == nil || d.CA == nil || d.Endpoint == nil {
		panic("iotapi: Register needs an API, Deps.Registry, Deps.CA and Deps.Endpoint")
	}
	s := &service{reg: d.Registry, ca: d.CA, endpoint: d.Endpoint, changed: d.CertificateStatusChanged,
		now: d.Now, keyType: d.KeyType, policies: d.Policies}
	if s.now == nil {
		s.now = time.Now
	}
	if s.changed == nil {
		s.changed = func(string, registry.CertStatus) {}
	}
	s.registerThings(api)
	s.registerCertificates(api)
	s.registerCAs(api)
	s.registerPrincipals(api)
	if s.policies != nil {
		s.registerPolicies(api)
	}
	handle(api, http.MethodGet, "/endpoint", "DescribeEndpoint", s.describeEndpoint)
}

// handle registers h, sending its errors through apiError.
func handle(api *httpapi.API, method, pattern, op string, h httpapi.HandlerFunc) {
	api.Handle(method, pattern, op, func(w http.ResponseWriter, r *http.Request) error {
		if err := h(w, r); err != nil {
			return apiError(err)
		}
		return nil
	})
}

// epoch is a timestamp sent as AWS sends them in JSON: epoch seconds, with
// milliseconds as a fraction when there are any.
type epoch time.Time

// IsZero lets `omitzero` drop unset timestamps.
func (e epoch) IsZero() bool { return time.Time(e).IsZero() }

// MarshalJSON writes e as a JSON number of seconds.
func (e epoch) MarshalJSON() ([]byte, error) {
	ms := time.Time(e).UnixMilli()
	return strconv.AppendFloat(nil, float64(ms)/1000, 'f', -1, 64), nil
}

// validity is a certificate's validity window.
type validity struct {
	NotBefore epoch `json:"notBefore,omitzero"`
	NotAfter  epoch `json:"notAfter,omitzero"`
}

// maxPageSize is the largest page of every list operation here.
const maxPageSize = 250

// pageSize reads the page-size query parameter name (maxResults or
// pageSize): 0 when absent, else 1 to 250.
func pageSize(r *http.Request, name string) (int, error) {
	n, ok, err := httpapi.QueryInt(r, name)
	if err != nil || !ok {
		return 0, err
	}
	if n < 1 || n > maxPageSize {
		return 0, httpapi.Errorf(httpapi.InvalidRequest, "%s must be between 1 and %d", name, maxPageSize)
	}
	return int(n), nil
}

// query returns the query parameter name, "" when absent.
func query(r *http.Request, name string) string { return r.URL.Query().Get(name) }

// endpointTypes are DescribeEndpoint's accepted endpointType values.
var endpointTypes = map[string]bool{
	"": true, "iot:Data": true, "iot:Data-ATS": true, "iot:CredentialProvider": true, "iot:Jobs": true,
}

// describeEndpoint: GET /endpoint?endpointType= -> endpointAddress. SDK
// samples feed the address straight to their MQTT client, so it is the
// hub's own host name.
func (s *service) describeEndpoint(w http.ResponseWriter, r *http.Request) error {
	typ := query(r, "endpointType")
	if !endpointTypes[typ] {
		return httpapi.Errorf(httpapi.InvalidRequest,
			"Endpoint type %q is not valid: use iot:Data, iot:Data-ATS, iot:CredentialProvider or iot:Jobs", typ)
	}
	return httpapi.WriteJSON(w, struct {
		EndpointAddress string `json:"endpointAddress"`
	}{s.endpoint(typ)})
}
