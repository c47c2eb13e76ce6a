package iotapi

import (
	"errors"
	"strings"

	"github.com/thingcore/thingcore/internal/httpapi"
	"github.com/thingcore/thingcore/internal/registry"
)

// codes maps the registry's sentinel errors to AWS error codes: the one
// place where registry failures get their AWS names.
var codes = []struct {
	sentinel error
	code     httpapi.Code
}{
	{registry.ErrNotFound, httpapi.ResourceNotFound},
	{registry.ErrAlreadyExists, httpapi.ResourceAlreadyExists},
	{registry.ErrVersionConflict, httpapi.VersionConflict},
	{registry.ErrInvalid, httpapi.InvalidRequest},
	{registry.ErrCertificateState, httpapi.CertificateState},
	{registry.ErrDeleteConflict, httpapi.DeleteConflict},
	{registry.ErrCertificateValidation, httpapi.CertificateValidation},
	{registry.ErrRegistrationCodeValidation, httpapi.RegistrationCodeValidation},
	{registry.ErrLimitExceeded, httpapi.LimitExceeded},
	{registry.ErrThrottled, httpapi.Throttling},
}

// apiError turns an operation's error into the error the client sees. An
// *httpapi.Error passes as it is; a registry error becomes its AWS code
// with the registry's AWS message (and, for ResourceAlreadyExistsException,
// resourceId and resourceArn); anything else stays an internal failure,
// logged by httpapi and sent as a 500 without detail.
func apiError(err error) error {
	var ae *httpapi.Error
	if errors.As(err, &ae) {
		return err
	}
	for _, c := range codes {
		if !errors.Is(err, c.sentinel) {
			continue
		}
		var re *registry.Error
		if !errors.As(err, &re) {
			// A bare sentinel: its own text is the only message there is.
			return httpapi.Errorf(c.code, "%s", strings.TrimPrefix(c.sentinel.Error(), "registry: ")).WithCause(err)
		}
		e := httpapi.Errorf(c.code, "%s", re.Message).WithCause(err)
		if c.code == httpapi.ResourceAlreadyExists {
			if re.ResourceID != "" {
				e = e.With("resourceId", re.ResourceID)
			}
			if re.ResourceARN != "" {
				e = e.With("resourceArn", re.ResourceARN)
			}
		}
		return e
	}
	return err
}
