package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
)

// Code is an AWS error name, sent to clients as the x-amzn-ErrorType header
// and the "__type" body member. The AWS SDKs map it to a typed exception.
type Code string

// The error catalogue. HTTP statuses come from the iot and iot-data service
// models (see catalogue); the authentication codes are the ones AWS's front
// door sends for SigV4 failures.
const (
	InvalidRequest              Code = "InvalidRequestException"
	Throttling                  Code = "ThrottlingException"
	Unauthorized                Code = "UnauthorizedException"
	Forbidden                   Code = "ForbiddenException"
	CertificateState            Code = "CertificateStateException"
	ResourceNotFound            Code = "ResourceNotFoundException"
	MethodNotAllowed            Code = "MethodNotAllowedException"
	ResourceAlreadyExists       Code = "ResourceAlreadyExistsException"
	Conflict                    Code = "ConflictException"
	DeleteConflict              Code = "DeleteConflictException"
	VersionConflict             Code = "VersionConflictException"
	VersionsLimitExceeded       Code = "VersionsLimitExceededException"
	CertificateConflict         Code = "CertificateConflictException"
	InvalidStateTransition      Code = "InvalidStateTransitionException"
	ConflictingResourceUpdate   Code = "ConflictingResourceUpdateException"
	LimitExceeded               Code = "LimitExceededException"
	TransferAlreadyCompleted    Code = "TransferAlreadyCompletedException"
	RequestEntityTooLarge       Code = "RequestEntityTooLargeException"
	UnsupportedDocumentEncoding Code = "UnsupportedDocumentEncodingException"
	MalformedPolicy             Code = "MalformedPolicyException"
	CertificateValidation       Code = "CertificateValidationException"
	SQLParse                    Code = "SqlParseException"
	RegistrationCodeValidation  Code = "RegistrationCodeValidationException"
	InvalidQuery                Code = "InvalidQueryException"
	IndexNotReady               Code = "IndexNotReadyException"
	ResourceRegistrationFailure Code = "ResourceRegistrationFailureException"
	InternalFailure             Code = "InternalFailureException"
	Internal                    Code = "InternalException"
	ServiceUnavailable          Code = "ServiceUnavailableException"
	MissingAuthenticationToken  Code = "MissingAuthenticationTokenException"
	IncompleteSignature         Code = "IncompleteSignatureException"
	InvalidSignature            Code = "InvalidSignatureException"
	UnrecognizedClient          Code = "UnrecognizedClientException"
)

// catalogue maps each Code to its HTTP status. ThrottlingException is 400 in
// the iot control-plane model and 429 in iot-data; iot-data handlers use
// WithStatus(http.StatusTooManyRequests).
var catalogue = map[Code]int{
	InvalidRequest:              http.StatusBadRequest,
	Throttling:                  http.StatusBadRequest,
	Unauthorized:                http.StatusUnauthorized,
	Forbidden:                   http.StatusForbidden,
	CertificateState:            http.StatusNotAcceptable,
	ResourceNotFound:            http.StatusNotFound,
	MethodNotAllowed:            http.StatusMethodNotAllowed,
	ResourceAlreadyExists:       http.StatusConflict,
	Conflict:                    http.StatusConflict,
	DeleteConflict:              http.StatusConflict,
	VersionConflict:             http.StatusConflict,
	VersionsLimitExceeded:       http.StatusConflict,
	CertificateConflict:         http.StatusConflict,
	InvalidStateTransition:      http.StatusConflict,
	ConflictingResourceUpdate:   http.StatusConflict,
	LimitExceeded:               http.StatusGone,
	TransferAlreadyCompleted:    http.StatusGone,
	RequestEntityTooLarge:       http.StatusRequestEntityTooLarge,
	UnsupportedDocumentEncoding: http.StatusUnsupportedMediaType,
	MalformedPolicy:             http.StatusBadRequest,
	CertificateValidation:       http.StatusBadRequest,
	SQLParse:                    http.StatusBadRequest,
	RegistrationCodeValidation:  http.StatusBadRequest,
	InvalidQuery:                http.StatusBadRequest,
	IndexNotReady:               http.StatusBadRequest,
	ResourceRegistrationFailure: http.StatusBadRequest,
	InternalFailure:             http.StatusInternalServerError,
	Internal:                    http.StatusInternalServerError,
	ServiceUnavailable:          http.StatusServiceUnavailable,
	MissingAuthenticationToken:  http.StatusForbidden,
	IncompleteSignature:         http.StatusForbidden,
	InvalidSignature:            http.StatusForbidden,
	UnrecognizedClient:          http.StatusForbidden,
}

// Status returns the HTTP status the catalogue gives c, or 500 for a code
// that is not in the catalogue.
func (c Code) Status() int {
	if s, ok := catalogue[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// internalMessage is what a client sees for any error that is not an *Error.
// It matches AWS's wording for a 500 and never carries the cause.
const internalMessage = "Internal service failure"

// Error is an API error meant for the client: its Code and Message are sent
// as they are, so Message must never carry secrets or internal detail. Err,
// the cause, is only logged. Handlers may wrap an *Error with fmt.Errorf and
// %w; the API finds it with errors.As and keeps its code.
type Error struct {
	Code    Code
	Message string
	// Status overrides Code.Status() when not zero.
	Status int
	// Extra holds modeled members sent beside "message", e.g. resourceId and
	// resourceArn for ResourceAlreadyExistsException.
	Extra map[string]string
	// Err is the internal cause: logged, never sent.
	Err error
}

// Errorf returns an *Error with code and a message formatted like
// fmt.Sprintf. It does not wrap: a %w verb is formatted like %v.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Error returns the code and message, and the cause when there is one.
func (e *Error) Error() string {
	s := string(e.Code) + ": " + e.Message
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Err }

// HTTPStatus returns the status the error is sent with.
func (e *Error) HTTPStatus() int {
	if e.Status != 0 {
		return e.Status
	}
	return e.Code.Status()
}

// With returns a copy of e with the modeled member key set to value, e.g.
// With("resourceId", name).
func (e *Error) With(key, value string) *Error {
	c := *e
	c.Extra = maps.Clone(e.Extra)
	if c.Extra == nil {
		c.Extra = make(map[string]string, 2)
	}
	c.Extra[key] = value
	return &c
}

// WithStatus returns a copy of e sent with HTTP status code status.
func (e *Error) WithStatus(status int) *Error {
	c := *e
	c.Status = status
	return &c
}

// WithCause returns a copy of e whose internal cause is err.
func (e *Error) WithCause(err error) *Error {
	c := *e
	c.Err = err
	return &c
}

// asError returns the *Error in err's chain, or an InternalFailureException
// wrapping err and whether err carried an *Error.
func asError(err error) (*Error, bool) {
	var ae *Error
	if errors.As(err, &ae) {
		return ae, true
	}
	return &Error{Code: InternalFailure, Message: internalMessage, Err: err}, false
}

// Header names as AWS spells them. Go writes map keys as given, so setting
// them directly keeps AWS's case on HTTP/1.1; clients look them up
// case-insensitively.
const (
	headerErrorType = "x-amzn-ErrorType"
	headerRequestID = "x-amzn-RequestId"
)

// ErrorFormat is how an API writes its errors. Both formats carry the code
// in x-amzn-ErrorType, which the AWS SDKs read first (up to a ':').
type ErrorFormat uint8

const (
	// ErrorsRestJSON is restJson1's error: x-amzn-ErrorType: code and the
	// body {"__type": code, "message": text, extras...}. The iot control
	// plane sends this.
	ErrorsRestJSON ErrorFormat = iota
	// ErrorsIoTData is what AWS IoT's data endpoint sends (iot-data, as
	// captured from real traffic): x-amzn-ErrorType: code followed by a
	// colon, and the body {"message": text, "traceId": request id, extras...}.
	ErrorsIoTData
)

// writeError writes e in the API's error format, with the status from the
// catalogue.
func (a *API) writeError(w http.ResponseWriter, e *Error) {
	body := make(map[string]string, 2+len(e.Extra))
	maps.Copy(body, e.Extra)
	code := string(e.Code)
	if a.errFmt == ErrorsIoTData {
		if id := w.Header()[headerRequestID]; len(id) > 0 { // set under AWS's spelling, not canonical
			body["traceId"] = id[0]
		}
		code += ":"
	} else {
		body["__type"] = string(e.Code)
	}
	body["message"] = e.Message
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(body) // a map of strings always encodes
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h[headerErrorType] = []string{code}
	w.WriteHeader(e.HTTPStatus())
	_, _ = w.Write(buf.Bytes())
}
