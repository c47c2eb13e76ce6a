package shadowsvc

import (
	"context"
	"strconv"
	"testing"
)

// BenchmarkUpdate is the API's update path with a real KV store: parse,
// merge, compare-and-set write and the accepted/documents publishes, over
// 1,000 shadows from parallel callers.
func BenchmarkUpdate(b *testing.B) {
	f := newFixture(b, fixtureOptions{noSub: true})
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
