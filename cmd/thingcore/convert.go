package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/thingcore/thingcore/internal/pki"
)

func certConvertCommand() *command {
	return &command{
		name: "convert", args: "FILE", minArgs: 1, maxArgs: 1,
		summary: "convert a certificate or private key between PEM and DER (local, no hub)",
		long: "Converts a certificate or private key between PEM and DER, detecting which it is. The DER\n" +
			"output is byte-identical to OpenSSL's: a certificate as `openssl x509 -outform der`, an RSA\n" +
			"key as PKCS#1 (`openssl rsa -outform DER`; OpenSSL 3 needs -traditional), an EC key as SEC1\n" +
			"(`openssl ec -outform DER`), the forms MicroPython's ssl loads. A PKCS#8 key becomes PKCS#1\n" +
			"or SEC1. Without --to, PEM becomes DER and DER becomes PEM. The output name follows the\n" +
			"recipe's: certificate.pem.crt <-> certificate.crt.der, private.pem.key <-> private.key.der.\n" +
			"A private key is written with mode 0600. Encrypted keys are refused: decrypt them first.",
		examples: []string{
			"thingcore cert convert certificate.pem.crt              # -> certificate.crt.der",
			"thingcore cert convert private.pem.key                  # -> private.key.der (0600)",
			"thingcore cert convert private.pem.key --out cert/privateKey.key.der",
			"thingcore cert convert certificate.crt.der --to pem     # -> certificate.pem.crt",
		},
		setup: func(e *env, fs *flag.FlagSet) action {
			to := fs.String("to", "", "output `FORM`: der or pem (default: the other form than the input's)")
			out := fs.String("out", "", "output `FILE` (default: derived from the input name)")
			force := fs.Bool("force", false, "replace the output file if it exists")
			output := outputTable
			fs.Var(&output, "output", "report `FORMAT`: table or json")
			return func(_ context.Context, args []string) error {
				r, err := convertFile(args[0], *to, *out, *force)
				if err != nil {
					return err
				}
				if output == outputJSON {
					return writeJSON(e.stdout, r)
				}
				fmt.Fprintf(e.stdout, "Converted %s (%s, %s) to %s (%s, %s, %d bytes%s).\n",
					r.Input, strings.ToUpper(r.InputForm), r.InputKind, r.Output, strings.ToUpper(r.OutputForm), r.OutputKind, r.Bytes, modeNote(r.Secret))
				fmt.Fprintf(e.stdout, "Same as: %s\n", r.OpenSSL)
				return nil
			}
		},
	}
}

func modeNote(secret bool) string {
	if secret {
		return ", mode 0600"
	}
	return ""
}

// convertResult is what `cert convert` did.
type convertResult struct {
	Input      string `json:"input"`
	InputForm  string `json:"input_form"`
	InputKind  string `json:"input_kind"`
	Output     string `json:"output"`
	OutputForm string `json:"output_form"`
	OutputKind string `json:"output_kind"`
	Bytes      int    `json:"bytes"`
	Secret     bool   `json:"secret"`
	OpenSSL    string `json:"openssl_equivalent"`
}

// convertFile converts in to the form to ("der", "pem" or "" for the
// other one) and writes out (or a name derived from in).
func convertFile(in, to, out string, force bool) (convertResult, error) {
	r := convertResult{Input: in}
	data, err := os.ReadFile(in)
	if err != nil {
		return r, fmt.Errorf("read: %w", err)
	}
	kind, isPEM, err := pki.Detect(data)
	if err != nil {
		return r, fmt.Errorf("%s: %w", in, err)
	}
	r.InputForm, r.InputKind = "der", kindName(kind)
	if isPEM {
		r.InputForm = "pem"
	}
	switch to {
	case "":
		to = "der"
		if !isPEM {
			to = "pem"
		}
	case "der", "pem":
	default:
		return r, usagef("--to %q: want der or pem", to)
	}
	if out == "" {
		out = defaultConvertName(in, to)
	}
	r.Output, r.OutputForm = out, to
	isKey := kind == pki.KindRSAPrivateKey || kind == pki.KindECPrivateKey || kind == pki.KindPKCS8PrivateKey

	var result []byte
	switch {
	case to == "pem" && isPEM:
		return r, fmt.Errorf("%s is PEM already; --to der converts it to DER", in)
	case to == "pem":
		var outKind pki.Kind
		if result, outKind, err = pki.ToPEM(data); err != nil {
			return r, fmt.Errorf("%s: %w", in, err)
		}
		r.OutputKind = kindName(outKind)
	case kind == pki.KindCertificate:
		if !isPEM {
			return r, fmt.Errorf("%s is a DER certificate already; --to pem converts it to PEM", in)
		}
		if result, err = pki.CertToDER(data); err != nil {
			return r, fmt.Errorf("%s: %w", in, err)
		}
		r.OutputKind = kindName(kind)
	case isKey:
		if result, err = pki.KeyToDER(data); err != nil {
			return r, fmt.Errorf("%s: %w", in, err)
		}
		if !isPEM && kind != pki.KindPKCS8PrivateKey {
			return r, fmt.Errorf("%s is a DER private key already; --to pem converts it to PEM", in)
		}
		r.OutputKind = keyDERName(result)
	default:
		return r, fmt.Errorf("%s holds a %s: convert to DER handles certificates and private keys", in, kindName(kind))
	}
	r.Bytes, r.Secret = len(result), isKey
	r.OpenSSL = opensslEquivalent(kind, isPEM, result, to, in, out)
	if err := writeConverted(out, result, isKey, force); err != nil {
		return r, err
	}
	return r, nil
}

// writeConverted writes a conversion's output: a key 0600, never over an
// existing file unless force.
func writeConverted(path string, data []byte, secret, force bool) error {
	if _, err := os.Lstat(path); err == nil {
		if !force {
			return fmt.Errorf("%s exists; --force replaces it, --out writes elsewhere", path)
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("replace %s: %w", path, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("check %s: %w", path, err)
	}
	if secret {
		return writeSecretFile(path, data)
	}
	return writePublicFile(path, data)
}

// defaultConvertName derives the output name from the input's, as the
// recipe names the files: certificate.pem.crt <-> certificate.crt.der,
// private.pem.key <-> private.key.der, x.pem <-> x.der.
func defaultConvertName(in, to string) string {
	dir, base := filepath.Split(in)
	if to == "der" {
		switch {
		case strings.Contains(base, ".pem."):
			i := strings.LastIndex(base, ".pem.")
			base = base[:i] + base[i+len(".pem"):] + ".der"
		case strings.HasSuffix(base, ".pem"):
			base = strings.TrimSuffix(base, ".pem") + ".der"
		default:
			base += ".der"
		}
	} else {
		stem, ok := strings.CutSuffix(base, ".der")
		switch ext := filepath.Ext(stem); {
		case !ok:
			base += ".pem"
		case ext != "" && ext != stem:
			base = strings.TrimSuffix(stem, ext) + ".pem" + ext
		default:
			base = stem + ".pem"
		}
	}
	return filepath.Join(dir, base)
}

// kindName describes a kind for people.
func kindName(k pki.Kind) string {
	switch k {
	case pki.KindCertificate:
		return "certificate"
	case pki.KindRSAPrivateKey:
		return "RSA private key, PKCS#1"
	case pki.KindECPrivateKey:
		return "EC private key, SEC1"
	case pki.KindPKCS8PrivateKey:
		return "private key, PKCS#8"
	case pki.KindPublicKey:
		return "public key"
	case pki.KindRSAPublicKey:
		return "RSA public key, PKCS#1"
	case pki.KindCSR:
		return "certificate signing request"
	}
	return string(k)
}

// keyDERName describes a traditional DER private key: "RSA private key,
// PKCS#1, 2048 bits" or "EC private key, SEC1, P-256".
func keyDERName(der []byte) string {
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return fmt.Sprintf("RSA private key, PKCS#1, %d bits", k.N.BitLen())
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return "EC private key, SEC1, " + k.Curve.Params().Name
	}
	return "private key"
}

// opensslEquivalent is the openssl command that writes the same bytes.
func opensslEquivalent(kind pki.Kind, isPEM bool, result []byte, to, in, out string) string {
	io := " -in " + shellQuote(in) + " -out " + shellQuote(out)
	if to == "pem" {
		switch kind {
		case pki.KindCertificate:
			return "openssl x509 -inform der" + io
		case pki.KindRSAPrivateKey:
			return "openssl rsa -inform der" + io + "   # OpenSSL 3: add -traditional"
		case pki.KindECPrivateKey:
			return "openssl ec -inform der" + io
		case pki.KindPKCS8PrivateKey:
			return "openssl pkey -inform der" + io
		case pki.KindPublicKey:
			return "openssl pkey -pubin -inform der" + io
		case pki.KindRSAPublicKey:
			return "openssl rsa -RSAPublicKey_in -RSAPublicKey_out -inform der" + io
		case pki.KindCSR:
			return "openssl req -inform der" + io
		}
		return ""
	}
	if kind == pki.KindCertificate {
		return "openssl x509 -outform der" + io
	}
	inform := ""
	if !isPEM {
		inform = " -inform der"
	}
	if _, err := x509.ParsePKCS1PrivateKey(result); err == nil {
		return "openssl rsa" + inform + " -outform DER" + io + "   # OpenSSL 3: add -traditional"
	}
	return "openssl ec" + inform + " -outform DER" + io
}
