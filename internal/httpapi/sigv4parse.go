package httpapi

import (
	"errors"
	"fmt"
	"strings"
)

// sigV4Algorithm is the only signing algorithm accepted.
const sigV4Algorithm = "AWS4-HMAC-SHA256"

// sigV4Auth is a parsed SigV4 Authorization header (or the same fields from
// a presigned query).
type sigV4Auth struct {
	AccessKeyID   string
	Date          string // credential scope date, yyyymmdd
	Region        string
	Service       string
	SignedHeaders []string // lower case, in the order sent (sorted by clients)
	Signature     string   // 64 lower-case hex digits
}

// String formats a as an Authorization header value.
func (a sigV4Auth) String() string {
	return sigV4Algorithm + " Credential=" + a.credential() +
		", SignedHeaders=" + strings.Join(a.SignedHeaders, ";") +
		", Signature=" + a.Signature
}

func (a sigV4Auth) credential() string {
	return a.AccessKeyID + "/" + a.Date + "/" + a.Region + "/" + a.Service + "/aws4_request"
}

// parseAuthorization parses an Authorization header of the form
//
//	AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/iot/aws4_request, SignedHeaders=host;x-amz-date, Signature=<64 hex>
//
// Parameters may be separated by ',' with optional spaces and come in any
// order. Errors are *Error IncompleteSignatureException with AWS-style
// messages.
func parseAuthorization(h string) (sigV4Auth, error) {
	alg, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if alg != sigV4Algorithm {
		return sigV4Auth{}, incomplete(fmt.Sprintf("Unsupported AWS 'algorithm': %q", truncate(alg, 32)))
	}
	var cred, signed, sig string
	var haveCred, haveSigned, haveSig bool
	for param := range strings.SplitSeq(rest, ",") {
		param = strings.TrimSpace(param)
		if param == "" {
			continue
		}
		k, v, ok := strings.Cut(param, "=")
		if !ok {
			return sigV4Auth{}, incomplete(fmt.Sprintf("Authorization header parameter %q is not of the form key=value.", truncate(param, 32)))
		}
		var dup bool
		switch k {
		case "Credential":
			cred, dup, haveCred = v, haveCred, true
		case "SignedHeaders":
			signed, dup, haveSigned = v, haveSigned, true
		case "Signature":
			sig, dup, haveSig = v, haveSig, true
		default:
			return sigV4Auth{}, incomplete(fmt.Sprintf("Authorization header has an unknown parameter %q.", truncate(k, 32)))
		}
		if dup {
			return sigV4Auth{}, incomplete(fmt.Sprintf("Authorization header has parameter %q more than once.", k))
		}
	}
	var missing []string
	for _, m := range []struct {
		name string
		ok   bool
	}{{"Credential", haveCred}, {"Signature", haveSig}, {"SignedHeaders", haveSigned}} {
		if !m.ok {
			missing = append(missing, "Authorization header requires '"+m.name+"' parameter.")
		}
	}
	if len(missing) > 0 {
		return sigV4Auth{}, incomplete(strings.Join(missing, " "))
	}
	return sigV4FromParts(cred, signed, sig)
}

// sigV4FromParts validates and assembles the three SigV4 parameters.
func sigV4FromParts(cred, signed, sig string) (sigV4Auth, error) {
	a, err := parseCredential(cred)
	if err != nil {
		return sigV4Auth{}, err
	}
	if a.SignedHeaders, err = parseSignedHeaders(signed); err != nil {
		return sigV4Auth{}, err
	}
	if !isLowerHex(sig, 64) {
		return sigV4Auth{}, incomplete("Signature must be 64 lower-case hexadecimal digits.")
	}
	a.Signature = sig
	return a, nil
}

// parseCredential parses "AKID/yyyymmdd/region/service/aws4_request".
func parseCredential(s string) (sigV4Auth, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 5 {
		return sigV4Auth{}, incomplete("Credential must have the form <access key ID>/<date>/<region>/<service>/aws4_request.")
	}
	a := sigV4Auth{AccessKeyID: parts[0], Date: parts[1], Region: parts[2], Service: parts[3]}
	switch {
	case a.AccessKeyID == "" || !isToken(a.AccessKeyID):
		return sigV4Auth{}, incomplete("Credential should have a valid access key ID.")
	case len(a.Date) != 8 || !isDigits(a.Date):
		return sigV4Auth{}, incomplete("Credential should be scoped to a valid date (yyyyMMdd).")
	case a.Region == "" || !isToken(a.Region):
		return sigV4Auth{}, incomplete("Credential should be scoped to a valid region.")
	case a.Service == "" || !isToken(a.Service):
		return sigV4Auth{}, incomplete("Credential should be scoped to a valid service.")
	case parts[4] != "aws4_request":
		return sigV4Auth{}, incomplete(fmt.Sprintf("Credential should be scoped with a valid terminator: 'aws4_request', not %q.", truncate(parts[4], 32)))
	}
	return a, nil
}

// parseSignedHeaders parses "host;x-amz-date": lower-case header names,
// separated by ';', without repeats.
func parseSignedHeaders(s string) ([]string, error) {
	if s == "" {
		return nil, incomplete("SignedHeaders must not be empty.")
	}
	names := strings.Split(s, ";")
	for i, n := range names {
		if n == "" || !isToken(n) || strings.ToLower(n) != n {
			return nil, incomplete("SignedHeaders must be lower-case header names separated by ';'.")
		}
		for _, m := range names[:i] {
			if m == n {
				return nil, incomplete(fmt.Sprintf("SignedHeaders names %q more than once.", n))
			}
		}
	}
	return names, nil
}

func incomplete(msg string) *Error {
	return &Error{Code: IncompleteSignature, Message: msg, Err: errors.New("malformed signature: " + msg)}
}

// isToken reports whether s is made of HTTP token characters (RFC 9110).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// truncate shortens client-supplied text echoed in an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
