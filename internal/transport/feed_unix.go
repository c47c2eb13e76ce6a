//go:build !windows

package transport

import (
	"net"
	"syscall"
)

// newFeed wraps a raw TCP connection for a TLS server, or returns nil when
// the connection does not expose its file descriptor (then TLS reads the
// socket directly).
func newFeed(raw net.Conn) *feedConn {
	sc, ok := raw.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	f := &feedConn{Conn: raw, raw: rc, handshaking: true}
	f.tryRead = f.readSocket
	return f
}

// readSocket is the syscall.RawConn callback of fill (stored once as
// tryRead, so no closure is built on the parked goroutine's stack). It takes
// a buffer only when the socket has data.
func (f *feedConn) readSocket(fd uintptr) bool {
	bp := feedBuffers.Get().(*[]byte)
	n, err := syscall.Read(int(fd), *bp)
	if err == syscall.EAGAIN || err == syscall.EINTR {
		feedBuffers.Put(bp)
		return false // not readable yet: park until it is
	}
	f.n, f.rerr, f.bp = n, err, bp
	return true
}
