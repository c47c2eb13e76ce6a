package topic

import (
	"strconv"
	"testing"
)

// benchTree returns a tree of n subscriptions with a mix of literal, '+',
// '#', '$aws' and shared filters, as a fleet of devices would make.
func benchTree(n int) *Tree[int, int] {
	tr := NewTree[int, int]()
	for i := range n {
		d := strconv.Itoa(i % 1000)
		var f string
		switch i % 10 {
		case 0, 1, 2:
			f = "devices/" + d + "/telemetry/" + strconv.Itoa(i%7)
		case 3:
			f = "devices/" + d + "/+"
		case 4:
			f = "devices/" + d + "/#"
		case 5:
			f = "$aws/things/" + d + "/shadow/update/accepted"
		case 6:
			f = "$aws/things/" + d + "/shadow/#"
		case 7:
			f = "+/" + d + "/telemetry/+"
		case 8:
			f = "$share/g" + strconv.Itoa(i%4) + "/devices/+/telemetry/" + strconv.Itoa(i%7)
		case 9:
			f = "fleet/" + strconv.Itoa(i%50) + "/+/cmd/#"
		}
		tr.Subscribe(f, i, i)
	}
	tr.Subscribe("#", -1, -1)
	return tr
}

// benchNames returns n topic names that hit the benchTree filters.
func benchNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		d := strconv.Itoa(i * 7 % 1000)
		switch i % 4 {
		case 0:
			names[i] = "devices/" + d + "/telemetry/" + strconv.Itoa(i%7)
		case 1:
			names[i] = "$aws/things/" + d + "/shadow/update/accepted"
		case 2:
			names[i] = "fleet/" + strconv.Itoa(i%50) + "/x/cmd/reboot"
		case 3:
			names[i] = "unrelated/topic/with/several/levels"
		}
	}
	return names
}

func BenchmarkMatch(b *testing.B) {
	tr := benchTree(10000)
	names := benchNames(1024)
	hits := 0
	visit := func(int, int) { hits++ }
	visitShared := func(string, []Member[int, int]) { hits++ }
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tr.Match(names[i&1023], visit, visitShared)
		i++
	}
	b.ReportMetric(float64(hits)/float64(i), "hits/op")
}

func BenchmarkMatchParallel(b *testing.B) {
	tr := benchTree(10000)
	names := benchNames(1024)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		hits, i := 0, 0
		visit := func(int, int) { hits++ }
		visitShared := func(string, []Member[int, int]) { hits++ }
		for pb.Next() {
			tr.Match(names[i&1023], visit, visitShared)
			i++
		}
	})
}

func BenchmarkSubscribe(b *testing.B) {
	filters := make([]string, 10000)
	for i := range filters {
		filters[i] = "devices/" + strconv.Itoa(i%1000) + "/telemetry/" + strconv.Itoa(i%7)
	}
	tr := benchTree(10000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// Subscribe then unsubscribe so the tree stays the same size.
		k := 1_000_000 + i%10000
		tr.Subscribe(filters[i%10000], k, i)
		tr.Unsubscribe(filters[i%10000], k)
		i++
	}
}

func BenchmarkMatchFunc(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Match("devices/+/telemetry/#", "devices/1234/telemetry/temperature/celsius")
	}
}

func BenchmarkValidateFilter(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = ValidateFilter("$share/group/devices/+/telemetry/#")
	}
}
