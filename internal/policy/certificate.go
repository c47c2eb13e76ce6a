package policy

import (
	"crypto/x509/pkix"
	"encoding/asn1"
)

// nameOIDs maps distinguished-name attribute OIDs to AWS's attribute names
// (the keys of Context.Subject and Context.Issuer).
var nameOIDs = []struct {
	oid  asn1.ObjectIdentifier
	name string
}{
	{asn1.ObjectIdentifier{2, 5, 4, 3}, "CommonName"},
	{asn1.ObjectIdentifier{2, 5, 4, 4}, "Surname"},
	{asn1.ObjectIdentifier{2, 5, 4, 5}, "SerialNumber"},
	{asn1.ObjectIdentifier{2, 5, 4, 6}, "Country"},
	{asn1.ObjectIdentifier{2, 5, 4, 8}, "State"},
	{asn1.ObjectIdentifier{2, 5, 4, 10}, "Organization"},
	{asn1.ObjectIdentifier{2, 5, 4, 11}, "OrganizationalUnit"},
	{asn1.ObjectIdentifier{2, 5, 4, 12}, "Title"},
	{asn1.ObjectIdentifier{2, 5, 4, 42}, "GivenName"},
	{asn1.ObjectIdentifier{2, 5, 4, 43}, "Initials"},
	{asn1.ObjectIdentifier{2, 5, 4, 44}, "GenerationQualifier"},
	{asn1.ObjectIdentifier{2, 5, 4, 46}, "DistinguishedNameQualifier"},
	{asn1.ObjectIdentifier{2, 5, 4, 65}, "Pseudonym"},
}

// NameAttributes returns the attributes of a certificate's subject or issuer
// keyed by AWS's attribute names, values in certificate order, for
// Context.Subject and Context.Issuer. Attributes AWS has no variable for
// (Locality, StreetAddress, ...) are left out; so are non-string values.
func NameAttributes(n pkix.Name) map[string][]string {
	out := map[string][]string{}
	for _, atv := range n.Names {
		v, ok := atv.Value.(string)
		if !ok {
			continue
		}
		for _, o := range nameOIDs {
			if atv.Type.Equal(o.oid) {
				out[o.name] = append(out[o.name], v)
				break
			}
		}
	}
	return out
}
