package shadowsvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/kvstore"
	"github.com/thingcore/thingcore/internal/shadow"
)

// TestMQTTRequests drives the service through the broker, as devices do,
// and checks every response topic and body.
func TestMQTTRequests(t *testing.T) {
	t.Parallel()
	type step struct {
		topic, payload string
		want           []response // in order
	}
	const p = "$aws/things/lamp/shadow"
	const np = "$aws/things/lamp/shadow/name/cfg"
	tests := []struct {
		name  string
		steps []step
	}{
		{"get missing", []step{
			{p + "/get", `{"clientToken":"t1"}`, []response{
				{p + "/get/rejected", `{"code":404,"message":"No shadow exists with name: 'lamp'","clientToken":"t1"}`}}},
		}},
		{"update then get", []step{
			{p + "/update", `{"state":{"desired":{"on":true}},"clientToken":"c1"}`, []response{
				{p + "/update/accepted", `{"state":{"desired":{"on":true}},"metadata":{"desired":{"on":{"timestamp":1700000000}}},"version":1,"timestamp":1700000000,"clientToken":"c1"}`},
				{p + "/update/documents", `{"current":{"state":{"desired":{"on":true}},"metadata":{"desired":{"on":{"timestamp":1700000000}}},"version":1},"timestamp":1700000000,"clientToken":"c1"}`},
				{p + "/update/delta", `{"version":1,"timestamp":1700000000,"state":{"on":true},"metadata":{"on":{"timestamp":1700000000}},"clientToken":"c1"}`},
			}},
			{p + "/update", `{"state":{"reported":{"on":true}}}`, []response{
				{p + "/update/accepted", `{"state":{"reported":{"on":true}},"metadata":{"reported":{"on":{"timestamp":1700000000}}},"version":2,"timestamp":1700000000}`},
				{p + "/update/documents", `{"previous":{"state":{"desired":{"on":true}},"metadata":{"desired":{"on":{"timestamp":1700000000}}},"version":1},"current":{"state":{"desired":{"on":true},"reported":{"on":true}},"metadata":{"desired":{"on":{"timestamp":1700000000}},"reported":{"on":{"timestamp":1700000000}}},"version":2},"timestamp":1700000000}`},
			}},
			{p + "/get", ``, []response{
				{p + "/get/accepted", `{"state":{"desired":{"on":true},"reported":{"on":true}},"metadata":{"desired":{"on":{"timestamp":1700000000}},"reported":{"on":{"timestamp":1700000000}}},"version":2,"timestamp":1700000000}`}}},
		}},
		{"seed bare telemetry", []step{
			{p + "/update", `{"temperature":22.5,"humidity":40}`, []response{
				{p + "/update/rejected", `{"code":400,"message":"Missing required node: state"}`}}},
		}},
		{"version conflict", []step{
			{p + "/update", `{"state":{"reported":{"a":1}}}`, nil},
			{p + "/update", `{"state":{"reported":{"a":2}},"version":7,"clientToken":"v"}`, []response{
				{p + "/update/rejected", `{"code":409,"message":"Version conflict","clientToken":"v"}`}}},
		}},
		{"delete keeps version", []step{
			{p + "/update", `{"state":{"reported":{"a":1}}}`, nil},
			{p + "/delete", `{"clientToken":"d"}`, []response{
				{p + "/delete/accepted", `{"version":1,"timestamp":1700000000,"clientToken":"d"}`}}},
			{p + "/delete", ``, []response{
				{p + "/delete/rejected", `{"code":404,"message":"No shadow exists with name: 'lamp'"}`}}},
			{p + "/update", `{"state":{"reported":{"a":1}},"version":1}`, []response{
				{p + "/update/rejected", `{"code":404,"message":"No shadow exists with name: 'lamp'"}`}}},
			{p + "/update", `{"state":{"reported":{"b":1}}}`, []response{
				{p + "/update/accepted", `{"state":{"reported":{"b":1}},"metadata":{"reported":{"b":{"timestamp":1700000000}}},"version":2,"timestamp":1700000000}`},
				{p + "/update/documents", `{"current":{"state":{"reported":{"b":1}},"metadata":{"reported":{"b":{"timestamp":1700000000}}},"version":2},"timestamp":1700000000}`},
			}},
		}},
		{"named shadow", []step{
			{np + "/update", `{"state":{"desired":{"x":1}}}`, []response{
				{np + "/update/accepted", `{"state":{"desired":{"x":1}},"metadata":{"desired":{"x":{"timestamp":1700000000}}},"version":1,"timestamp":1700000000}`},
				{np + "/update/documents", `{"current":{"state":{"desired":{"x":1}},"metadata":{"desired":{"x":{"timestamp":1700000000}}},"version":1},"timestamp":1700000000}`},
				{np + "/update/delta", `{"version":1,"timestamp":1700000000,"state":{"x":1},"metadata":{"x":{"timestamp":1700000000}}}`},
			}},
			{p + "/get", ``, []response{
				{p + "/get/rejected", `{"code":404,"message":"No shadow exists with name: 'lamp'"}`}}},
			{np + "/get", `{"clientToken":"g"}`, []response{
				{np + "/get/accepted", `{"state":{"desired":{"x":1},"delta":{"x":1}},"metadata":{"desired":{"x":{"timestamp":1700000000}}},"version":1,"timestamp":1700000000,"clientToken":"g"}`}}},
			{"$aws/things/lamp/shadow/name/other/delete", ``, []response{
				{"$aws/things/lamp/shadow/name/other/delete/rejected", `{"code":404,"message":"No shadow exists with name: 'lamp~other'"}`}}},
		}},
		{"errors echo the token", []step{
			{p + "/update", `{"state":{"delta":{}},"clientToken":"e"}`, []response{
				{p + "/update/rejected", `{"code":400,"message":"State contains an invalid node: 'delta'","clientToken":"e"}`}}},
			{p + "/update", `{"state":`, []response{
				{p + "/update/rejected", `{"code":400,"message":"Invalid JSON"}`}}},
		}},
		{"not requests", []step{
			{p + "/update/accepted", `{}`, nil},
			{p + "/other", `{}`, nil},
			{"$aws/things/lamp/shadow/name/x/update/delta", `{}`, nil},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOptions{})
			for i, s := range tt.steps {
				f.publish(s.topic, s.payload)
				// Wait for the expected responses; a step that expects none
				// waits until every worker is idle.
				var got []response
				if len(s.want) > 0 {
					got = f.waitResponses(len(s.want))
				} else {
					f.svc.flush(t)
					got = f.take()
				}
				if s.want == nil && strings.HasSuffix(s.topic, "/update") {
					continue // setup step: responses not checked
				}
				if fmt.Sprint(got) != fmt.Sprint(s.want) {
					t.Fatalf("step %d (%s %s):\n got %v\nwant %v", i, s.topic, s.payload, got, s.want)
				}
			}
		})
	}
}

// flush waits until every worker has handled everything queued so far.
func (s *Service) flush(t *testing.T) {
	t.Helper()
	for _, w := range s.workers {
		r := request{op: opGet, id: shadowID{thing: "flush"}, reply: make(chan result, 1)}
		if err := w.enqueue(context.Background(), r, true); err != nil {
			t.Fatal(err)
		}
		<-r.reply
	}
}

// TestSeedHint: the seed device's bare JSON gets AWS's 400 and one log line
// that says how to fix it, once per thing per minute.
func TestSeedHint(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	for range 3 {
		f.publish("$aws/things/pico/shadow/update", `{"temperature":22}`)
	}
	f.waitResponses(3)
	if n := strings.Count(f.logs.String(), `{\"state\":{\"reported\":{...}}}`); n != 1 {
		t.Fatalf("hint logged %d times, want 1:\n%s", n, f.logs)
	}
	if !strings.Contains(f.logs.String(), "thing=pico") || !strings.Contains(f.logs.String(), "client_id=device-1") {
		t.Errorf("hint does not name the thing and client:\n%s", f.logs)
	}
	f.clock.Set(t0.Add(2 * time.Minute))
	f.publish("$aws/things/pico/shadow/update", `{"temperature":22}`)
	f.waitResponses(1)
	if n := strings.Count(f.logs.String(), `{\"state\":{\"reported\":{...}}}`); n != 2 {
		t.Errorf("hint logged %d times after a minute, want 2", n)
	}
}

// TestAPI covers the Go API the HTTP data plane and the console use.
func TestAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	ctx := context.Background()
	_, err := f.svc.Get(ctx, "t1", "")
	var se *shadow.Error
	if !errors.As(err, &se) || se.Code != 404 {
		t.Fatalf("Get missing = %v, want a 404 *shadow.Error", err)
	}
	body, err := f.svc.Update(ctx, "t1", "", []byte(`{"state":{"desired":{"a":1}}}`))
	if err != nil || !strings.Contains(string(body), `"version":1`) {
		t.Fatalf("Update = %s, %v", body, err)
	}
	// An API update publishes accepted, documents and delta like a device's.
	got := f.waitResponses(3)
	if got[0].topic != "$aws/things/t1/shadow/update/accepted" || got[2].topic != "$aws/things/t1/shadow/update/delta" {
		t.Errorf("published %v", got)
	}
	if _, err := f.svc.Update(ctx, "t1", "", []byte(`{"state":{"desired":{"a":2}},"version":5}`)); !errors.As(err, &se) || se.Code != 409 {
		t.Errorf("Update with a stale version = %v, want 409", err)
	}
	if _, err := f.svc.Update(ctx, "bad/thing", "", []byte(`{"state":{}}`)); !errors.As(err, &se) || se.Code != 400 {
		t.Errorf("Update of an invalid thing name = %v, want 400", err)
	}
	if body, err = f.svc.Get(ctx, "t1", ""); err != nil || !strings.Contains(string(body), `"delta":{"a":1}`) {
		t.Errorf("Get = %s, %v", body, err)
	}
	if body, err = f.svc.Delete(ctx, "t1", ""); err != nil || string(body) != `{"version":1,"timestamp":1700000000}` {
		t.Errorf("Delete = %s, %v", body, err)
	}
	if got := f.waitResponses(1); got[len(got)-1].topic != "$aws/things/t1/shadow/delete/accepted" {
		t.Errorf("Delete published %v", got)
	}
}

// TestVersionsAfterDelete: recreated within 48 hours a shadow's versions
// continue; later they start again at 1 (reference §1.8).
func TestVersionsAfterDelete(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		after time.Duration
		want  string
	}{
		{"within 48h", 47 * time.Hour, `"version":3`},
		{"after 48h", 49 * time.Hour, `"version":1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOptions{noSub: true})
			ctx := context.Background()
			for range 2 {
				if _, err := f.svc.Update(ctx, "t", "s", []byte(`{"state":{"reported":{"a":1}}}`)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := f.svc.Delete(ctx, "t", "s"); err != nil {
				t.Fatal(err)
			}
			f.clock.Set(t0.Add(tt.after))
			body, err := f.svc.Update(ctx, "t", "s", []byte(`{"state":{"reported":{"a":1}}}`))
			if err != nil || !strings.Contains(string(body), tt.want) {
				t.Errorf("Update after delete = %s, %v; want %s", body, err, tt.want)
			}
		})
	}
}

// TestConcurrentUpdatesLoseNothing: many clients update one shadow at once,
// through MQTT and the API; every update is applied exactly once, with
// strictly increasing versions.
func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{noSub: true, cfg: Config{Workers: 4}})
	versions := make(chan int64, 1000)
	unsub, err := f.b.Subscribe("$aws/things/hot/shadow/update/accepted", func(m *broker.Message) {
		var v struct{ Version int64 }
		_ = json.Unmarshal(m.Payload, &v)
		versions <- v.Version
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unsub()
	const clients, each = 20, 25
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				body := fmt.Sprintf(`{"state":{"reported":{"k%d_%d":%d}}}`, c, i, i)
				if c%2 == 0 {
					f.publish("$aws/things/hot/shadow/update", body)
					continue
				}
				if _, err := f.svc.Update(context.Background(), "hot", "", []byte(body)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	seen := map[int64]bool{}
	for len(seen) < clients*each {
		select {
		case v := <-versions:
			if seen[v] {
				t.Fatalf("version %d accepted twice", v)
			}
			seen[v] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("%d updates accepted, want %d", len(seen), clients*each)
		}
	}
	body, err := f.svc.Get(context.Background(), "hot", "")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		State struct {
			Reported map[string]any `json:"reported"`
		} `json:"state"`
		Version int64 `json:"version"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version != clients*each || len(doc.State.Reported) != clients*each {
		t.Errorf("version %d with %d keys, want %d and %d", doc.Version, len(doc.State.Reported), clients*each, clients*each)
	}
}

// racingBucket writes a competing version of the shadow just before the
// service's first write, as another cluster node would.
type racingBucket struct {
	Bucket
	once sync.Once
}

func (r *racingBucket) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	r.once.Do(func() {
		var d shadow.Document
		e, _ := r.Bucket.Get(ctx, key)
		if got, err := shadow.Unmarshal(e.Value); err == nil {
			d = *got
		}
		u, _ := shadow.ParseUpdate([]byte(`{"state":{"reported":{"other":"node"}}}`), shadow.Limits{})
		d.Apply(u, t0, shadow.Limits{})
		if _, err := r.Bucket.Update(ctx, key, d.Marshal(), rev); err != nil {
			panic(err)
		}
	})
	return r.Bucket.Update(ctx, key, value, rev)
}

// TestCompareAndSetRetry: when another writer changes the shadow between
// read and write, the service reads it again and applies the update on top;
// nothing is lost and the version check sees the newest version.
func TestCompareAndSetRetry(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{noSub: true, bucket: func(b *kvstore.Bucket) Bucket { return &racingBucket{Bucket: b} }})
	ctx := context.Background()
	if _, err := f.svc.Update(ctx, "t", "", []byte(`{"state":{"reported":{"a":1}}}`)); err != nil {
		t.Fatal(err)
	}
	body, err := f.svc.Update(ctx, "t", "", []byte(`{"state":{"reported":{"b":2}}}`))
	if err != nil || !strings.Contains(string(body), `"version":3`) {
		t.Fatalf("Update after a competing write = %s, %v; want version 3", body, err)
	}
	got, _ := f.svc.Get(ctx, "t", "")
	for _, k := range []string{`"a":1`, `"b":2`, `"other":"node"`} {
		if !strings.Contains(string(got), k) {
			t.Errorf("Get = %s, missing %s", got, k)
		}
	}
}

// TestRestartReadsFromKV: a new service on the same store serves the
// shadows the old one wrote.
func TestRestartReadsFromKV(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	func() {
		f := newFixture(t, fixtureOptions{dir: dir, noSub: true})
		if _, err := f.svc.Update(context.Background(), "t", "n", []byte(`{"state":{"reported":{"a":1}}}`)); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = f.svc.Shutdown(ctx)
		_ = f.kv.Close()
	}()
	f := newFixture(t, fixtureOptions{dir: dir, noSub: true})
	body, err := f.svc.Get(context.Background(), "t", "n")
	if err != nil || !strings.Contains(string(body), `"version":1`) {
		t.Errorf("Get after restart = %s, %v", body, err)
	}
}

// TestListNamed: sorted names, paging, deleted and classic shadows left out.
func TestListNamed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{noSub: true})
	ctx := context.Background()
	for _, n := range []string{"", "c", "a", "b:x", "gone"} {
		if _, err := f.svc.Update(ctx, "t", n, []byte(`{"state":{"reported":{"a":1}}}`)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.Update(ctx, "other", "z", []byte(`{"state":{"reported":{"a":1}}}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Delete(ctx, "t", "gone"); err != nil {
		t.Fatal(err)
	}
	names, next, err := f.svc.ListNamed(ctx, "t", "", 2)
	if err != nil || fmt.Sprint(names) != "[a b:x]" || next == "" {
		t.Fatalf("page 1 = %v %q %v", names, next, err)
	}
	names, next, err = f.svc.ListNamed(ctx, "t", next, 2)
	if err != nil || fmt.Sprint(names) != "[c]" || next != "" {
		t.Fatalf("page 2 = %v %q %v", names, next, err)
	}
	if names, _, err := f.svc.ListNamed(ctx, "nobody", "", 0); err != nil || len(names) != 0 {
		t.Errorf("unknown thing = %v, %v", names, err)
	}
	var se *shadow.Error
	if _, _, err := f.svc.ListNamed(ctx, "t", "", 101); !errors.As(err, &se) || se.Code != 400 {
		t.Errorf("pageSize 101 = %v, want 400", err)
	}
}

func TestParseRequestTopic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		topic string
		want  string // "thing|name|op" or "" when not a request
	}{
		{"$aws/things/a/shadow/update", "a||update"},
		{"$aws/things/a/shadow/get", "a||get"},
		{"$aws/things/a/shadow/delete", "a||delete"},
		{"$aws/things/a/shadow/name/n/update", "a|n|update"},
		{"$aws/things/a/shadow/name/n/update/accepted", ""},
		{"$aws/things/a/shadow/update/delta", ""},
		{"$aws/things/a/shadow/name//update", ""},
		{"$aws/things/a/shadow/list", ""},
		{"$aws/things//shadow/update", ""},
		{"things/a/shadow/update", ""},
	}
	for _, tt := range tests {
		id, o, ok := parseRequestTopic(tt.topic)
		got := ""
		if ok {
			got = id.thing + "|" + id.name + "|" + o.String()
		}
		if got != tt.want {
			t.Errorf("parseRequestTopic(%q) = %q, want %q", tt.topic, got, tt.want)
		}
	}
}

// batchRacingBucket lets another writer change the first shadow of the
// first batch just before the batch is written.
type batchRacingBucket struct {
	Bucket
	once sync.Once
}

func (r *batchRacingBucket) UpdateBatch(ctx context.Context, writes []kvstore.Write) []kvstore.WriteResult {
	r.once.Do(func() {
		u, _ := shadow.ParseUpdate([]byte(`{"state":{"reported":{"other":"node"}}}`), shadow.Limits{})
		var d shadow.Document
		d.Apply(u, t0, shadow.Limits{})
		if _, err := r.Bucket.Create(ctx, writes[0].Key, d.Marshal()); err != nil {
			panic(err)
		}
	})
	return r.Bucket.UpdateBatch(ctx, writes)
}

// TestBatchCommit: requests taken from the queue together are decided in
// order, each shadow written once; a shadow whose write lost a race is
// handled again request by request, so nothing is lost and versions follow
// the stored shadow.
func TestBatchCommit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{noSub: true, cfg: Config{Workers: 1},
		bucket: func(b *kvstore.Bucket) Bucket { return &batchRacingBucket{Bucket: b} }})
	mk := func(thing, body string) request {
		return request{op: opUpdate, id: shadowID{thing: thing}, body: []byte(body), reply: make(chan result, 1)}
	}
	get := request{op: opGet, id: shadowID{thing: "a"}, reply: make(chan result, 1)}
	batch := []request{
		mk("a", `{"state":{"reported":{"x":1}}}`),
		mk("b", `{"state":{"reported":{"x":1}}}`),
		mk("a", `{"state":{"reported":{"y":2}}}`),
		get,
		mk("b", `{"state":{"reported":{"y":2}},"version":1}`),
	}
	// The worker is idle (nothing queued), so handling a batch here does
	// not race with it.
	f.svc.workers[0].handleBatch(batch)
	want := []string{`"version":2`, `"version":1`, `"version":3`, `"other":"node"`, `"version":2`}
	for i, r := range batch {
		res := <-r.reply
		if res.err != nil || !strings.Contains(string(res.body), want[i]) {
			t.Errorf("request %d = %s, %v; want %s", i, res.body, res.err, want[i])
		}
	}
	for thing, keys := range map[string][]string{"a": {`"x":1`, `"y":2`, `"other":"node"`, `"version":3`}, "b": {`"y":2`, `"version":2`}} {
		body, err := f.svc.Get(context.Background(), thing, "")
		for _, k := range keys {
			if err != nil || !strings.Contains(string(body), k) {
				t.Errorf("Get(%s) = %s, %v; missing %s", thing, body, err, k)
			}
		}
	}

	// The worker reuses its batch memory: a second batch, smaller and with
	// no race, sees nothing of the first (no stale redo, staged shadow or
	// storage form).
	second := []request{
		mk("c", `{"state":{"reported":{"z":3}}}`),
		mk("a", `{"state":{"reported":{"x":10}}}`),
	}
	f.svc.workers[0].handleBatch(second)
	for i, want := range []string{`"version":1`, `"version":4`} {
		if res := <-second[i].reply; res.err != nil || !strings.Contains(string(res.body), want) {
			t.Errorf("second batch, request %d = %s, %v; want %s", i, res.body, res.err, want)
		}
	}
	for thing, keys := range map[string][]string{"a": {`"x":10`, `"y":2`, `"version":4`}, "c": {`"z":3`, `"version":1`}} {
		body, err := f.svc.Get(context.Background(), thing, "")
		for _, k := range keys {
			if err != nil || !strings.Contains(string(body), k) {
				t.Errorf("after the second batch, Get(%s) = %s, %v; missing %s", thing, body, err, k)
			}
		}
	}
}

// Bodies nobody subscribes to are not built or published: with only
// update/accepted subscribed, an update that has a delta publishes accepted
// alone; once documents and delta have subscribers, they get them too.
func TestResponsesOnlyForSubscribers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{noSub: true})
	got := make(chan string, 16)
	sub := func(filter string) {
		if _, err := f.b.Subscribe(filter, func(m *broker.Message) { got <- m.Topic }); err != nil {
			t.Fatal(err)
		}
	}
	next := func() string {
		t.Helper()
		select {
		case topic := <-got:
			return topic
		case <-time.After(5 * time.Second):
			t.Fatal("no response")
			return ""
		}
	}
	const p = "$aws/things/lamp/shadow/update"
	sub(p + "/accepted")
	f.publish(p, `{"state":{"desired":{"led":"on"}}}`)
	if topic := next(); topic != p+"/accepted" {
		t.Fatalf("got %s, want accepted", topic)
	}
	sub(p + "/documents")
	sub(p + "/delta")
	f.publish(p, `{"state":{"desired":{"led":"off"}}}`)
	for _, want := range []string{"/accepted", "/documents", "/delta"} {
		if topic := next(); topic != p+want {
			t.Fatalf("got %s, want %s", topic, p+want)
		}
	}
	// Two requests, one response to the first, three to the second.
	if n := f.b.Snapshot().MessagesIn; n != 6 {
		t.Fatalf("broker routed %d messages, want 6 (no documents or delta before they had subscribers)", n)
	}
}
