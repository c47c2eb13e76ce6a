package shadowsvc

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/thingcore/thingcore/internal/kvstore"
)

// BenchmarkUpdate is the API's update path with a real KV store: parse,
// merge, compare-and-set write and the accepted/documents publishes, over
// 1,000 shadows from parallel callers.
func BenchmarkUpdate(b *testing.B) { benchmarkUpdates(b, fixtureOptions{noSub: true}) }

// BenchmarkUpdateNoKV is BenchmarkUpdate with an in-memory bucket: the
// service's own cost.
func BenchmarkUpdateNoKV(b *testing.B) {
	benchmarkUpdates(b, fixtureOptions{noSub: true,
		bucket: func(*kvstore.Bucket) Bucket { return &memBucket{data: map[string]kvstore.Entry{}} }})
}

func benchmarkUpdates(b *testing.B, o fixtureOptions) {
	f := newFixture(b, o)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			body := `{"state":{"reported":{"temperature":21.5,"humidity":40,"counter":` + strconv.Itoa(i) + `}}}`
			if _, err := f.svc.Update(ctx, "t"+strconv.Itoa(i%1000), "", []byte(body)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// memBucket is an in-memory Bucket, to measure the service without KV.
type memBucket struct {
	mu   sync.Mutex
	data map[string]kvstore.Entry
}

func (m *memBucket) Get(_ context.Context, key string) (kvstore.Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.data[key]
	if !ok {
		return e, kvstore.ErrNotFound
	}
	return e, nil
}

func (m *memBucket) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	return m.Update(ctx, key, value, 0)
}

func (m *memBucket) Update(_ context.Context, key string, value []byte, rev uint64) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data[key].Revision != rev {
		return 0, kvstore.ErrConflict
	}
	m.data[key] = kvstore.Entry{Key: key, Value: value, Revision: rev + 1}
	return rev + 1, nil
}

func (m *memBucket) Keys(context.Context, string) ([]string, error) { return nil, nil }

func (m *memBucket) UpdateBatch(ctx context.Context, writes []kvstore.Write) []kvstore.WriteResult {
	res := make([]kvstore.WriteResult, len(writes))
	for i, w := range writes {
		res[i].Rev, res[i].Err = m.Update(ctx, w.Key, w.Value, w.Rev)
	}
	return res
}
