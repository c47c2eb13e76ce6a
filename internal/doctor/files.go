package doctor

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/thingcore/thingcore/internal/devicebundle"
	"github.com/thingcore/thingcore/internal/pki"
)

// kind is what a file holds.
type kind int

const (
	kindUnknown kind = iota
	kindCert
	kindPrivateKey
	kindPublicKey
	kindCSR
	kindEncryptedKey
)

func (k kind) article() string {
	switch k {
	case kindCert:
		return "a certificate"
	case kindPrivateKey:
		return "a private key"
	case kindPublicKey:
		return "a public key"
	case kindCSR:
		return "a certificate signing request (CSR)"
	case kindEncryptedKey:
		return "an encrypted private key"
	}
	return "nothing recognisable"
}

// parsed is one file of the folder.
type parsed struct {
	name    string // relative to the folder
	present bool
	err     error // reading or parsing
	kind    kind
	isPEM   bool
	der     []byte
	cert    *x509.Certificate
	key     crypto.Signer
}

// parseFile reads and classifies one file: PEM or DER, certificate, private
// or public key, CSR, or an encrypted key.
func parseFile(dir, name string) parsed {
	p := parsed{name: name}
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	if errors.Is(err, fs.ErrNotExist) {
		return p
	}
	p.present = true
	if err != nil {
		p.err = err
		return p
	}
	p.classify(data)
	return p
}

func (p *parsed) classify(data []byte) {
	if len(bytes.TrimSpace(data)) == 0 {
		p.err = errors.New("the file is empty")
		return
	}
	der := data
	if !(len(data) > 0 && data[0] == 0x30 && parseDER(p, data)) {
		rest := data
		var b *pem.Block
		for {
			b, rest = pem.Decode(rest)
			if b == nil || b.Type != "EC PARAMETERS" {
				break
			}
		}
		if b == nil {
			p.err = errors.New("neither PEM nor DER: no -----BEGIN block and not a DER certificate or key")
			return
		}
		p.isPEM = true
		if b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
			p.kind = kindEncryptedKey
			return
		}
		der = b.Bytes
		if !parseDER(p, der) {
			p.err = fmt.Errorf("its PEM block %q does not parse", b.Type)
			return
		}
	}
	p.der = der
}

// parseDER tries every structure a device folder may hold.
func parseDER(p *parsed, der []byte) bool {
	if c, err := x509.ParseCertificate(der); err == nil {
		p.kind, p.cert = kindCert, c
		return true
	}
	if _, err := x509.ParseCertificateRequest(der); err == nil {
		p.kind = kindCSR
		return true
	}
	var key any
	var err error
	if key, err = x509.ParsePKCS8PrivateKey(der); err != nil {
		if key, err = x509.ParsePKCS1PrivateKey(der); err != nil {
			key, err = x509.ParseECPrivateKey(der)
		}
	}
	if err == nil {
		if s, ok := key.(crypto.Signer); ok {
			p.kind, p.key = kindPrivateKey, s
			return true
		}
	}
	if _, err := x509.ParsePKIXPublicKey(der); err == nil {
		p.kind = kindPublicKey
		return true
	}
	if _, err := x509.ParsePKCS1PublicKey(der); err == nil {
		p.kind = kindPublicKey
		return true
	}
	return false
}

// fileNames returns the folder's certificate and key files, PEM first, as
// device.json lists them (or the defaults).
func fileNames(dev devicebundle.Device) (certs, keys []string) {
	get := func(key, def string) string {
		if v := dev.Files[key]; v != "" {
			return v
		}
		return def
	}
	certs = uniq(get("certificate_pem", devicebundle.CertPEM), devicebundle.CertDER, get("certificate_der", devicebundle.BoardCert))
	keys = uniq(get("private_key_pem", devicebundle.KeyPEM), devicebundle.KeyDER, get("private_key_der", devicebundle.BoardKey))
	return certs, keys
}

func uniq(s ...string) []string {
	var out []string
	for _, v := range s {
		if !contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// checkFiles: step 1.
func (r *run) checkFiles(_ context.Context) Result {
	dir := r.cfg.Dir
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fail(CauseMissingFile, fmt.Sprintf("%s is not a folder", dir),
			"pass the device folder `thingcore thing create NAME` wrote (default ./NAME)")
	}

	// device.json first: it names the other files and the endpoint.
	data, err := os.ReadFile(filepath.Join(dir, devicebundle.DeviceJSON))
	if errors.Is(err, fs.ErrNotExist) {
		return fail(CauseMissingFile, devicebundle.DeviceJSON+" is missing",
			"use the folder `thingcore thing create NAME` wrote, or write device.json (thing_name, client_id, endpoint, mqtt_port)")
	}
	if err != nil {
		return fail(CauseUnreadable, "read "+devicebundle.DeviceJSON+": "+err.Error(), "make the folder readable")
	}
	if err := json.Unmarshal(data, &r.dev); err != nil {
		return fail(CauseDeviceJSON, devicebundle.DeviceJSON+" is not valid JSON: "+err.Error(),
			"fix the file, or write the folder again with `thingcore thing create NAME`")
	}
	if r.dev.ThingName == "" {
		return fail(CauseDeviceJSON, devicebundle.DeviceJSON+" names no thing_name", "add \"thing_name\" to device.json")
	}
	if r.dev.ClientID == "" {
		r.dev.ClientID = r.dev.ThingName
	}
	if res, ok := r.resolveEndpoint(); !ok {
		return res
	}

	certNames, keyNames := fileNames(r.dev)
	var certs, keys []parsed
	for _, n := range certNames {
		certs = append(certs, parseFile(dir, n))
	}
	for _, n := range keyNames {
		keys = append(keys, parseFile(dir, n))
	}
	root := parseFile(dir, rootCAName(r.dev))

	// Problems, the first one decides the cause.
	type problem struct{ cause, msg, fix string }
	var probs []problem
	add := func(cause, msg, fix string) { probs = append(probs, problem{cause, msg, fix}) }

	// Swapped: a certificate file holds a private key and a key file a
	// certificate.
	for i := range certs {
		if i < len(keys) && certs[i].kind == kindPrivateKey && keys[i].kind == kindCert {
			add(CauseSwapped, fmt.Sprintf("%s holds the private key and %s the certificate: the files are swapped", certs[i].name, keys[i].name),
				fmt.Sprintf("swap them back: mv %[1]s tmp && mv %[2]s %[1]s && mv tmp %[2]s", shq(certs[i].name), shq(keys[i].name)))
			certs[i].err, keys[i].err = errSwapped, errSwapped
		}
	}
	for i := range certs {
		c := &certs[i]
		switch {
		case !c.present || c.err == errSwapped:
		case c.err != nil:
			add(CauseUnreadable, c.name+": "+c.err.Error(), "write the certificate again: `thingcore cert convert` converts PEM and DER")
		case c.kind == kindCSR:
			add(CauseCSR, c.name+" holds a certificate signing request, not a certificate",
				"have the CSR signed (aws iot create-certificate-from-csr against the hub) and save the certificate it returns")
		case c.kind == kindEncryptedKey || c.kind == kindPrivateKey:
			add(CauseWrongKind, c.name+" holds a private key, not the certificate", "put the device certificate in "+c.name)
		case c.kind != kindCert:
			add(CauseWrongKind, c.name+" holds "+c.kind.article()+", not a certificate", "put the device certificate in "+c.name)
		}
	}
	for i := range keys {
		k := &keys[i]
		switch {
		case !k.present || k.err == errSwapped:
		case k.err != nil:
			add(CauseUnreadable, k.name+": "+k.err.Error(), "write the key again: `thingcore cert convert` converts PEM and DER")
		case k.kind == kindPublicKey:
			add(CausePublicKey, k.name+" holds a public key, not the private key",
				"use the private key written with the certificate (private.pem.key), not public.pem.key")
		case k.kind == kindEncryptedKey:
			add(CauseEncryptedKey, k.name+" is an encrypted private key; devices need it unencrypted",
				"decrypt it: openssl pkey -in "+shq(k.name)+" -out plain.pem.key, then `thingcore cert convert plain.pem.key`")
		case k.kind == kindCert:
			add(CauseWrongKind, k.name+" holds a certificate, not the private key", "put the device's private key in "+k.name)
		case k.kind != kindPrivateKey:
			add(CauseWrongKind, k.name+" holds "+k.kind.article()+", not a private key", "put the device's private key in "+k.name)
		}
	}
	// At least one certificate and one key in some form.
	r.cert, r.certFile = firstCert(certs)
	r.key, r.keyFile = firstKey(keys)
	if len(probs) == 0 && r.cert == nil {
		add(CauseMissingFile, "no certificate: none of "+strings.Join(certNames, ", ")+" is present",
			"copy the certificate into the folder, or create a new one with `thingcore thing create "+r.dev.ThingName+"`")
	}
	if len(probs) == 0 && r.key == nil {
		add(CauseMissingFile, "no private key: none of "+strings.Join(keyNames, ", ")+" is present",
			"copy the private key written with the certificate into the folder; if it is lost, `thingcore thing create "+r.dev.ThingName+"` issues a new pair")
	}
	switch {
	case !root.present:
		add(CauseMissingFile, root.name+" is missing", r.copyRootFix(root.name))
	case root.err != nil:
		add(CauseUnreadable, root.name+": "+root.err.Error(), r.copyRootFix(root.name))
	case root.kind != kindCert:
		add(CauseWrongKind, root.name+" holds "+root.kind.article()+", not the hub's CA certificate",
			r.copyRootFix(root.name))
	default:
		r.rootCert = root.cert
		r.roots = x509.NewCertPool()
		r.roots.AddCert(root.cert)
	}
	if len(probs) > 0 {
		p := probs[0]
		var details []string
		for _, q := range probs[1:] {
			details = append(details, q.msg)
		}
		return fail(p.cause, p.msg, p.fix, details...)
	}
	r.certID = pki.CertificateID(r.cert.Raw)
	var found []string
	for _, f := range append(append(certs, keys...), root) {
		if f.present {
			form := "DER"
			if f.isPEM {
				form = "PEM"
			}
			found = append(found, f.name+" ("+form+")")
		}
	}
	return pass(fmt.Sprintf("certificate, %s key, root CA and device.json parse", keyDescription(r.key)),
		"found "+strings.Join(found, ", "))
}

var errSwapped = errors.New("swapped")

func rootCAName(dev devicebundle.Device) string {
	if v := dev.Files["root_ca"]; v != "" {
		return v
	}
	return devicebundle.RootCA
}

// resolveEndpoint sets host and port from --endpoint or device.json.
func (r *run) resolveEndpoint() (Result, bool) {
	if ep := r.cfg.Endpoint; ep != "" {
		h, p, err := net.SplitHostPort(ep)
		if err != nil || h == "" {
			return fail(CauseEndpointUnknown, fmt.Sprintf("--endpoint %q: want HOST:PORT", ep), "pass --endpoint HOST:PORT, e.g. 192.168.1.10:8883"), false
		}
		r.host, r.port = h, p
	} else {
		if r.dev.Endpoint == "" {
			return fail(CauseEndpointUnknown, "device.json names no endpoint", "add \"endpoint\" to device.json or pass --endpoint HOST:PORT"), false
		}
		port := r.dev.MQTTPort
		if port == 0 {
			port = 8883
		}
		r.host, r.port = r.dev.Endpoint, strconv.Itoa(port)
	}
	r.endpoint = net.JoinHostPort(r.host, r.port)
	return Result{}, true
}

func firstCert(ps []parsed) (*x509.Certificate, string) {
	for _, p := range ps {
		if p.cert != nil {
			return p.cert, p.name
		}
	}
	return nil, ""
}

func firstKey(ps []parsed) (crypto.Signer, string) {
	for _, p := range ps {
		if p.key != nil {
			return p.key, p.name
		}
	}
	return nil, ""
}

// keyDescription names a key's algorithm and size: "RSA 2048", "EC P-256".
func keyDescription(k any) string {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return "RSA " + strconv.Itoa(k.N.BitLen())
	case *rsa.PublicKey:
		return "RSA " + strconv.Itoa(k.N.BitLen())
	case *ecdsa.PrivateKey:
		return "EC " + k.Curve.Params().Name
	case *ecdsa.PublicKey:
		return "EC " + k.Curve.Params().Name
	case ed25519.PrivateKey, ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", k)
}

// shq quotes a file name for a shell when it needs it.
func shq(s string) string {
	if strings.ContainsAny(s, " '\"$`\\!*?&;|<>()") {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return s
}

// checkKey: step 2. Every key file must hold the certificate's key, and the
// DER and PEM certificates must be the same.
func (r *run) checkKey(_ context.Context) Result {
	certNames, keyNames := fileNames(r.dev)
	var bad []string
	var derMismatch []string
	for _, n := range certNames {
		p := parseFile(r.cfg.Dir, n)
		if p.cert != nil && !bytes.Equal(p.cert.Raw, r.cert.Raw) {
			derMismatch = append(derMismatch, fmt.Sprintf("%s is not the same certificate as %s", n, r.certFile))
		}
	}
	for _, n := range keyNames {
		p := parseFile(r.cfg.Dir, n)
		if p.key == nil {
			continue
		}
		if !publicEqual(r.cert.PublicKey, p.key.Public()) {
			bad = append(bad, n)
		}
	}
	if len(bad) > 0 {
		first := bad[0]
		var details []string
		for _, n := range bad[1:] {
			details = append(details, n+" does not belong to "+r.certFile+" either")
		}
		return fail(CauseKeyMismatch,
			fmt.Sprintf("%s is not the key of %s (certificate %s): another %s key", first, r.certFile, short(r.certID), keyDescription(pkey(r, first))),
			"use the key written together with this certificate (another device's folder?); if it is lost, `thingcore thing create "+r.dev.ThingName+"` issues a new pair",
			append(details, derMismatch...)...)
	}
	if len(derMismatch) > 0 {
		return fail(CauseDERMismatch, derMismatch[0],
			"write the DER files again from the PEM pair: thingcore cert convert "+shq(r.certFile)+" --out cert/certificate.crt.der --force",
			derMismatch[1:]...)
	}
	pair := tls.Certificate{Certificate: [][]byte{r.cert.Raw}, PrivateKey: r.key, Leaf: r.cert}
	r.keyPair = &pair
	return pass(fmt.Sprintf("%s belongs to %s; the DER pair is the same pair", r.keyFile, r.certFile))
}

func pkey(r *run, name string) crypto.PublicKey {
	p := parseFile(r.cfg.Dir, name)
	if p.key == nil {
		return nil
	}
	return p.key.Public()
}

func publicEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// short abbreviates a certificate id for one-line summaries.
func short(id string) string {
	if len(id) > 12 {
		return id[:12] + "…"
	}
	return id
}

// checkValidity: step 3.
func (r *run) checkValidity(_ context.Context) Result {
	now := r.deps.Now()
	c := r.cert
	switch {
	case now.Before(c.NotBefore):
		return fail(CauseNotYetValid, "the certificate is not valid before "+stamp(c.NotBefore),
			"check the clocks of this machine and of the machine that issued it; or issue a new certificate with `thingcore thing create "+r.dev.ThingName+"`")
	case now.After(c.NotAfter):
		return fail(CauseExpired, "the certificate expired at "+stamp(c.NotAfter),
			"issue a new certificate for the thing: `thingcore thing create "+r.dev.ThingName+"` (and copy the new folder to the device)")
	}
	res := pass("valid from " + stamp(c.NotBefore) + " until " + stamp(c.NotAfter))
	if c.NotAfter.Sub(now) < 30*24*time.Hour {
		res.Details = append(res.Details, "it expires within 30 days: issue a new one with `thingcore thing create "+r.dev.ThingName+"`")
	}
	return res
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// checkChain: step 4. The hub accepts a certificate that chains to its CA,
// to the registered CA it was registered with, or one registered without a
// CA.
func (r *run) checkChain(ctx context.Context) Result {
	opts := x509.VerifyOptions{Roots: r.roots, CurrentTime: r.deps.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	issuer := r.cert.Issuer.String()
	var rootErr error
	if r.roots != nil {
		if _, rootErr = r.cert.Verify(opts); rootErr == nil {
			return pass("issued by the hub CA in " + rootCAName(r.dev) + " (" + r.rootCert.Subject.CommonName + ")")
		}
	}
	h := r.deps.Hub
	if h == nil {
		res := r.hubUnknown()
		res.Summary = fmt.Sprintf("does not chain to %s (issuer %q); %s", rootCAName(r.dev), issuer, res.Summary)
		return res
	}
	// Registered with a CA, or without?
	if hc, err := r.hubCertificate(ctx); err == nil && hc.CACertificateID == "" && string(r.cert.RawIssuer) != string(r.rootCert.RawSubject) {
		return pass(fmt.Sprintf("issued by %q, registered without a CA (the registration is the trust)", issuer))
	}
	cas, err := h.CACertificates(ctx)
	if err != nil {
		return r.hubErr(err)
	}
	for _, ca := range cas {
		c, err := pki.ParseCertificatePEM(ca.PEM)
		if err != nil {
			continue
		}
		pool := x509.NewCertPool()
		pool.AddCert(c)
		opts.Roots = pool
		if _, err := r.cert.Verify(opts); err != nil {
			continue
		}
		if ca.Status != "ACTIVE" {
			return fail(CauseCAInactive, fmt.Sprintf("issued by registered CA %s, which is %s", short(ca.ID), ca.Status),
				"activate the CA: aws iot update-ca-certificate --certificate-id "+ca.ID+" --new-status ACTIVE --endpoint-url "+r.cfg.APIEndpoint)
		}
		return pass(fmt.Sprintf("issued by registered CA %s (%s)", short(ca.ID), c.Subject.CommonName))
	}
	detail := ""
	if rootErr != nil {
		detail = "verify against " + rootCAName(r.dev) + ": " + rootErr.Error()
	}
	return fail(CauseUnknownCA,
		fmt.Sprintf("issued by %q, which is neither the hub CA (%s) nor a CA registered with the hub", issuer, rootCAName(r.dev)),
		"register the certificate: thingcore cert register "+shq(r.certFile)+" --without-ca --thing "+r.dev.ThingName+" (or register its CA with the hub first)",
		nonEmpty(detail)...)
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// copyRootFix tells the user to copy the hub's root CA to name.
func (r *run) copyRootFix(name string) string {
	return "copy the hub's root CA (" + r.cfg.HubRootCAPath + ") to " + name
}
