//go:build linux

package transport

import (
	"fmt"
	"os"
	"sync"
	"syscall"
)

// poller tells parked connections (see park.go) that their socket became
// readable. It is one epoll instance per listener; its file descriptor is
// itself registered with Go's network poller, so the goroutine that drains
// it parks like any network read and no OS thread is held while nothing
// happens.
//
// Registrations are one-shot (EPOLLONESHOT): an event disarms the socket
// until the connection parks again. Every epoll_ctl on a socket runs inside
// its syscall.RawConn.Control, so the descriptor cannot be closed (and its
// number reused) meanwhile; a closed socket leaves the epoll set by itself.
type poller struct {
	epfd int      // the epoll descriptor, valid until done is closed
	ep   *os.File // epfd, for waiting through Go's network poller

	mu     sync.Mutex // guards conns, nextID, dead
	conns  map[uint32]*shallowConn
	nextID uint32
	dead   bool // run has returned: nothing registers any more

	closeOnce sync.Once
	done      chan struct{} // closed when run has returned
}

func newPoller() (*poller, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("transport: epoll_create1: %w", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("transport: epoll: set nonblocking: %w", err)
	}
	return &poller{
		epfd:  fd,
		ep:    os.NewFile(uintptr(fd), "epoll"),
		conns: make(map[uint32]*shallowConn),
		done:  make(chan struct{}),
	}, nil
}

// run delivers readiness to parked connections until close. Should it end
// for another reason (epoll failing), it resumes every parked connection
// and refuses new registrations, so connections wait on their goroutines
// again instead of going deaf.
func (p *poller) run() {
	defer close(p.done)
	defer p.die()
	rc, err := p.ep.SyscallConn()
	if err != nil {
		return
	}
	events := make([]syscall.EpollEvent, 128)
	var n int
	var werr error
	wait := func(fd uintptr) bool {
		for {
			n, werr = syscall.EpollWait(int(fd), events, 0)
			if werr != syscall.EINTR {
				break
			}
		}
		return werr != nil || n > 0 // nothing ready: wait for the descriptor
	}
	for {
		if err := rc.Read(wait); err != nil || werr != nil {
			return // closed (or epoll broken, which cannot happen for a valid descriptor)
		}
		for i := range events[:n] {
			ev := &events[i]
			p.mu.Lock()
			c := p.conns[uint32(ev.Fd)]
			p.mu.Unlock()
			if c != nil {
				c.ready(uint32(ev.Pad))
			}
		}
	}
}

// die marks the poller dead and resumes the connections parked on it.
func (p *poller) die() {
	p.mu.Lock()
	p.dead = true
	conns := make([]*shallowConn, 0, len(p.conns))
	for _, c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns { // lock order: c.park.mu, then p.mu; p.mu is not held here
		ps := &c.park
		ps.mu.Lock()
		if ps.parked {
			c.unparkLocked()
		}
		ps.mu.Unlock()
	}
}

// errPollerStopped is register's error once the poller has stopped.
var errPollerStopped = fmt.Errorf("transport: epoll poller stopped")

// register asks for one wake-up of c with gen when its socket is readable (or
// hung up). c.mu is held.
func (p *poller) register(c *shallowConn, gen uint32) error {
	// One critical section with die's: a connection is either in the
	// snapshot die resumes, or sees dead here.
	p.mu.Lock()
	if p.dead {
		p.mu.Unlock()
		return errPollerStopped
	}
	op := syscall.EPOLL_CTL_MOD
	if c.pollID == 0 {
		for {
			p.nextID++
			if _, taken := p.conns[p.nextID]; p.nextID != 0 && !taken {
				break
			}
		}
		c.pollID = p.nextID
		p.conns[c.pollID] = c
		op = syscall.EPOLL_CTL_ADD
	}
	p.mu.Unlock()
	c.arm.op = op
	c.arm.event = syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     int32(c.pollID),
		Pad:    int32(gen),
	}
	if err := c.feed.raw.Control(c.ctl); err != nil {
		return err // closed
	}
	if c.arm.errno != 0 {
		return fmt.Errorf("transport: epoll_ctl: %w", c.arm.errno)
	}
	return nil
}

// armState is the argument and result of one epollCtl, kept in the
// connection so that arming allocates nothing.
type armState struct {
	op    int
	errno syscall.Errno
	event syscall.EpollEvent
}

// epollCtl is c's syscall.RawConn.Control callback for arm (stored once as
// c.ctl).
func (c *shallowConn) epollCtl(fd uintptr) {
	epfd := c.park.l.poller.epfd
	c.arm.errno = errnoOf(syscall.EpollCtl(epfd, c.arm.op, int(fd), &c.arm.event))
	if c.arm.errno == syscall.ENOENT && c.arm.op == syscall.EPOLL_CTL_MOD {
		c.arm.errno = errnoOf(syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, int(fd), &c.arm.event))
	}
}

func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if e, ok := err.(syscall.Errno); ok {
		return e
	}
	return syscall.EINVAL
}

// forget drops c, whose connection has ended.
func (p *poller) forget(c *shallowConn) {
	if c.pollID == 0 {
		return
	}
	p.mu.Lock()
	delete(p.conns, c.pollID)
	p.mu.Unlock()
}

// close stops run and waits for it. Only once no connection can park any
// more (every one has ended): register uses the descriptor without a reference.
func (p *poller) close() {
	p.closeOnce.Do(func() { p.ep.Close() })
	<-p.done
}
