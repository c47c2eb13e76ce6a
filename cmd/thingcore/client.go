package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/smithy-go"

	"github.com/thingcore/thingcore/internal/hub"
)

// Defaults of the admin client. The region only scopes the SigV4 signature;
// the hub accepts any.
const (
	defaultEndpoint = "https://localhost:8443"
	clientRegion    = "us-east-1"
	requestTimeout  = 30 * time.Second
)

// adminFlags are the flags every API command takes.
type adminFlags struct {
	dataDir  string
	endpoint string
	output   outputFormat
}

// addAdminFlags registers --data-dir, --endpoint and --output on fs.
func (e *env) addAdminFlags(fs *flag.FlagSet) *adminFlags {
	a := &adminFlags{output: outputTable}
	fs.StringVar(&a.dataDir, "data-dir", e.envOr("THINGCORE_DATA_DIR", hub.DefaultConfig().DataDir),
		"the hub's data `DIR`, for its admin credentials and root CA (env THINGCORE_DATA_DIR)")
	fs.StringVar(&a.endpoint, "endpoint", e.envOr("THINGCORE_ENDPOINT", defaultEndpoint),
		"the hub's HTTPS API `URL` (env THINGCORE_ENDPOINT)")
	fs.Var(&a.output, "output", "output `FORMAT`: table or json")
	return a
}

// adminAction adds the admin flags to fs and returns the action that
// connects to the hub's API (making no request yet), runs fn and closes the
// connection.
func (e *env) adminAction(fs *flag.FlagSet, fn func(ctx context.Context, ad *admin, args []string) error) action {
	af := e.addAdminFlags(fs)
	return func(ctx context.Context, args []string) error {
		ad, err := af.connect()
		if err != nil {
			return err
		}
		defer ad.close()
		ad.output = af.output
		return fn(ctx, ad, args)
	}
}

// admin is a client of the hub's control-plane API.
type admin struct {
	output    outputFormat
	iot       *iot.Client
	endpoint  *url.URL
	dataDir   string
	rootCAPEM []byte
	transport *http.Transport
}

// connect builds an API client from the admin credentials and root CA in
// the data directory. It makes no request.
func (a *adminFlags) connect() (*admin, error) {
	u, err := url.Parse(a.endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, usagef("--endpoint %q: want an https:// URL such as %s", a.endpoint, defaultEndpoint)
	}
	creds, err := readAdminCredentials(a.dataDir)
	if err != nil {
		return nil, err
	}
	caPath := hub.RootCAPath(a.dataDir)
	caPEM, err := os.ReadFile(caPath)
	if err != nil {
		return nil, fmt.Errorf("read the hub's root CA: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("root CA %s holds no PEM certificate", caPath)
	}
	// No proxy: the hub is on this machine or the LAN.
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	client := iot.New(iot.Options{
		Region:       clientRegion,
		BaseEndpoint: aws.String(strings.TrimSuffix(u.String(), "/")),
		Credentials:  credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, ""),
		HTTPClient:   &http.Client{Transport: tr, Timeout: requestTimeout},
		Retryer:      aws.NopRetryer{}, // a local hub: report a failure at once
	})
	return &admin{iot: client, endpoint: u, dataDir: a.dataDir, rootCAPEM: caPEM, transport: tr}, nil
}

// close releases the client's idle connections.
func (ad *admin) close() { ad.transport.CloseIdleConnections() }

// readAdminCredentials reads the admin key pair the hub created in dataDir.
// Unlike hub.LoadOrCreateAdminCredentials it never creates one: a client
// pointed at the wrong directory must say so, not mint keys the hub does not
// know.
func readAdminCredentials(dataDir string) (hub.AdminCredentials, error) {
	var creds hub.AdminCredentials
	path := filepath.Join(dataDir, hub.AdminCredentialsFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return creds, fmt.Errorf("no admin credentials at %s: start the hub once with `thingcore serve --data-dir %s`, "+
			"or point --data-dir (THINGCORE_DATA_DIR) at the hub's data directory", path, dataDir)
	}
	if err != nil {
		return creds, fmt.Errorf("read admin credentials: %w", err)
	}
	if err := json.Unmarshal(data, &creds); err != nil {
		return creds, fmt.Errorf("admin credentials %s: %w", path, err)
	}
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		return creds, fmt.Errorf("admin credentials %s: empty key", path)
	}
	return creds, nil
}

// apiError is a failed API call, reduced to what a user needs: the
// operation, AWS's error code and message, and a hint when there is one.
type apiError struct {
	op   string
	err  error
	hint string
}

func (e *apiError) Error() string {
	msg := e.op + ": "
	var ae smithy.APIError
	if errors.As(e.err, &ae) {
		msg += ae.ErrorCode()
		if m := ae.ErrorMessage(); m != "" {
			msg += ": " + m
		}
	} else if ue := (*url.Error)(nil); errors.As(e.err, &ue) {
		msg += ue.Err.Error() // without the SDK's layers of context
	} else {
		msg += e.err.Error()
	}
	if e.hint != "" {
		msg += "\n  hint: " + e.hint
	}
	return msg
}

func (e *apiError) Unwrap() error { return e.err }

// fail wraps an error of the API operation op with a hint for the common
// causes: the hub not running, a data directory that is not the hub's, a
// host name missing from the server certificate.
func (ad *admin) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	e := &apiError{op: op, err: err}
	var (
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		opErr     *net.OpError
	)
	switch {
	case errors.As(err, &unknownCA):
		e.hint = fmt.Sprintf("the server at %s is not signed by the root CA in %s; is --data-dir the hub's?", ad.endpoint.Host, ad.dataDir)
	case errors.As(err, &hostErr):
		e.hint = fmt.Sprintf("the hub's certificate is not valid for %q; use a name it was started with (serve --server-name)", ad.endpoint.Hostname())
	case errors.As(err, &opErr) && opErr.Op == "dial":
		e.hint = fmt.Sprintf("is the hub running (`thingcore serve`)? --endpoint is %s (env THINGCORE_ENDPOINT)", ad.endpoint)
	case errors.Is(err, context.DeadlineExceeded):
		e.hint = fmt.Sprintf("the hub at %s did not answer within %s", ad.endpoint, requestTimeout)
	case apiCode(err) == "InvalidSignatureException" || apiCode(err) == "UnrecognizedClientException":
		e.hint = fmt.Sprintf("the admin credentials in %s are not the hub's; is --data-dir the directory the hub serves?", ad.dataDir)
	}
	return e
}

// apiCode returns the AWS error code of err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// writeJSON writes v as indented JSON, the shape `aws iot` prints.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table writes aligned columns; rows are tab-separated.
func table(w io.Writer, header string, rows []string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, r)
	}
	return tw.Flush()
}

// fields writes "Key: value" lines aligned, skipping empty values.
func fields(w io.Writer, kv [][2]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range kv {
		if f[1] != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", f[0], f[1])
		}
	}
	return tw.Flush()
}

// timeString formats an API time for tables and JSON.
func timeString(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
