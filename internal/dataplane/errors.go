package dataplane

import (
	"errors"
	"net/http"

	"github.com/thingcore/thingcore/internal/httpapi"
	"github.com/thingcore/thingcore/internal/policy"
	"github.com/thingcore/thingcore/internal/shadow"
)

// AWS's messages for refused callers (reference §1.9).
const (
	msgUnauthorized = shadow.MsgUnauthorized // "Unauthorized"
	msgForbidden    = shadow.MsgForbidden    // "Forbidden"
)

// shadowCodes maps the shadow service's HTTP statuses to iot-data's
// exception names (botocore's iot-data model, reference §1.13): the one
// place where shadow errors get their AWS names.
var shadowCodes = map[int]httpapi.Code{
	http.StatusBadRequest:            httpapi.InvalidRequest,
	http.StatusUnauthorized:          httpapi.Unauthorized,
	http.StatusForbidden:             httpapi.Forbidden,
	http.StatusNotFound:              httpapi.ResourceNotFound,
	http.StatusMethodNotAllowed:      httpapi.MethodNotAllowed,
	http.StatusConflict:              httpapi.Conflict,
	http.StatusRequestEntityTooLarge: httpapi.RequestEntityTooLarge,
	http.StatusUnsupportedMediaType:  httpapi.UnsupportedDocumentEncoding,
	http.StatusTooManyRequests:       httpapi.Throttling,
	http.StatusInternalServerError:   httpapi.InternalFailure,
	http.StatusServiceUnavailable:    httpapi.ServiceUnavailable,
}

// apiError turns a shadow service error into the error the client sees: a
// *shadow.Error becomes its exception with AWS's message and the shadow
// service's status (429 for ThrottlingException, which the control-plane
// catalogue has as 400); anything else stays an internal failure, logged by
// httpapi and sent as a 500 without detail.
func apiError(err error) error {
	var se *shadow.Error
	if err == nil || !errors.As(err, &se) {
		return err
	}
	code, ok := shadowCodes[se.Code]
	if !ok {
		code = httpapi.InternalFailure
	}
	return httpapi.Errorf(code, "%s", se.Message).WithStatus(se.Code).WithCause(err)
}

// throttled is iot-data's 429 ThrottlingException.
func throttled(msg string) *httpapi.Error {
	return httpapi.Errorf(httpapi.Throttling, "%s", msg).WithStatus(http.StatusTooManyRequests)
}

// authorize lets the admin do anything and a device what its policies
// allow. A denial is logged at Warn with the certificate, the action, the
// resource and the deciding policy statement, and is a 403
// ForbiddenException.
func (d *DataPlane) authorize(r *http.Request, action, resource string) error {
	if isAdmin(r) {
		return nil
	}
	var dev Device
	if c := callerFrom(r.Context()); c != nil {
		dev = c.dev
	}
	if dev == nil {
		return httpapi.Errorf(httpapi.Forbidden, msgForbidden)
	}
	err := dev.Authorize(action, resource)
	if err == nil {
		return nil
	}
	attrs := []any{keyRequestID, httpapi.RequestID(r.Context()), keyOp, httpapi.Operation(r.Context()),
		keyCertID, dev.CertificateID(), keyAction, action, keyResource, resource, keyReason, err.Error()}
	var de *policy.DeniedError
	if errors.As(err, &de) && de.Decision.Policy != "" {
		attrs = append(attrs, keyPolicy, de.Decision.Policy, keyStatement, de.Decision.Statement)
	}
	d.log.Warn("dataplane: action denied", attrs...)
	return httpapi.Errorf(httpapi.Forbidden, msgForbidden).WithCause(err)
}

// Log keys used by this package, snake_case (STYLE.md rule 9).
const (
	keyRequestID = "request_id"
	keyOp        = "op"
	keyCertID    = "cert_id"
	keyAction    = "action"
	keyResource  = "resource"
	keyReason    = "reason"
	keyPolicy    = "policy"
	keyStatement = "statement"
	keyThing     = "thing"
	keyShadow    = "shadow"
	keyTopic     = "topic"
	keyFilter    = "filter"
	keyErr       = "err"
)
