package doctor

import (
	"context"
	"errors"
)

// ErrNotFound is what a Hub returns (wrapped) for a certificate, thing or
// CA the hub does not know.
var ErrNotFound = errors.New("not found")

// Hub answers what the doctor asks the hub about a device. The CLI
// implements it with the hub's AWS-compatible API; the console can with the
// stores. Errors other than ErrNotFound make a step "cannot check".
type Hub interface {
	// Certificate describes a device certificate by its id.
	Certificate(ctx context.Context, id string) (Certificate, error)
	// CACertificates lists the CA certificates registered with the hub.
	CACertificates(ctx context.Context) ([]CACertificate, error)
	// PrincipalThings lists the things the certificate is attached to.
	PrincipalThings(ctx context.Context, certARN string) ([]string, error)
	// Policies returns the policies attached to the certificate, each with
	// the document of its default version.
	Policies(ctx context.Context, certARN string) ([]Policy, error)
	// Thing returns a thing's type and attributes, for policy variables.
	Thing(ctx context.Context, name string) (Thing, error)
}

// Certificate is a registered device certificate.
type Certificate struct {
	ID     string
	ARN    string
	Status string // ACTIVE, INACTIVE, REVOKED, PENDING_TRANSFER, ...
	// CACertificateID is the registered CA it was registered with; "" for
	// the hub CA or a registration without CA.
	CACertificateID string
}

// CACertificate is a CA registered with the hub.
type CACertificate struct {
	ID     string
	Status string // ACTIVE or INACTIVE
	PEM    []byte
}

// Policy is a policy attached to a certificate.
type Policy struct {
	Name     string
	Document []byte
}

// Thing is what policy variables read of a thing.
type Thing struct {
	TypeName   string
	Attributes map[string]string
}
