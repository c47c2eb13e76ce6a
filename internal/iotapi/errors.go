package iotapi

import (
	"errors"
	"strings"

	"github.com/thingcore/thingcore/internal/httpapi"
	"github.com/thingcore/thingcore/internal/policystore"
	"github.com/thingcore/thingcore/internal/registry"
)

// codes maps the registry's and the policy store's sentinel errors to AWS
// error codes: the one place where their failures get their AWS names.
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
	{policystore.ErrNotFound, httpapi.ResourceNotFound},
	{policystore.ErrAlreadyExists, httpapi.ResourceAlreadyExists},
	{policystore.ErrMalformed, httpapi.MalformedPolicy},
	{policystore.ErrVersionsLimitExceeded, httpapi.VersionsLimitExceeded},
	{policystore.ErrDeleteConflict, httpapi.DeleteConflict},
	{policystore.ErrInvalid, httpapi.InvalidRequest},
}

// apiError turns an operation's error into the error the client sees. An
// *httpapi.Error passes as it is; a registry or policy store error becomes
// its AWS code with the store's AWS message (and, for
// ResourceAlreadyExistsException, resourceId and resourceArn); anything else
// stays an internal failure, logged by httpapi and sent as a 500 without
// detail.
func apiError(err error) error {
	var ae *httpapi.Error
	if err == nil || errors.As(err, &ae) {
		return err
	}
	for _, c := range codes {
		if !errors.Is(err, c.sentinel) {
			continue
		}
		msg, id, arn, ok := detail(err)
		if !ok {
			// A bare sentinel: its own text is the only message there is.
			_, text, _ := strings.Cut(c.sentinel.Error(), ": ")
			return httpapi.Errorf(c.code, "%s", text).WithCause(err)
		}
		e := httpapi.Errorf(c.code, "%s", msg).WithCause(err)
		if c.code == httpapi.ResourceAlreadyExists {
			if id != "" {
				e = e.With("resourceId", id)
			}
			if arn != "" {
				e = e.With("resourceArn", arn)
			}
		}
		return e
	}
	return err
}

// detail returns the AWS message and, for already-exists errors, the
// existing resource, of a registry or policy store error.
func detail(err error) (msg, id, arn string, ok bool) {
	var re *registry.Error
	if errors.As(err, &re) {
		return re.Message, re.ResourceID, re.ResourceARN, true
	}
	var pe *policystore.Error
	if errors.As(err, &pe) {
		return pe.Message, pe.ResourceID, pe.ResourceARN, true
	}
	return "", "", "", false
}
