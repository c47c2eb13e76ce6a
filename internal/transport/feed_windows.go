package transport

import "net"

// newFeed returns nil on Windows: TLS reads the socket directly, as for
// WebSocket connections. The feed reads a socket handle without blocking
// when it has data (shallow.go); Windows sockets are overlapped and
// blocking, and that path is neither written nor tested there. Idle
// connections then cost their full TLS read stack, which matters only at
// tens of thousands of devices.
func newFeed(net.Conn) *feedConn { return nil }
