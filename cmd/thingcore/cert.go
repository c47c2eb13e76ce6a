package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/thingcore/thingcore/internal/pki"
)

func certCommand() *command {
	return &command{
		name:    "cert",
		summary: "manage device certificates, and convert PEM and DER files",
		long: "Device certificates: the hub's own (from `thingcore thing create`) and ones issued elsewhere\n" +
			"(`thingcore cert register`). A device connects only with an ACTIVE certificate attached to\n" +
			"its thing. `cert convert` works on local files and needs no hub.",
		examples: []string{
			"thingcore cert list",
			"thingcore cert deactivate 6f2c...e1",
			"thingcore cert register device.pem.crt --without-ca --thing my-device",
			"thingcore cert convert certificate.pem.crt   # writes certificate.crt.der",
		},
		subs: []*command{
			certListCommand(), certDescribeCommand(),
			certStatusCommand("activate", types.CertificateStatusActive, "let devices connect with a certificate again"),
			certStatusCommand("deactivate", types.CertificateStatusInactive, "stop devices connecting with a certificate (reversible)"),
			certStatusCommand("revoke", types.CertificateStatusRevoked, "revoke a certificate (meant to be final)"),
			certDeleteCommand(), certRegisterCommand(), certConvertCommand(),
		},
	}
}

// certView is a certificate as `aws iot describe-certificate` and
// `list-certificates` print it.
type certView struct {
	CertificateArn   string        `json:"certificateArn"`
	CertificateID    string        `json:"certificateId"`
	CACertificateID  string        `json:"caCertificateId,omitempty"`
	Status           string        `json:"status"`
	CertificateMode  string        `json:"certificateMode,omitempty"`
	CertificatePem   string        `json:"certificatePem,omitempty"`
	OwnedBy          string        `json:"ownedBy,omitempty"`
	CreationDate     string        `json:"creationDate,omitempty"`
	LastModifiedDate string        `json:"lastModifiedDate,omitempty"`
	CustomerVersion  int32         `json:"customerVersion,omitempty"`
	GenerationID     string        `json:"generationId,omitempty"`
	Validity         *validityView `json:"validity,omitempty"`
}

type validityView struct {
	NotBefore string `json:"notBefore,omitempty"`
	NotAfter  string `json:"notAfter,omitempty"`
}

func certListCommand() *command {
	return &command{
		name: "list", summary: "list certificates", maxArgs: 0,
		examples: []string{"thingcore cert list", "thingcore cert list --output json"},
		setup: func(e *env, fs *flag.FlagSet) action {
			return e.adminAction(fs, func(ctx context.Context, ad *admin, _ []string) error {
				var certs []certView
				p := iot.NewListCertificatesPaginator(ad.iot, &iot.ListCertificatesInput{AscendingOrder: true})
				for p.HasMorePages() {
					out, err := p.NextPage(ctx)
					if err != nil {
						return ad.fail("ListCertificates", err)
					}
					for _, c := range out.Certificates {
						certs = append(certs, certView{
							CertificateArn: aws.ToString(c.CertificateArn), CertificateID: aws.ToString(c.CertificateId),
							Status: string(c.Status), CertificateMode: string(c.CertificateMode), CreationDate: timeString(c.CreationDate),
						})
					}
				}
				if ad.output == outputJSON {
					return writeJSON(e.stdout, struct {
						Certificates []certView `json:"certificates"`
					}{Certificates: nonNilSlice(certs)})
				}
				if len(certs) == 0 {
					fmt.Fprintln(e.stdout, "No certificates yet. `thingcore thing create my-device` creates one with its thing.")
					return nil
				}
				rows := make([]string, 0, len(certs))
				for _, c := range certs {
					rows = append(rows, c.CertificateID+"\t"+c.Status+"\t"+c.CreationDate)
				}
				return table(e.stdout, "CERTIFICATE ID\tSTATUS\tCREATED", rows)
			})
		},
	}
}

func certDescribeCommand() *command {
	return &command{
		name: "describe", args: "ID", summary: "show a certificate", minArgs: 1, maxArgs: 1,
		examples: []string{"thingcore cert describe 6f2c...e1", "thingcore cert describe 6f2c...e1 --output json"},
		setup: func(e *env, fs *flag.FlagSet) action {
			return e.adminAction(fs, func(ctx context.Context, ad *admin, args []string) error {
				out, err := ad.iot.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(args[0])})
				if err != nil {
					return ad.fail("DescribeCertificate", err)
				}
				v := describeView(out.CertificateDescription)
				if ad.output == outputJSON {
					return writeJSON(e.stdout, struct {
						CertificateDescription certView `json:"certificateDescription"`
					}{v})
				}
				kv := [][2]string{
					{"ID", v.CertificateID}, {"ARN", v.CertificateArn}, {"Status", v.Status},
					{"CA certificate ID", v.CACertificateID}, {"Created", v.CreationDate}, {"Modified", v.LastModifiedDate},
				}
				if v.Validity != nil {
					kv = append(kv, [2]string{"Not before", v.Validity.NotBefore}, [2]string{"Not after", v.Validity.NotAfter})
				}
				if c, err := pki.ParseCertificatePEM([]byte(v.CertificatePem)); err == nil {
					kv = append(kv, [2]string{"Subject", c.Subject.String()}, [2]string{"Issuer", c.Issuer.String()},
						[2]string{"Key", publicKeyName(c)})
				}
				return fields(e.stdout, kv)
			})
		},
	}
}

func describeView(d *types.CertificateDescription) certView {
	if d == nil {
		return certView{}
	}
	v := certView{
		CertificateArn: aws.ToString(d.CertificateArn), CertificateID: aws.ToString(d.CertificateId),
		CACertificateID: aws.ToString(d.CaCertificateId), Status: string(d.Status), CertificateMode: string(d.CertificateMode),
		CertificatePem: aws.ToString(d.CertificatePem), OwnedBy: aws.ToString(d.OwnedBy),
		CreationDate: timeString(d.CreationDate), LastModifiedDate: timeString(d.LastModifiedDate),
		CustomerVersion: aws.ToInt32(d.CustomerVersion), GenerationID: aws.ToString(d.GenerationId),
	}
	if d.Validity != nil {
		v.Validity = &validityView{NotBefore: timeString(d.Validity.NotBefore), NotAfter: timeString(d.Validity.NotAfter)}
	}
	return v
}

// publicKeyName names a certificate's key: "RSA 2048", "ECDSA P-256".
func publicKeyName(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	}
	return c.PublicKeyAlgorithm.String()
}

// certStatusCommand is activate, deactivate or revoke.
func certStatusCommand(name string, status types.CertificateStatus, summary string) *command {
	return &command{
		name: name, args: "ID", summary: summary, minArgs: 1, maxArgs: 1,
		long: upperFirst(summary) + ": sets its status to " + string(status) + " (UpdateCertificate).\n" +
			"Devices connected with it are disconnected when it stops being ACTIVE.",
		examples: []string{"thingcore cert " + name + " 6f2c...e1"},
		setup: func(e *env, fs *flag.FlagSet) action {
			return e.adminAction(fs, func(ctx context.Context, ad *admin, args []string) error {
				if _, err := ad.iot.UpdateCertificate(ctx, &iot.UpdateCertificateInput{
					CertificateId: aws.String(args[0]), NewStatus: status}); err != nil {
					return ad.fail("UpdateCertificate", err)
				}
				fmt.Fprintf(e.stdout, "Certificate %s is now %s.\n", args[0], status)
				return nil
			})
		},
	}
}

func certDeleteCommand() *command {
	return &command{
		name: "delete", args: "ID", summary: "delete a certificate (--force deactivates and detaches it first)", minArgs: 1, maxArgs: 1,
		long: "Deletes a certificate. As with AWS IoT, an ACTIVE certificate or one attached to a thing is\n" +
			"not deleted: --force first deactivates it and detaches it from every thing (finding them\n" +
			"takes one request per thing), then deletes it with forceDelete.",
		examples: []string{"thingcore cert delete 6f2c...e1", "thingcore cert delete 6f2c...e1 --force"},
		setup: func(e *env, fs *flag.FlagSet) action {
			force := fs.Bool("force", false, "deactivate the certificate and detach it from its things first")
			return e.adminAction(fs, func(ctx context.Context, ad *admin, args []string) error {
				id := args[0]
				if *force {
					if err := e.prepareCertDelete(ctx, ad, id); err != nil {
						return err
					}
				}
				_, err := ad.iot.DeleteCertificate(ctx, &iot.DeleteCertificateInput{CertificateId: aws.String(id), ForceDelete: *force})
				if err != nil {
					switch apiCode(err) {
					case "CertificateStateException", "DeleteConflictException":
						return &apiError{op: "DeleteCertificate", err: err,
							hint: "`thingcore cert delete " + id + " --force` deactivates and detaches it first"}
					}
					return ad.fail("DeleteCertificate", err)
				}
				fmt.Fprintf(e.stdout, "Deleted certificate %s.\n", id)
				return nil
			})
		},
	}
}

// prepareCertDelete detaches a certificate from every thing and
// deactivates it if ACTIVE.
func (e *env) prepareCertDelete(ctx context.Context, ad *admin, id string) error {
	out, err := ad.iot.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(id)})
	if err != nil {
		return ad.fail("DescribeCertificate", err)
	}
	arn := aws.ToString(out.CertificateDescription.CertificateArn)
	p := iot.NewListThingsPaginator(ad.iot, &iot.ListThingsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return ad.fail("ListThings", err)
		}
		for _, t := range page.Things {
			name := aws.ToString(t.ThingName)
			principals, err := ad.thingPrincipals(ctx, name)
			if err != nil {
				return err
			}
			if !slices.Contains(principals, arn) {
				continue
			}
			if _, err := ad.iot.DetachThingPrincipal(ctx, &iot.DetachThingPrincipalInput{
				ThingName: aws.String(name), Principal: aws.String(arn)}); err != nil {
				return ad.fail("DetachThingPrincipal", err)
			}
			fmt.Fprintf(e.stdout, "Detached certificate %s from %s.\n", id, name)
		}
	}
	if out.CertificateDescription.Status == types.CertificateStatusActive {
		if _, err := ad.iot.UpdateCertificate(ctx, &iot.UpdateCertificateInput{
			CertificateId: aws.String(id), NewStatus: types.CertificateStatusInactive}); err != nil {
			return ad.fail("UpdateCertificate", err)
		}
		fmt.Fprintf(e.stdout, "Deactivated certificate %s.\n", id)
	}
	return nil
}

func certRegisterCommand() *command {
	return &command{
		name: "register", args: "FILE", summary: "register a device certificate issued elsewhere", minArgs: 1, maxArgs: 1,
		long: "Registers a device certificate (PEM or DER) that this hub did not issue, as ACTIVE unless\n" +
			"--inactive. By default it must be signed by a CA registered with the hub (RegisterCertificate;\n" +
			"--ca-file names the CA when several share a subject); --without-ca registers it on its own\n" +
			"(RegisterCertificateWithoutCA), the registration itself being the trust. --thing attaches it.",
		examples: []string{
			"thingcore cert register device.pem.crt --ca-file my-ca.pem --thing my-device",
			"thingcore cert register certificate.crt.der --without-ca --thing my-device",
		},
		setup: func(e *env, fs *flag.FlagSet) action {
			af := e.addAdminFlags(fs)
			caFile := fs.String("ca-file", "", "PEM `FILE` of the registered CA that signed the certificate")
			withoutCA := fs.Bool("without-ca", false, "register without a CA (RegisterCertificateWithoutCA)")
			inactive := fs.Bool("inactive", false, "register as INACTIVE instead of ACTIVE")
			thing := fs.String("thing", "", "attach the certificate to thing `NAME`")
			return func(ctx context.Context, args []string) error {
				if *withoutCA && *caFile != "" {
					return usagef("--ca-file and --without-ca exclude each other")
				}
				certPEM, err := readCertificatePEM(args[0])
				if err != nil {
					return err
				}
				var caPEM string
				if *caFile != "" {
					b, err := readCertificatePEM(*caFile)
					if err != nil {
						return err
					}
					caPEM = string(b)
				}
				ad, err := af.connect()
				if err != nil {
					return err
				}
				defer ad.close()
				status := types.CertificateStatusActive
				if *inactive {
					status = types.CertificateStatusInactive
				}
				var id, arn string
				if *withoutCA {
					out, err := ad.iot.RegisterCertificateWithoutCA(ctx, &iot.RegisterCertificateWithoutCAInput{
						CertificatePem: aws.String(string(certPEM)), Status: status})
					if err != nil {
						return ad.fail("RegisterCertificateWithoutCA", err)
					}
					id, arn = aws.ToString(out.CertificateId), aws.ToString(out.CertificateArn)
				} else {
					in := &iot.RegisterCertificateInput{CertificatePem: aws.String(string(certPEM)), Status: status,
						SetAsActive: aws.Bool(!*inactive)}
					if caPEM != "" {
						in.CaCertificatePem = aws.String(caPEM)
					}
					out, err := ad.iot.RegisterCertificate(ctx, in)
					if err != nil {
						return ad.fail("RegisterCertificate", err)
					}
					id, arn = aws.ToString(out.CertificateId), aws.ToString(out.CertificateArn)
				}
				fmt.Fprintf(e.stdout, "Registered certificate %s (%s).\n", id, status)
				if *thing == "" {
					fmt.Fprintf(e.stdout, "Attach it to a thing so a device can use it: thingcore thing attach NAME %s\n", id)
					return nil
				}
				if _, err := ad.iot.AttachThingPrincipal(ctx, &iot.AttachThingPrincipalInput{
					ThingName: aws.String(*thing), Principal: aws.String(arn)}); err != nil {
					return ad.fail("AttachThingPrincipal", err)
				}
				fmt.Fprintf(e.stdout, "Attached it to %s.\n", *thing)
				return nil
			}
		},
	}
}

// readCertificatePEM reads a certificate file, PEM or DER, and returns it
// as PEM.
func readCertificatePEM(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	der, err := pki.CertToDER(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out, _, err := pki.ToPEM(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return []byte(strings.TrimSpace(string(out)) + "\n"), nil
}
