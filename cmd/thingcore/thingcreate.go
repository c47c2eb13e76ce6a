package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/thingcore/thingcore/internal/devicebundle"
	"github.com/thingcore/thingcore/internal/pki"
	"github.com/thingcore/thingcore/internal/policy"
)

// Files of a device folder, as internal/devicebundle lays them out (the
// console's create wizard offers the same files as a ZIP).
const (
	fileCertPEM     = devicebundle.CertPEM
	fileKeyPEM      = devicebundle.KeyPEM
	filePublicPEM   = devicebundle.PublicPEM
	fileRootCA      = devicebundle.RootCA
	fileCertDER     = devicebundle.CertDER
	fileKeyDER      = devicebundle.KeyDER
	fileBoardCert   = devicebundle.BoardCert
	fileBoardKey    = devicebundle.BoardKey
	fileDeviceJSON  = devicebundle.DeviceJSON
	defaultMQTTPort = 8883
)

// secretFiles are the files of a device folder that hold the private key;
// thing create never replaces one.
var secretFiles = devicebundle.SecretFiles

// thingNameRE is AWS's constraint on thing names.
var thingNameRE = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)

// deviceJSON is the device.json of a device folder: what a device program
// needs besides the key and certificate.
type deviceJSON = devicebundle.Device

func thingCreateCommand() *command {
	return &command{
		name: "create", args: "NAME", minArgs: 1, maxArgs: 1,
		summary: "create a thing, its certificate and a device folder",
		long: "Creates a thing, a certificate with a new key pair (ACTIVE), attaches the certificate to the\n" +
			"thing, and writes the device folder (default ./NAME):\n\n" +
			"  " + fileCertPEM + ", " + fileKeyPEM + " (0600), " + filePublicPEM + "   as AWS's console offers them\n" +
			"  " + fileRootCA + "                     the hub's root CA, to verify the server\n" +
			"  " + fileCertDER + ", " + fileKeyDER + " (0600)     the DER pair MicroPython's ssl loads\n" +
			"  " + fileBoardCert + ", " + fileBoardKey + " (0600)\n" +
			"                                  the same pair under the paths the MicroPython recipe's main.py\n" +
			"                                  reads: copy cert/ to the board as is\n" +
			"  " + fileDeviceJSON + "                     endpoint, port, client id, certificate id, shadow topics\n\n" +
			"The private key is returned once and stored nowhere else. With --key-type rsa (the default, as\n" +
			"AWS) the hub generates the key pair (CreateKeysAndCertificate); with --key-type ec the key is\n" +
			"generated here and only a CSR is sent (CreateCertificateFromCsr). An existing folder's key is\n" +
			"never overwritten. If NAME exists already, it gets a new certificate.\n\n" +
			boardHelp(),
		examples: []string{
			"thingcore thing create my-device",
			"thingcore thing create kitchen-sensor --attr room=kitchen --attr floor=1",
			"thingcore thing create pico-1 --key-type ec --out ./boards/pico-1",
			"thingcore thing create pico-1 --mqtt-host 192.168.1.10   # the address the board reaches the hub at",
			"thingcore thing create pico-1 --board w5100s-evb-pico --mqtt-host 192.168.1.10",
		},
		setup: func(e *env, fs *flag.FlagSet) action {
			af := e.addAdminFlags(fs)
			var attrs stringList
			fs.Var(&attrs, "attr", "thing attribute `KEY=VALUE`; repeatable")
			keyType := fs.String("key-type", string(pki.KeyRSA), "`TYPE` of the device key: rsa (2048 bits) or ec (P-256)")
			out := fs.String("out", "", "device folder `DIR` (default ./NAME)")
			host := fs.String("mqtt-host", "", "`HOST` devices connect to (default: the hub's DescribeEndpoint address)")
			port := fs.Int("mqtt-port", defaultMQTTPort, "MQTT over TLS `PORT` devices connect to")
			board := fs.String("board", "", "also write a MicroPython project for `BOARD`: "+boardNames())
			return func(ctx context.Context, args []string) error {
				o := createOptions{name: args[0], keyType: pki.KeyType(*keyType), dir: *out, host: *host, port: *port, board: *board}
				if o.dir == "" {
					o.dir = "." + string(filepath.Separator) + o.name
				}
				var err error
				if o.attrs, err = parseAttributes(attrs); err != nil {
					return err
				}
				if err := o.validate(); err != nil {
					return err
				}
				ad, err := af.connect()
				if err != nil {
					return err
				}
				defer ad.close()
				return e.createThing(ctx, ad, o, af.output)
			}
		},
	}
}

type createOptions struct {
	name    string
	attrs   map[string]string
	keyType pki.KeyType
	dir     string
	host    string
	port    int
	board   string // --board, "" for none
}

// validate checks the options and that the folder holds no key, before any
// API call.
func (o createOptions) validate() error {
	if !thingNameRE.MatchString(o.name) {
		return usagef("thing name %q: use 1 to 128 letters, digits, '_', '-' or ':'", o.name)
	}
	if o.keyType != pki.KeyRSA && o.keyType != pki.KeyEC {
		return usagef("--key-type %q: want rsa or ec", string(o.keyType))
	}
	if err := validateBoard(o.board); err != nil {
		return err
	}
	if o.port < 1 || o.port > 65535 {
		return usagef("--mqtt-port %d: want 1 to 65535", o.port)
	}
	for _, f := range secretFiles {
		p := filepath.Join(o.dir, f)
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s exists: refusing to overwrite a device's private key; choose another --out, or move the folder away", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("check %s: %w", p, err)
		}
	}
	return nil
}

func parseAttributes(list []string) (map[string]string, error) {
	attrs := map[string]string{}
	for _, a := range list {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, usagef("--attr %q: want KEY=VALUE", a)
		}
		attrs[k] = v
	}
	return attrs, nil
}

// issued is a certificate and key pair created for a device.
type issued struct {
	certID, certARN string
	certPEM         []byte
	keyPEM          []byte
	publicPEM       []byte
}

// createThing runs the API calls and writes the folder. When it fails after
// creating something, the error says what, and how to remove it.
func (e *env) createThing(ctx context.Context, ad *admin, o createOptions, output outputFormat) (err error) {
	var created []string // what exists now because of this command, for the error message
	var cleanup []string
	defer func() {
		if err != nil && len(created) > 0 {
			err = fmt.Errorf("%w\n  created before the failure: %s\n  to remove them: %s",
				err, strings.Join(created, "; "), strings.Join(cleanup, " && "))
		}
	}()

	// An existing thing gets a new certificate; only a new one is reported
	// as created.
	_, err = ad.iot.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String(o.name)})
	thingExisted := err == nil
	if err != nil && apiCode(err) != "ResourceNotFoundException" {
		return ad.fail("DescribeThing", err)
	}
	if !thingExisted {
		in := &iot.CreateThingInput{ThingName: aws.String(o.name)}
		if len(o.attrs) > 0 {
			in.AttributePayload = &types.AttributePayload{Attributes: o.attrs}
		}
		if _, err := ad.iot.CreateThing(ctx, in); err != nil {
			return ad.fail("CreateThing", err)
		}
		created = append(created, "thing "+o.name)
		cleanup = append(cleanup, "thingcore thing delete "+o.name+" --force")
	} else if len(o.attrs) > 0 {
		return fmt.Errorf("thing %s exists already; --attr applies to a new thing only", o.name)
	}

	host := o.host
	if host == "" {
		host, err = ad.dataEndpoint(ctx)
		if err != nil {
			return err
		}
	}

	cred, dev, err := ad.equipThing(ctx, o.name, o.keyType, host, o.port, o.dir, o.board, func(what, undo string) {
		created = append(created, what)
		if undo != "" {
			cleanup = append([]string{undo}, cleanup...)
		}
	})
	if err != nil {
		return err
	}

	pub := mosquittoPubCommand(host, o.port, o.name)
	if output == outputJSON {
		return writeJSON(e.stdout, struct {
			Folder        string `json:"folder"`
			ThingCreated  bool   `json:"thing_created"`
			MosquittoPub  string `json:"mosquitto_pub"`
			PrivateKeyPEM string `json:"private_key_pem_file"`
			Board         string `json:"board,omitempty"`
			deviceJSON
		}{Folder: o.dir, ThingCreated: !thingExisted, MosquittoPub: pub, PrivateKeyPEM: filepath.Join(o.dir, fileKeyPEM), Board: o.board, deviceJSON: dev})
	}
	w := e.stdout
	if thingExisted {
		fmt.Fprintf(w, "Thing %s existed; created a new certificate for it.\n", o.name)
	} else {
		fmt.Fprintf(w, "Created thing %s.\n", o.name)
	}
	fmt.Fprintf(w, "Certificate %s is ACTIVE, attached to %s, with policy %s\n(it may connect as %s and use its own $aws/things/%s/... and things/%s/... topics).\n\n",
		cred.certID, o.name, defaultPolicyName, o.name, o.name, o.name)
	fmt.Fprintf(w, "Device folder %s:\n", o.dir)
	keyForm := "PKCS#1"
	if o.keyType == pki.KeyEC {
		keyForm = "SEC1"
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range [][2]string{
		{fileCertPEM, "device certificate (PEM)"},
		{fileKeyPEM, "private key (PEM, mode 0600)"},
		{filePublicPEM, "public key (PEM)"},
		{fileRootCA, "the hub's root CA, to verify the server (AWS's AmazonRootCA1.pem)"},
		{fileCertDER, "certificate as DER, for MicroPython's ssl"},
		{fileKeyDER, "private key as DER " + keyForm + " (mode 0600)"},
		{"cert/", "the DER pair as the MicroPython recipe's main.py reads it: copy this folder to the board"},
		{fileDeviceJSON, "endpoint " + net.JoinHostPort(host, strconv.Itoa(o.port)) + ", client id " + o.name + ", shadow topics"},
	} {
		fmt.Fprintf(tw, "  %s\t%s\n", f[0], f[1])
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "The private key is stored nowhere else: the hub does not keep it. Keep this folder safe.")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Publish a reported temperature to the device's shadow:\n  cd %s && %s\n", shellQuote(o.dir), pub)
	printBoardNextSteps(w, o.board, o.dir, host, o.name)
	return nil
}

// dataEndpoint returns the host devices connect to: DescribeEndpoint's
// answer, or the API endpoint's host when the hub does not give one.
func (ad *admin) dataEndpoint(ctx context.Context) (string, error) {
	out, err := ad.iot.DescribeEndpoint(ctx, &iot.DescribeEndpointInput{EndpointType: aws.String("iot:Data-ATS")})
	if err != nil {
		return "", ad.fail("DescribeEndpoint", err)
	}
	if h := aws.ToString(out.EndpointAddress); h != "" {
		return h, nil
	}
	return ad.endpoint.Hostname(), nil
}

// issue creates an ACTIVE certificate and its key pair: by the hub for RSA
// (CreateKeysAndCertificate, as AWS), or from a CSR of a key generated here
// for EC (CreateCertificateFromCsr). It checks that the certificate and key
// belong together before anything is written.
func (ad *admin) issue(ctx context.Context, kt pki.KeyType, name string) (issued, error) {
	var c issued
	switch kt {
	case pki.KeyEC:
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return c, fmt.Errorf("generate EC key: %w", err)
		}
		csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, key)
		if err != nil {
			return c, fmt.Errorf("create CSR: %w", err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return c, fmt.Errorf("marshal EC key: %w", err)
		}
		pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
		if err != nil {
			return c, fmt.Errorf("marshal EC public key: %w", err)
		}
		out, err := ad.iot.CreateCertificateFromCsr(ctx, &iot.CreateCertificateFromCsrInput{
			CertificateSigningRequest: aws.String(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))),
			SetAsActive:               true,
		})
		if err != nil {
			return c, ad.fail("CreateCertificateFromCsr", err)
		}
		c = issued{
			certID: aws.ToString(out.CertificateId), certARN: aws.ToString(out.CertificateArn),
			certPEM:   []byte(aws.ToString(out.CertificatePem)),
			keyPEM:    pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
			publicPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}),
		}
	default:
		out, err := ad.iot.CreateKeysAndCertificate(ctx, &iot.CreateKeysAndCertificateInput{SetAsActive: true})
		if err != nil {
			return c, ad.fail("CreateKeysAndCertificate", err)
		}
		if out.KeyPair == nil {
			return c, errors.New("CreateKeysAndCertificate: the hub returned no key pair")
		}
		c = issued{
			certID: aws.ToString(out.CertificateId), certARN: aws.ToString(out.CertificateArn),
			certPEM:   []byte(aws.ToString(out.CertificatePem)),
			keyPEM:    []byte(aws.ToString(out.KeyPair.PrivateKey)),
			publicPEM: []byte(aws.ToString(out.KeyPair.PublicKey)),
		}
	}
	if _, err := tls.X509KeyPair(c.certPEM, c.keyPEM); err != nil {
		return c, fmt.Errorf("certificate %s does not match its private key: %w", c.certID, err)
	}
	return c, nil
}

// equipThing gives the existing thing name what a device needs: an ACTIVE
// certificate (ad.issue), the device folder dir (with board's MicroPython
// project when board is set), the certificate attached to the thing, and
// the default thing policy attached to the certificate. note, when not nil,
// hears of each thing created and the command that undoes it, so that a
// failure can say what is left. On an error the certificate is returned
// when it was issued.
func (ad *admin) equipThing(ctx context.Context, name string, kt pki.KeyType, host string, port int, dir, board string,
	note func(what, undo string)) (issued, deviceJSON, error) {
	if note == nil {
		note = func(string, string) {}
	}
	cred, err := ad.issue(ctx, kt, name)
	if err != nil {
		return cred, deviceJSON{}, err
	}
	note("certificate "+cred.certID+" (ACTIVE)", "thingcore cert delete "+cred.certID+" --force")
	dev := devicebundle.NewDevice(name, host, port, cred.certID, cred.certARN, kt)
	if err := writeDeviceFolder(dir, cred, ad.rootCAPEM, dev); err != nil {
		return cred, dev, err
	}
	note("folder "+dir, "")
	if err := writeBoardProject(dir, board, host, port, name, ad.rootCAPEM); err != nil {
		return cred, dev, err
	}
	if _, err := ad.iot.AttachThingPrincipal(ctx, &iot.AttachThingPrincipalInput{
		ThingName: aws.String(name), Principal: aws.String(cred.certARN)}); err != nil {
		return cred, dev, ad.fail("AttachThingPrincipal", err)
	}
	if err := ad.attachDefaultPolicy(ctx, cred.certARN); err != nil {
		return cred, dev, err
	}
	return cred, dev, nil
}

// writeDeviceFolder writes the device folder: secrets first (0600, never
// replacing a file), so that a later failure cannot lose the key.
func writeDeviceFolder(dir string, c issued, rootCAPEM []byte, dev deviceJSON) error {
	files, err := devicebundle.Files(devicebundle.Credentials{
		CertificatePEM: c.certPEM, PrivateKeyPEM: c.keyPEM, PublicKeyPEM: c.publicPEM,
	}, rootCAPEM, dev)
	if err != nil {
		return err
	}
	return devicebundle.WriteDir(dir, files)
}

// writeSecretFile writes a file only its owner can read, refusing to
// replace an existing one.
func writeSecretFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writePublicFile writes a non-secret file (certificates, public keys),
// replacing it.
func writePublicFile(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// mosquittoPubCommand is the mosquitto_pub command line that publishes a
// shadow update from inside the device folder.
func mosquittoPubCommand(host string, port int, thing string) string {
	return fmt.Sprintf("mosquitto_pub -h %s -p %d --cafile %s --cert %s --key %s -i %s -t %s -m %s",
		shellQuote(host), port, fileRootCA, fileCertPEM, fileKeyPEM, shellQuote(thing),
		"'"+shadowTopic(thing, "update")+"'", `'{"state":{"reported":{"temperature":22}}}'`)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-./:=@,+", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// defaultPolicyName is the policy `thing create` attaches to new
// certificates, created on first use: a device may connect with its thing
// name as client id and use its own shadow, jobs and things/<name> topics.
const defaultPolicyName = "thingcore-default-thing-policy"

// attachDefaultPolicy creates the default thing policy if it does not exist
// and attaches it to the certificate, as an AWS user attaches a policy to a
// new certificate.
func (ad *admin) attachDefaultPolicy(ctx context.Context, certARN string) error {
	_, err := ad.iot.GetPolicy(ctx, &iot.GetPolicyInput{PolicyName: aws.String(defaultPolicyName)})
	if apiCode(err) == "ResourceNotFoundException" {
		region, account := arnRegionAccount(certARN)
		_, err = ad.iot.CreatePolicy(ctx, &iot.CreatePolicyInput{
			PolicyName:     aws.String(defaultPolicyName),
			PolicyDocument: aws.String(string(policy.ThingPolicy(region, account))),
		})
		if apiCode(err) == "ResourceAlreadyExistsException" {
			err = nil // created meanwhile by another command
		}
		if err != nil {
			return ad.fail("CreatePolicy", err)
		}
	} else if err != nil {
		return ad.fail("GetPolicy", err)
	}
	if _, err := ad.iot.AttachPolicy(ctx, &iot.AttachPolicyInput{
		PolicyName: aws.String(defaultPolicyName), Target: aws.String(certARN)}); err != nil {
		return ad.fail("AttachPolicy", err)
	}
	return nil
}

// arnRegionAccount returns the region and account of an ARN
// (arn:aws:iot:REGION:ACCOUNT:...), or "*" for parts it cannot find.
func arnRegionAccount(arn string) (region, account string) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[3] == "" || parts[4] == "" {
		return "*", "*"
	}
	return parts[3], parts[4]
}
