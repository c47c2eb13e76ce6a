package registry

import (
	"errors"
	"fmt"
)

// Sentinel errors, checked with errors.Is. Each names the AWS error the API
// layer should send. Errors the registry makes itself are *Error values that
// wrap one of these and carry AWS's message text.
var (
	// ErrNotFound: ResourceNotFoundException (404).
	ErrNotFound = errors.New("registry: resource not found")
	// ErrAlreadyExists: ResourceAlreadyExistsException (409).
	ErrAlreadyExists = errors.New("registry: resource already exists")
	// ErrVersionConflict: VersionConflictException (409).
	ErrVersionConflict = errors.New("registry: version conflict")
	// ErrInvalid: InvalidRequestException (400).
	ErrInvalid = errors.New("registry: invalid request")
	// ErrCertificateState: CertificateStateException (406).
	ErrCertificateState = errors.New("registry: certificate state does not allow the operation")
	// ErrDeleteConflict: DeleteConflictException (409).
	ErrDeleteConflict = errors.New("registry: delete conflict")
	// ErrCertificateValidation: CertificateValidationException (400), a
	// certificate that does not parse or does not chain as required.
	ErrCertificateValidation = errors.New("registry: certificate validation failed")
	// ErrRegistrationCodeValidation: RegistrationCodeValidationException
	// (400), a CA verification certificate without the registration code.
	ErrRegistrationCodeValidation = errors.New("registry: registration code validation failed")
	// ErrLimitExceeded: LimitExceededException (410).
	ErrLimitExceeded = errors.New("registry: limit exceeded")
	// ErrThrottled: ThrottlingException (400), returned when a record stays
	// contended through every compare-and-set retry.
	ErrThrottled = errors.New("registry: throttled")
)

// Error is an error with the message AWS IoT would send. The API layer takes
// Message (and for ResourceAlreadyExistsException ResourceID and
// ResourceARN) with errors.As, and the error code from the sentinel Kind
// with errors.Is.
type Error struct {
	Kind        error  // one of the sentinels above
	Message     string // AWS's message text
	ResourceID  string // the existing resource, for ErrAlreadyExists
	ResourceARN string // the existing resource, for ErrAlreadyExists
}

func (e *Error) Error() string { return "registry: " + e.Message }

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Kind }

func newError(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

func invalidf(format string, args ...any) error { return newError(ErrInvalid, format, args...) }

func notFoundf(format string, args ...any) error { return newError(ErrNotFound, format, args...) }
