package pki

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
)

// CertToDER returns the DER bytes of a certificate, byte-identical to
// `openssl x509 -outform der`: like OpenSSL it takes the first
// "CERTIFICATE" block, skipping blocks of other types (a key in the same
// file). DER input is checked and returned as is.
func CertToDER(data []byte) ([]byte, error) {
	der, _, err := findDER(data, func(k Kind) bool { return k == KindCertificate }, "a certificate")
	return der, err
}

// KeyToDER returns a private key as DER in its traditional form, as the
// thing folder's key file and MicroPython's ssl want it: an RSA key as PKCS#1
// (== `openssl rsa -outform DER` of OpenSSL 1.1, the recipe's, and
// `openssl rsa -traditional -outform DER` of OpenSSL 3, which otherwise writes
// PKCS#8), also from a PKCS#8 "PRIVATE KEY" input; an EC key as SEC1 with
// its curve and public key (== `openssl ec -outform DER`). Like OpenSSL it
// takes the first private key block of a PEM file; DER input (PKCS#1, SEC1 or
// PKCS#8) is converted the same way. Encrypted keys and key types other than
// RSA and EC are refused.
func KeyToDER(data []byte) ([]byte, error) {
	_, key, err := findDER(data, Kind.isPrivateKey, "a private key")
	if err != nil {
		return nil, err
	}
	return traditionalDER(key)
}

// ToPEM detects what DER bytes hold and wraps them in a PEM block of the
// matching type ("CERTIFICATE", "RSA PRIVATE KEY", "PRIVATE KEY", ...).
func ToPEM(der []byte) ([]byte, Kind, error) {
	if len(bytes.TrimSpace(der)) == 0 {
		return nil, "", errEmpty
	}
	k, _, err := detectDER(der)
	if err != nil {
		if _, isPEM, perr := Detect(der); perr == nil && isPEM {
			return nil, "", errors.New("input is already PEM")
		}
		return nil, "", notRecognized(der)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemTypes[k], Bytes: bytes.Clone(der)}), k, nil
}

// findDER finds the first item of a wanted kind in DER or PEM data and
// returns its DER bytes and parsed value. A PEM block of an unwanted or
// unsupported type is skipped, as OpenSSL's PEM reader does; an encrypted
// key is an error when keys are wanted.
func findDER(data []byte, want func(Kind) bool, what string) ([]byte, any, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil, errEmpty
	}
	if looksDER(data) {
		if k, v, err := detectDER(data); err == nil {
			if !want(k) {
				return nil, nil, fmt.Errorf("input is %s, not %s", k.article(), what)
			}
			return bytes.Clone(data), v, nil
		}
	}
	var (
		seen    Kind  // first block of a supported but unwanted kind
		skipErr error // first block of an unsupported type
	)
	rest := data
	for {
		b, r := pem.Decode(rest)
		if b == nil {
			break
		}
		rest = r
		k, err := blockKind(b)
		if errors.Is(err, errEncrypted) && want(KindPKCS8PrivateKey) {
			return nil, nil, err
		}
		if err != nil {
			if skipErr == nil {
				skipErr = err
			}
			continue
		}
		if !want(k) {
			if seen == "" {
				seen = k
			}
			continue
		}
		v, err := parseDER(k, b.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("PEM %q block is malformed: %w", b.Type, err)
		}
		return bytes.Clone(b.Bytes), v, nil
	}
	if seen != "" {
		return nil, nil, fmt.Errorf("input holds %s, not %s", seen.article(), what)
	}
	if skipErr != nil {
		return nil, nil, skipErr
	}
	return nil, nil, notRecognized(data)
}
