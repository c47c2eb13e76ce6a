package transport

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// Idle devices are most of a hub's connections, so what an idle TLS
// connection costs is what the hub costs. A goroutine blocked in
// tls.Conn.Read sits deep inside crypto/tls, with the record buffer grown
// for the read; its stack cannot shrink below the depth of those frames.
//
// feedConn sits between tls.Conn and the TCP socket. During the handshake
// it reads the socket directly. Afterwards it hands TLS only bytes that were
// already read, and otherwise reports errNeedInput, a temporary net.Error
// that crypto/tls returns without making it sticky (as it does for read
// timeouts). shallowConn.Read then waits for the socket itself, through
// syscall.RawConn, in a shallow frame that holds no buffer: a pooled buffer
// is taken only once the socket is readable. The result is one goroutine
// per waiting connection with a small stack and no read buffers; a Handler
// that parks its idle connections (park.go) holds not even that.

// errNeedInput means TLS has consumed every byte read so far.
var errNeedInput = needInputError{}

type needInputError struct{}

func (needInputError) Error() string   { return "transport: tls needs more input" }
func (needInputError) Timeout() bool   { return true }
func (needInputError) Temporary() bool { return true }

// feedBufferSize is the most read from the socket per wake-up; it bounds the
// syscalls a busy connection makes.
const feedBufferSize = 16 << 10

var feedBuffers = sync.Pool{New: func() any { b := make([]byte, feedBufferSize); return &b }}

// feedConn is the net.Conn that tls.Conn reads from and writes to.
type feedConn struct {
	net.Conn
	raw         syscall.RawConn
	handshaking bool
	pending     []byte
	buf         *[]byte // pooled buffer behind pending

	// State of one fill, kept here rather than on the stack.
	tryRead func(fd uintptr) bool
	fills   uint32 // fills that got bytes; tells a lingering connection it was busy
	n       int
	rerr    error
	bp      *[]byte
}

func (f *feedConn) Read(p []byte) (int, error) {
	if f.handshaking {
		return f.Conn.Read(p)
	}
	if len(f.pending) == 0 {
		return 0, errNeedInput
	}
	n := copy(p, f.pending)
	f.pending = f.pending[n:]
	if len(f.pending) == 0 {
		f.release()
	}
	return n, nil
}

func (f *feedConn) release() {
	if f.buf != nil {
		feedBuffers.Put(f.buf)
		f.buf, f.pending = nil, nil
	}
}

// fill blocks until the socket is readable, then reads what is there. It
// honours the connection's read deadline and returns os.ErrDeadlineExceeded,
// net.ErrClosed or io.EOF as a plain Read would.
func (f *feedConn) fill() error {
	f.n, f.rerr, f.bp = 0, nil, nil
	if err := f.raw.Read(f.tryRead); err != nil {
		if f.bp != nil {
			feedBuffers.Put(f.bp)
			f.bp = nil
		}
		return f.readError(err)
	}
	bp := f.bp
	f.bp = nil
	switch {
	case f.rerr != nil:
		feedBuffers.Put(bp)
		return f.readError(os.NewSyscallError("read", f.rerr))
	case f.n <= 0:
		feedBuffers.Put(bp)
		return io.EOF
	}
	f.buf, f.pending = bp, (*bp)[:f.n]
	f.fills++
	return nil
}

// readError wraps a read failure as net.Conn.Read would. It is out of line
// to keep fill's frame, which is on the stack of every idle connection, small.
//
//go:noinline
func (f *feedConn) readError(err error) error {
	return &net.OpError{Op: "read", Net: "tcp", Source: f.LocalAddr(), Addr: f.RemoteAddr(), Err: err}
}

// shallowConn is the TLS connection handed to the Handler. Its parking
// state (for Handlers that park idle connections) is in park.go.
type shallowConn struct {
	*tls.Conn
	feed *feedConn

	// A byte that Park took from TLS to learn that input was ready; Read
	// returns it first. Used only by the goroutine that owns the connection.
	peek   [1]byte
	peeked bool

	park parkState
	// Registration with the listener's poller; see poller_linux.go.
	pollID uint32
	arm    armState
	ctl    func(fd uintptr) // c.epollCtl
}

// Read returns decrypted bytes, waiting for the socket outside crypto/tls.
func (c *shallowConn) Read(p []byte) (int, error) {
	if c.peeked && len(p) > 0 {
		p[0], c.peeked = c.peek[0], false
		n, err := c.Conn.Read(p[1:])
		if err != nil { // errNeedInput, or an error that the next Read repeats
			n = 0
		}
		return 1 + n, nil
	}
	for {
		n, err := c.Conn.Read(p)
		if err != errNeedInput {
			return n, err
		}
		if n > 0 {
			return n, nil
		}
		if err := c.feed.fill(); err != nil {
			if c.lingerCut(err) {
				continue // the deadline was Park's, not the caller's
			}
			return 0, err
		}
	}
}
