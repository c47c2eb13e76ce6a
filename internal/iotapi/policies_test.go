package iotapi_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/google/go-cmp/cmp"

	"github.com/thingcore/thingcore/internal/httpapi"
	"github.com/thingcore/thingcore/internal/iotapi"
	"github.com/thingcore/thingcore/internal/pki"
	"github.com/thingcore/thingcore/internal/policystore"
)

const (
	docConnect = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`
	docPublish = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"*"}]}`
)

// policyHarness is the harness with a policy store, recording OnChange.
type policyHarness struct {
	*harness
	mu      sync.Mutex
	changed [][]string
}

func (ph *policyHarness) takeChanges() [][]string {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	out := ph.changed
	ph.changed = nil
	return out
}

// startPolicies starts the iot API like start, with Deps.Policies set.
func startPolicies(t *testing.T) *policyHarness {
	t.Helper()
	base := start(t, harnessOpts{keyType: pki.KeyEC}) // kvstore, registry, CA
	ctx := context.Background()
	ps, err := policystore.Open(ctx, base.kv, policystore.Config{Region: testRegion, AccountID: testAccount},
		(&tickingClock{t: epoch}).Now)
	if err != nil {
		t.Fatalf("policystore.Open: %v", err)
	}
	ph := &policyHarness{}
	ps.OnChange(func(targets []string) {
		ph.mu.Lock()
		defer ph.mu.Unlock()
		ph.changed = append(ph.changed, targets)
	})
	sig, err := httpapi.NewSigV4(httpapi.SigV4Config{}, httpapi.StaticCredentials{testAKID: testSecret}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Config{}, sig, nil)
	if err != nil {
		t.Fatal(err)
	}
	iotapi.Register(api, iotapi.Deps{Registry: base.reg, CA: base.ca, Endpoint: func(string) string { return testHost },
		KeyType: pki.KeyEC, Policies: ps})
	h := &harness{kv: base.kv, reg: base.reg, ca: base.ca}
	h.srv = httptest.NewServer(api)
	t.Cleanup(h.srv.Close)
	h.client = iot.NewFromConfig(aws.Config{
		Region:      testRegion,
		Credentials: credentials.NewStaticCredentialsProvider(testAKID, testSecret, ""),
		HTTPClient:  h.srv.Client(),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}, func(o *iot.Options) { o.BaseEndpoint = aws.String(h.srv.URL) })
	ph.harness = h
	return ph
}

func policyNames(ps []types.Policy) []string {
	var out []string
	for _, p := range ps {
		out = append(out, aws.ToString(p.PolicyName))
	}
	return out
}

func TestPolicyCRUD(t *testing.T) {
	h := startPolicies(t)
	ctx := context.Background()
	c := h.client
	out, err := c.CreatePolicy(ctx, &iot.CreatePolicyInput{PolicyName: aws.String("dev"), PolicyDocument: aws.String(docConnect)})
	if err != nil {
		t.Fatal(err)
	}
	wantARN := "arn:aws:iot:" + testRegion + ":" + testAccount + ":policy/dev"
	if aws.ToString(out.PolicyArn) != wantARN || aws.ToString(out.PolicyVersionId) != "1" ||
		aws.ToString(out.PolicyDocument) != docConnect || aws.ToString(out.PolicyName) != "dev" {
		t.Errorf("CreatePolicy = %+v", out)
	}
	got, err := c.GetPolicy(ctx, &iot.GetPolicyInput{PolicyName: aws.String("dev")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.DefaultVersionId) != "1" || aws.ToString(got.PolicyDocument) != docConnect ||
		len(aws.ToString(got.GenerationId)) != 64 || got.CreationDate == nil || !got.CreationDate.Equal(epoch.Add(time.Second)) {
		t.Errorf("GetPolicy = %+v", got)
	}
	for _, n := range []string{"b", "a"} {
		if _, err := c.CreatePolicy(ctx, &iot.CreatePolicyInput{PolicyName: aws.String(n), PolicyDocument: aws.String(docConnect)}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	p := iot.NewListPoliciesPaginator(c, &iot.ListPoliciesInput{PageSize: aws.Int32(2), AscendingOrder: true})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, policyNames(page.Policies)...)
	}
	if diff := cmp.Diff([]string{"a", "b", "dev"}, names); diff != "" {
		t.Errorf("ListPolicies pages (-want +got):\n%s", diff)
	}

	errTests := []struct {
		name   string
		call   func() error
		target any
		msg    string
	}{
		{"create duplicate", func() error {
			_, err := c.CreatePolicy(ctx, &iot.CreatePolicyInput{PolicyName: aws.String("dev"), PolicyDocument: aws.String(docConnect)})
			return err
		}, new(*types.ResourceAlreadyExistsException), "name already exists"},
		{"malformed document", func() error {
			_, err := c.CreatePolicy(ctx, &iot.CreatePolicyInput{PolicyName: aws.String("bad"),
				PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect"}]}`)})
			return err
		}, new(*types.MalformedPolicyException), "Statement[0]"},
		{"bad name", func() error {
			_, err := c.CreatePolicy(ctx, &iot.CreatePolicyInput{PolicyName: aws.String("a:b"), PolicyDocument: aws.String(docConnect)})
			return err
		}, new(*types.InvalidRequestException), "Policy name"},
		{"get missing", func() error {
			_, err := c.GetPolicy(ctx, &iot.GetPolicyInput{PolicyName: aws.String("ghost")})
			return err
		}, new(*types.ResourceNotFoundException), "ghost"},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			wantError(t, tt.name, err, tt.target)
			if msg := errorMessage(err); !strings.Contains(msg, tt.msg) {
				t.Errorf("%s message = %q, want it to contain %q", tt.name, msg, tt.msg)
			}
		})
	}
	t.Run("already exists carries resource", func(t *testing.T) {
		_, err := c.CreatePolicy(ctx, &iot.CreatePolicyInput{PolicyName: aws.String("dev"), PolicyDocument: aws.String(docConnect)})
		var e *types.ResourceAlreadyExistsException
		wantError(t, "CreatePolicy", err, &e)
		if aws.ToString(e.ResourceArn) != wantARN || aws.ToString(e.ResourceId) != "dev" {
			t.Errorf("ResourceAlreadyExistsException = id %q arn %q", aws.ToString(e.ResourceId), aws.ToString(e.ResourceArn))
		}
	})

	if _, err := c.DeletePolicy(ctx, &iot.DeletePolicyInput{PolicyName: aws.String("dev")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetPolicy(ctx, &iot.GetPolicyInput{PolicyName: aws.String("dev")})
	wantError(t, "GetPolicy after delete", err, new(*types.ResourceNotFoundException))
}

func TestPolicyVersionsAPI(t *testing.T) {
	h := startPolicies(t)
	ctx := context.Background()
	c := h.client
	if _, err := c.CreatePolicy(ctx, &iot.CreatePolicyInput{PolicyName: aws.String("p"), PolicyDocument: aws.String(docConnect)}); err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 5; i++ {
		out, err := c.CreatePolicyVersion(ctx, &iot.CreatePolicyVersionInput{PolicyName: aws.String("p"), PolicyDocument: aws.String(docPublish)})
		if err != nil {
			t.Fatalf("version %d: %v", i, err)
		}
		if out.IsDefaultVersion || aws.ToString(out.PolicyVersionId) != string(rune('0'+i)) {
			t.Errorf("CreatePolicyVersion #%d = id %s default %v", i, aws.ToString(out.PolicyVersionId), out.IsDefaultVersion)
		}
	}
	_, err := c.CreatePolicyVersion(ctx, &iot.CreatePolicyVersionInput{PolicyName: aws.String("p"), PolicyDocument: aws.String(docPublish), SetAsDefault: true})
	wantError(t, "6th CreatePolicyVersion", err, new(*types.VersionsLimitExceededException))

	if _, err := c.SetDefaultPolicyVersion(ctx, &iot.SetDefaultPolicyVersionInput{PolicyName: aws.String("p"), PolicyVersionId: aws.String("4")}); err != nil {
		t.Fatal(err)
	}
	v, err := c.GetPolicyVersion(ctx, &iot.GetPolicyVersionInput{PolicyName: aws.String("p"), PolicyVersionId: aws.String("4")})
	if err != nil {
		t.Fatal(err)
	}
	if !v.IsDefaultVersion || aws.ToString(v.PolicyDocument) != docPublish || aws.ToString(v.PolicyName) != "p" || v.CreationDate == nil {
		t.Errorf("GetPolicyVersion(4) = %+v", v)
	}
	_, err = c.DeletePolicyVersion(ctx, &iot.DeletePolicyVersionInput{PolicyName: aws.String("p"), PolicyVersionId: aws.String("4")})
	wantError(t, "DeletePolicyVersion(default)", err, new(*types.DeleteConflictException))
	_, err = c.DeletePolicy(ctx, &iot.DeletePolicyInput{PolicyName: aws.String("p")})
	wantError(t, "DeletePolicy(with versions)", err, new(*types.DeleteConflictException))
	if _, err := c.DeletePolicyVersion(ctx, &iot.DeletePolicyVersionInput{PolicyName: aws.String("p"), PolicyVersionId: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetPolicyVersion(ctx, &iot.GetPolicyVersionInput{PolicyName: aws.String("p"), PolicyVersionId: aws.String("1")})
	wantError(t, "GetPolicyVersion(deleted)", err, new(*types.ResourceNotFoundException))

	lv, err := c.ListPolicyVersions(ctx, &iot.ListPolicyVersionsInput{PolicyName: aws.String("p")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range lv.PolicyVersions {
		s := aws.ToString(v.VersionId)
		if v.IsDefaultVersion {
			s += "*"
		}
		if v.CreateDate == nil {
			t.Errorf("version %s has no createDate", s)
		}
		got = append(got, s)
	}
	if diff := cmp.Diff([]string{"5", "4*", "3", "2"}, got); diff != "" {
		t.Errorf("ListPolicyVersions (-want +got):\n%s", diff)
	}
}

func TestPolicyAttachmentsAPI(t *testing.T) {
	h := startPolicies(t)
	ctx := context.Background()
	c := h.client
	kc, err := c.CreateKeysAndCertificate(ctx, &iot.CreateKeysAndCertificateInput{SetAsActive: true})
	if err != nil {
		t.Fatal(err)
	}
	cert := aws.ToString(kc.CertificateArn)
	for _, n := range []string{"connect", "publish"} {
		if _, err := c.CreatePolicy(ctx, &iot.CreatePolicyInput{PolicyName: aws.String(n), PolicyDocument: aws.String(docConnect)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.AttachPolicy(ctx, &iot.AttachPolicyInput{PolicyName: aws.String("connect"), Target: aws.String(cert)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AttachPrincipalPolicy(ctx, &iot.AttachPrincipalPolicyInput{PolicyName: aws.String("publish"), Principal: aws.String(cert)}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{{cert}, {cert}}, h.takeChanges()); diff != "" {
		t.Errorf("OnChange after attaches (-want +got):\n%s", diff)
	}

	ap, err := c.ListAttachedPolicies(ctx, &iot.ListAttachedPoliciesInput{Target: aws.String(cert)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"connect", "publish"}, policyNames(ap.Policies)); diff != "" {
		t.Errorf("ListAttachedPolicies (-want +got):\n%s", diff)
	}
	pp, err := c.ListPrincipalPolicies(ctx, &iot.ListPrincipalPoliciesInput{Principal: aws.String(cert), AscendingOrder: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"connect", "publish"}, policyNames(pp.Policies)); diff != "" {
		t.Errorf("ListPrincipalPolicies (-want +got):\n%s", diff)
	}
	tp, err := c.ListTargetsForPolicy(ctx, &iot.ListTargetsForPolicyInput{PolicyName: aws.String("connect")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{cert}, tp.Targets); diff != "" {
		t.Errorf("ListTargetsForPolicy (-want +got):\n%s", diff)
	}
	lp, err := c.ListPolicyPrincipals(ctx, &iot.ListPolicyPrincipalsInput{PolicyName: aws.String("publish")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{cert}, lp.Principals); diff != "" {
		t.Errorf("ListPolicyPrincipals (-want +got):\n%s", diff)
	}

	_, err = c.DeletePolicy(ctx, &iot.DeletePolicyInput{PolicyName: aws.String("connect")})
	wantError(t, "DeletePolicy(attached)", err, new(*types.DeleteConflictException))
	if msg := errorMessage(err); !strings.Contains(msg, "attached to one or more principals") {
		t.Errorf("DeletePolicy(attached) message = %q", msg)
	}

	if _, err := c.CreatePolicyVersion(ctx, &iot.CreatePolicyVersionInput{PolicyName: aws.String("connect"),
		PolicyDocument: aws.String(docPublish)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetDefaultPolicyVersion(ctx, &iot.SetDefaultPolicyVersionInput{PolicyName: aws.String("connect"),
		PolicyVersionId: aws.String("2")}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{{cert}}, h.takeChanges()); diff != "" {
		t.Errorf("OnChange after SetDefaultPolicyVersion (-want +got):\n%s", diff)
	}

	errTests := []struct {
		name   string
		call   func() error
		target any
	}{
		{"attach missing policy", func() error {
			_, err := c.AttachPolicy(ctx, &iot.AttachPolicyInput{PolicyName: aws.String("ghost"), Target: aws.String(cert)})
			return err
		}, new(*types.ResourceNotFoundException)},
		{"attach to unknown certificate", func() error {
			_, err := c.AttachPolicy(ctx, &iot.AttachPolicyInput{PolicyName: aws.String("connect"),
				Target: aws.String(certARN(strings.Repeat("ab", 32)))})
			return err
		}, new(*types.ResourceNotFoundException)},
		{"attach to a Cognito identity", func() error {
			_, err := c.AttachPolicy(ctx, &iot.AttachPolicyInput{PolicyName: aws.String("connect"),
				Target: aws.String("us-east-1:6a3b1b5e-0000-0000-0000-000000000000")})
			return err
		}, new(*types.InvalidRequestException)},
		{"targets of missing policy", func() error {
			_, err := c.ListTargetsForPolicy(ctx, &iot.ListTargetsForPolicyInput{PolicyName: aws.String("ghost")})
			return err
		}, new(*types.ResourceNotFoundException)},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) { wantError(t, tt.name, tt.call(), tt.target) })
	}

	if _, err := c.DetachPolicy(ctx, &iot.DetachPolicyInput{PolicyName: aws.String("connect"), Target: aws.String(cert)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DetachPrincipalPolicy(ctx, &iot.DetachPrincipalPolicyInput{PolicyName: aws.String("publish"), Principal: aws.String(cert)}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{{cert}, {cert}}, h.takeChanges()); diff != "" {
		t.Errorf("OnChange after detaches (-want +got):\n%s", diff)
	}
	ap, err = c.ListAttachedPolicies(ctx, &iot.ListAttachedPoliciesInput{Target: aws.String(cert)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ap.Policies) != 0 {
		t.Errorf("ListAttachedPolicies after detach = %v, want none", policyNames(ap.Policies))
	}
	tp, err = c.ListTargetsForPolicy(ctx, &iot.ListTargetsForPolicyInput{PolicyName: aws.String("connect")})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tp.Targets, []string{}) && tp.Targets != nil {
		t.Errorf("ListTargetsForPolicy after detach = %v, want none", tp.Targets)
	}
	if _, err := c.DeletePolicyVersion(ctx, &iot.DeletePolicyVersionInput{PolicyName: aws.String("connect"), PolicyVersionId: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeletePolicy(ctx, &iot.DeletePolicyInput{PolicyName: aws.String("connect")}); err != nil {
		t.Fatalf("DeletePolicy after detach: %v", err)
	}
}
