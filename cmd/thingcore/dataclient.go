package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go"
)

// dataSigningName is the SigV4 service the data-plane commands sign for,
// botocore's name for iot-data.
const dataSigningName = "iotdata"

// dataClient calls the hub's data plane (iot-data) with requests signed by
// the admin credentials. AWS's Go SDK client for iot-data is not a
// dependency; the few operations the CLI needs are plain REST calls.
type dataClient struct {
	*admin
	creds  aws.Credentials
	client *http.Client // no overall timeout: watch streams last
	signer *v4.Signer
}

// dataAction is adminAction for data-plane commands.
func (e *env) dataAction(fs *flag.FlagSet, fn func(ctx context.Context, dc *dataClient, args []string) error) action {
	return e.adminAction(fs, func(ctx context.Context, ad *admin, args []string) error {
		creds, err := readAdminCredentials(ad.dataDir)
		if err != nil {
			return err
		}
		dc := &dataClient{
			admin:  ad,
			creds:  aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey},
			client: &http.Client{Transport: ad.transport},
			signer: v4.NewSigner(),
		}
		return fn(ctx, dc, args)
	})
}

// dataReq is one data-plane request. path is already escaped.
type dataReq struct {
	op     string // the AWS operation, for errors
	method string
	path   string
	query  url.Values
	header http.Header
	body   []byte
}

// send signs and sends r and returns the response, whose status is 200;
// any other status is read as AWS's error and returned through ad.fail.
// The caller closes the body.
func (dc *dataClient) send(ctx context.Context, r dataReq) (*http.Response, error) {
	u := *dc.endpoint
	u.Path, u.RawPath = "", ""
	base := strings.TrimSuffix(u.String(), "/")
	target := base + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, target, bytes.NewReader(r.body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.op, err)
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	sum := sha256.Sum256(r.body)
	if err := dc.signer.SignHTTP(ctx, dc.creds, req, hex.EncodeToString(sum[:]), dataSigningName, clientRegion, time.Now()); err != nil {
		return nil, fmt.Errorf("%s: sign: %w", r.op, err)
	}
	resp, err := dc.client.Do(req)
	if err != nil {
		return nil, dc.fail(r.op, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(b, &body)
	code, _, _ := strings.Cut(resp.Header.Get("X-Amzn-ErrorType"), ":")
	if code == "" {
		code = resp.Status
	}
	return nil, dc.fail(r.op, &smithy.GenericAPIError{Code: code, Message: body.Message})
}

// call is send for operations with a JSON response of at most 1 MiB, within
// the request timeout.
func (dc *dataClient) call(ctx context.Context, r dataReq) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	resp, err := dc.send(ctx, r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, dc.fail(r.op, err)
	}
	return b, nil
}

// shadowQuery is ?name=S for a named shadow, nothing for the classic one.
func shadowQuery(name string) url.Values {
	if name == "" {
		return nil
	}
	return url.Values{"name": {name}}
}

// writeIndented writes a JSON document indented, as `aws iot-data` users
// would pipe it through jq.
func writeIndented(w io.Writer, doc []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(doc), "", "  "); err != nil {
		_, err = w.Write(doc)
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}
