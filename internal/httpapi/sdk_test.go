package httpapi

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/smithy-go"
)

// iotClient returns AWS's own iot client pointed at the harness.
func (h *harness) iotClient(creds aws.CredentialsProvider) *iot.Client {
	cfg := aws.Config{
		Region:      testRegion,
		Credentials: creds,
		HTTPClient:  h.srv.Client(),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}
	return iot.NewFromConfig(cfg, func(o *iot.Options) { o.BaseEndpoint = aws.String(h.srv.URL) })
}

func static(akid, secret string) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(akid, secret, "")
}

// apiError returns the AWS error code, message and HTTP status the SDK
// surfaced for err.
func apiError(t *testing.T, err error) (code, msg string, status int) {
	t.Helper()
	if err == nil {
		t.Fatal("call succeeded, want an error")
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not a smithy.APIError", err)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %v is not an awshttp.ResponseError", err)
	}
	if !uuidRE.MatchString(re.ServiceRequestID()) {
		t.Errorf("request id = %q, want a UUID", re.ServiceRequestID())
	}
	return ae.ErrorCode(), ae.ErrorMessage(), re.HTTPStatusCode()
}

func TestSDKDescribeThingRoundTripsNames(t *testing.T) {
	h := startAPI(t, harnessOpts{})
	c := h.iotClient(static(testAKID, testSecret))
	for _, tc := range []struct {
		name, thing string
	}{
		{"plain", "MyLightBulb"},
		{"colon", "arn:like:thing"},
		{"percent", "100%sure"},
		{"escaped-looking", "a%3Ab%2Fc"},
		{"slash", "a/b"},
		{"space and unicode", "salle de bain é"},
		{"reserved chars", "x+y=z&q?#"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.DescribeThing(context.Background(), &iot.DescribeThingInput{ThingName: aws.String(tc.thing)})
			if err != nil {
				t.Fatalf("DescribeThing(%q): %v", tc.thing, err)
			}
			if got := aws.ToString(out.ThingName); got != tc.thing {
				t.Errorf("DescribeThing(%q).ThingName = %q, want %q", tc.thing, got, tc.thing)
			}
			if got, want := aws.ToString(out.ThingArn), "arn:aws:iot:"+testRegion+":123456789012:thing/"+tc.thing; got != want {
				t.Errorf("ThingArn = %q, want %q", got, want)
			}
			if got := aws.ToString(out.DefaultClientId); got != testAKID {
				t.Errorf("AccessKeyID(ctx) seen by the handler = %q, want %q", got, testAKID)
			}
		})
	}
}

func TestSDKCreateThing(t *testing.T) {
	h := startAPI(t, harnessOpts{})
	c := h.iotClient(static(testAKID, testSecret))
	out, err := c.CreateThing(context.Background(), &iot.CreateThingInput{
		ThingName:        aws.String("lamp:1"),
		AttributePayload: &types.AttributePayload{Attributes: map[string]string{"color": "red"}},
	})
	if err != nil {
		t.Fatalf("CreateThing: %v", err)
	}
	if got := aws.ToString(out.ThingName); got != "lamp:1" {
		t.Errorf("CreateThing.ThingName = %q, want %q", got, "lamp:1")
	}
	if _, err := c.DeleteThing(context.Background(), &iot.DeleteThingInput{ThingName: aws.String("lamp:1")}); err != nil {
		t.Errorf("DeleteThing (empty output): %v", err)
	}
}

func TestSDKModeledErrors(t *testing.T) {
	h := startAPI(t, harnessOpts{})
	c := h.iotClient(static(testAKID, testSecret))
	ctx := context.Background()

	t.Run("not found", func(t *testing.T) {
		_, err := c.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String("missing")})
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) {
			t.Fatalf("DescribeThing(missing) = %v, want *types.ResourceNotFoundException", err)
		}
		if got, want := aws.ToString(nf.Message), "Thing missing cannot be found."; got != want {
			t.Errorf("Message = %q, want %q", got, want)
		}
		if _, _, status := apiError(t, err); status != 404 {
			t.Errorf("status = %d, want 404", status)
		}
	})
	t.Run("already exists with extra members", func(t *testing.T) {
		_, err := c.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String("exists")})
		var ae *types.ResourceAlreadyExistsException
		if !errors.As(err, &ae) {
			t.Fatalf("CreateThing(exists) = %v, want *types.ResourceAlreadyExistsException", err)
		}
		if got, want := aws.ToString(ae.ResourceArn), "arn:aws:iot:"+testRegion+":123456789012:thing/exists"; got != want {
			t.Errorf("ResourceArn = %q, want %q", got, want)
		}
		if aws.ToString(ae.ResourceId) == "" {
			t.Errorf("ResourceId is empty, want the modeled member")
		}
	})
	t.Run("not found from a body member", func(t *testing.T) {
		_, err := c.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String("t"), ThingTypeName: aws.String("unknown-type")})
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) {
			t.Fatalf("CreateThing(unknown type) = %v, want *types.ResourceNotFoundException", err)
		}
	})
	t.Run("plain error is an internal failure", func(t *testing.T) {
		_, err := c.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String("broken")})
		var ie *types.InternalFailureException
		if !errors.As(err, &ie) {
			t.Fatalf("DescribeThing(broken) = %v, want *types.InternalFailureException", err)
		}
		if got := aws.ToString(ie.Message); got != internalMessage {
			t.Errorf("Message = %q, want %q (the cause must not leak)", got, internalMessage)
		}
		if logs := h.logs.String(); !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "disk on fire") {
			t.Errorf("log lacks an Error line with the cause:\n%s", logs)
		}
	})
}

func TestSDKAuthFailures(t *testing.T) {
	for _, tc := range []struct {
		name       string
		creds      aws.CredentialsProvider
		skew       time.Duration // server clock offset
		wantCode   string
		wantMsg    string // prefix
		wantReason string // in the Warn log line
	}{
		{
			name: "wrong secret", creds: static(testAKID, "not-the-secret"),
			wantCode: "InvalidSignatureException", wantMsg: msgSignatureMismatch,
			wantReason: "signature mismatch: wrong secret access key",
		},
		{
			name: "unknown access key", creds: static("AKIDNOBODY", testSecret),
			wantCode: "UnrecognizedClientException", wantMsg: msgUnrecognizedClient,
			wantReason: "unknown access key id AKIDNOBODY",
		},
		{
			name: "no credentials", creds: aws.AnonymousCredentials{},
			wantCode: "MissingAuthenticationTokenException", wantMsg: msgMissingToken,
			wantReason: "no Authorization header",
		},
		{
			name: "client clock 20 minutes slow", creds: static(testAKID, testSecret), skew: 20 * time.Minute,
			wantCode: "InvalidSignatureException", wantMsg: "Signature expired: ",
			wantReason: "has expired",
		},
		{
			name: "client clock 20 minutes fast", creds: static(testAKID, testSecret), skew: -20 * time.Minute,
			wantCode: "InvalidSignatureException", wantMsg: "Signature not yet current: ",
			wantReason: "is in the future",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startAPI(t, harnessOpts{})
			h.clock.set(tc.skew)
			c := h.iotClient(tc.creds)
			_, err := c.DescribeThing(context.Background(), &iot.DescribeThingInput{ThingName: aws.String("lamp")})
			code, msg, status := apiError(t, err)
			if code != tc.wantCode || status != 403 {
				t.Errorf("DescribeThing error = %s (HTTP %d), want %s (HTTP 403)", code, status, tc.wantCode)
			}
			if !strings.HasPrefix(msg, tc.wantMsg) {
				t.Errorf("message = %q, want prefix %q", msg, tc.wantMsg)
			}
			logs := h.logs.String()
			if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, tc.wantReason) {
				t.Errorf("log lacks a Warn line with reason %q:\n%s", tc.wantReason, logs)
			}
		})
	}
}
