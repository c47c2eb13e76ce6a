package policystore

import (
	"errors"
	"fmt"
)

// Sentinel errors, checked with errors.Is. Each names the AWS error the API
// layer should send. Errors the store makes itself are *Error values that
// wrap one of these and carry AWS's message text.
var (
	// ErrNotFound: ResourceNotFoundException (404).
	ErrNotFound = errors.New("policystore: resource not found")
	// ErrAlreadyExists: ResourceAlreadyExistsException (409).
	ErrAlreadyExists = errors.New("policystore: resource already exists")
	// ErrMalformed: MalformedPolicyException (400).
	ErrMalformed = errors.New("policystore: malformed policy")
	// ErrVersionsLimitExceeded: VersionsLimitExceededException (409).
	ErrVersionsLimitExceeded = errors.New("policystore: versions limit exceeded")
	// ErrDeleteConflict: DeleteConflictException (409).
	ErrDeleteConflict = errors.New("policystore: delete conflict")
	// ErrInvalid: InvalidRequestException (400).
	ErrInvalid = errors.New("policystore: invalid request")
)

// Error is an error with the message AWS IoT would send. The API layer takes
// Message (and for ErrAlreadyExists ResourceID and ResourceARN) with
// errors.As, and the error code from the sentinel Kind with errors.Is.
type Error struct {
	Kind        error  // one of the sentinels above
	Message     string // AWS's message text
	ResourceID  string // the existing resource, for ErrAlreadyExists
	ResourceARN string // the existing resource, for ErrAlreadyExists
	cause       error
}

func (e *Error) Error() string { return "policystore: " + e.Message }

// Unwrap returns the sentinel and, for a malformed document, the
// *policy.MalformedError.
func (e *Error) Unwrap() []error {
	if e.cause != nil {
		return []error{e.Kind, e.cause}
	}
	return []error{e.Kind}
}

func newError(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

func invalidf(format string, args ...any) error { return newError(ErrInvalid, format, args...) }

func policyNotFound(name string) error {
	return newError(ErrNotFound, "Policy not found (name=%s)", name)
}

func versionNotFound(name, id string) error {
	return newError(ErrNotFound, "Policy version not found (name=%s, versionId=%s)", name, id)
}
