package shadowsvc

import (
	"github.com/thingcore/thingcore/internal/kvstore"
	"github.com/thingcore/thingcore/internal/shadow"
)

// batchScratch is a worker's memory for handling a batch, reused from one
// batch to the next so that a busy worker does not make garbage of it.
type batchScratch struct {
	outs    []outcome
	redo    []bool
	writes  []kvstore.Write
	order   []*staged
	changed map[shadowID]*staged
	staged  []staged // backs the *staged in changed and order
	// values holds the storage forms of a batch's writes back to back;
	// kvstore keeps no value after the write returns.
	values []byte
}

// maxKeptValues bounds the values buffer kept between batches.
const maxKeptValues = 256 << 10

func (sc *batchScratch) outcomes(n int) []outcome {
	if cap(sc.outs) < n {
		sc.outs = make([]outcome, n, max(n, maxBatch))
	}
	sc.outs = sc.outs[:n]
	return sc.outs
}

func (sc *batchScratch) redoFlags(n int) []bool {
	if cap(sc.redo) < n {
		sc.redo = make([]bool, n, max(n, maxBatch))
	}
	sc.redo = sc.redo[:n]
	clear(sc.redo)
	return sc.redo
}

// newStaged returns a staged for c. Batches hold at most maxBatch
// requests, so the backing array never moves while its elements are in use.
func (sc *batchScratch) newStaged(c *cached) *staged {
	if sc.staged == nil {
		sc.staged = make([]staged, 0, maxBatch)
	}
	if len(sc.staged) == cap(sc.staged) {
		return &staged{c: c}
	}
	sc.staged = sc.staged[:len(sc.staged)+1]
	st := &sc.staged[len(sc.staged)-1]
	st.c = c // reset left next zero and reqs empty
	return st
}

// marshal appends d's storage form to the values buffer and returns it.
func (sc *batchScratch) marshal(d *shadow.Document) []byte {
	start := len(sc.values)
	sc.values = d.AppendMarshal(sc.values)
	return sc.values[start:len(sc.values):len(sc.values)]
}

// reset drops the batch's references (request bodies, documents, answers)
// and keeps the memory.
func (sc *batchScratch) reset() {
	clear(sc.outs)
	clear(sc.writes)
	clear(sc.order)
	clear(sc.changed)
	for i := range sc.staged {
		sc.staged[i] = staged{reqs: sc.staged[i].reqs[:0]}
	}
	sc.staged = sc.staged[:0]
	sc.writes = sc.writes[:0]
	sc.order = sc.order[:0]
	if cap(sc.values) > maxKeptValues {
		sc.values = nil
	}
	sc.values = sc.values[:0]
}
