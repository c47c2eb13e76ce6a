package transport

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Parking: an idle connection without a goroutine.
//
// Even a shallow wait (shallow.go) keeps one goroutine, and so one stack of
// at least a few KB, per connection, and most connections of a hub are idle
// devices. A Handler that reaches a point where it has consumed all input
// can instead call Park on its connection (an MQTT TLS connection, see
// (*shallowConn).Park) and return: the connection stays open and tracked,
// the listener's poller (poller_linux.go) watches the socket, and when bytes
// arrive, the read deadline passes or the connection is closed, the
// resume function given to Park runs on a new goroutine. When a Handler, or
// a resume, returns without having parked, the transport closes the
// connection as it does for any Handler.
//
// The Handler side does not import transport: it finds the method by an
// interface of its own, as the broker does with broker.Parker.
//
// A park and its wake-up cost a few microseconds more than waiting on the
// goroutine, and a new goroutine's stack grows again, so Park first lingers:
// it waits on the calling goroutine, and parks only once no input has
// arrived for a whole window of parkAfter. A busy connection keeps its
// goroutine and pays one deadline update per window.

// parkAfter is how long a connection waits for input on its goroutine
// before it parks: it parks after between one and two windows of silence.
const parkAfter = 500 * time.Millisecond

// parkState is a shallowConn's parking state.
type parkState struct {
	l  *Listener
	tr *tracked

	mu           sync.Mutex // guards the fields below
	readDeadline time.Time  // as last set through the connection
	lingerUntil  time.Time  // end of the current linger window; zero if none
	lingerFills  uint32     // feed.fills when the window began
	rawDeadline  time.Time  // the socket's read deadline: the earlier of the two above
	parked       bool       // waiting for the poller or the timer
	closed       bool
	gen          uint32      // bumps on every park; events of older parks are ignored
	resume       func()      // given to the last Park
	timer        *time.Timer // wakes a parked connection at its read deadline

	// parks counts successful Parks. A goroutine running the Handler or a
	// resume compares it before and after: a change means the connection
	// was handed on and is no longer that goroutine's to close.
	parks atomic.Uint32
}

// Park implements broker.Parker. It reports false, arranging nothing, when
// the connection cannot park (no poller, closed, read deadline passed) or
// input is ready: a decrypted byte, or an error, that Read would return now.
// Otherwise resume will be called once, on a new goroutine, when the socket
// is readable or hung up, the read deadline passes, or the connection is
// closed; the caller must return without using the connection again.
func (c *shallowConn) Park(resume func()) bool {
	ps := &c.park
	if ps.l == nil || ps.l.poller == nil || c.peeked || resume == nil {
		return false
	}
	// TLS may hold input already: a record that arrived with an earlier one.
	// Ask it for one byte; the feed says "need input" rather than waiting.
	for {
		n, err := c.Conn.Read(c.peek[:])
		if n > 0 {
			c.peeked = true
			return false
		}
		if err != errNeedInput {
			return false // Read returns this error again
		}
		input, err := c.linger()
		if err != nil {
			return false // the next fill reports it (closed, end of stream, deadline)
		}
		if !input {
			break // a window without input: park
		}
	}

	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.lingerUntil = time.Time{}
	_ = c.applyDeadlineLocked() // the resumed reader waits under the caller's deadline
	d := ps.readDeadline
	if ps.closed || !d.IsZero() && !time.Now().Before(d) {
		return false
	}
	ps.gen++
	if err := ps.l.poller.register(c, ps.gen); err != nil {
		return false
	}
	ps.resume = resume
	ps.parked = true
	ps.parks.Add(1)
	if !d.IsZero() {
		if ps.timer == nil {
			ps.timer = time.AfterFunc(time.Until(d), c.deadlinePassed)
		} else {
			ps.timer.Reset(time.Until(d))
		}
	}
	return true
}

// linger waits on the calling goroutine for socket input until the linger
// window ends. It reports whether input arrived (now pending in the feed)
// and returns an error when the wait failed for another reason than the
// window ending with no input during it. A window that saw input is renewed.
func (c *shallowConn) linger() (input bool, err error) {
	ps := &c.park
	ps.mu.Lock()
	if now := time.Now(); ps.lingerUntil.IsZero() || !now.Before(ps.lingerUntil) {
		ps.lingerUntil, ps.lingerFills = now.Add(parkAfter), c.feed.fills
		_ = c.applyDeadlineLocked()
	}
	ps.mu.Unlock()
	for {
		err := c.feed.fill()
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return false, err
		}
		ps.mu.Lock()
		now := time.Now()
		switch {
		case !ps.readDeadline.IsZero() && !now.Before(ps.readDeadline):
			ps.mu.Unlock()
			return false, err // the caller's deadline
		case c.feed.fills == ps.lingerFills:
			ps.mu.Unlock()
			return false, nil // a whole window without input
		}
		ps.lingerUntil, ps.lingerFills = now.Add(parkAfter), c.feed.fills
		_ = c.applyDeadlineLocked()
		ps.mu.Unlock()
	}
}

// lingerCut reports whether err from a fill in Read was the end of a linger
// window rather than the caller's deadline; it then ends the window, so that
// the retried fill waits under the caller's deadline alone.
func (c *shallowConn) lingerCut(err error) bool {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	ps := &c.park
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.lingerUntil.IsZero() || !ps.readDeadline.IsZero() && !time.Now().Before(ps.readDeadline) {
		return false
	}
	ps.lingerUntil = time.Time{}
	_ = c.applyDeadlineLocked()
	return true
}

// applyDeadlineLocked sets the socket's read deadline to the earlier of the
// caller's deadline and the linger window's end, if it changed. c.park.mu
// is held.
func (c *shallowConn) applyDeadlineLocked() error {
	ps := &c.park
	d := ps.readDeadline
	if !ps.lingerUntil.IsZero() && (d.IsZero() || ps.lingerUntil.Before(d)) {
		d = ps.lingerUntil
	}
	if d.Equal(ps.rawDeadline) {
		return nil
	}
	ps.rawDeadline = d
	return c.feed.Conn.SetReadDeadline(d)
}

// ready is called by the poller when the socket of a parked connection is
// readable. Events of an earlier park are ignored.
func (c *shallowConn) ready(gen uint32) {
	ps := &c.park
	ps.mu.Lock()
	if !ps.parked || ps.gen != gen {
		ps.mu.Unlock()
		return
	}
	c.unparkLocked()
	ps.mu.Unlock()
}

// deadlinePassed is the timer's function: it resumes a parked connection
// whose read deadline has passed, so that its Read reports the timeout.
func (c *shallowConn) deadlinePassed() {
	ps := &c.park
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if !ps.parked || ps.readDeadline.IsZero() {
		return
	}
	if left := time.Until(ps.readDeadline); left > 0 {
		ps.timer.Reset(left) // a timer of an earlier park, late
		return
	}
	c.unparkLocked()
}

// unparkLocked resumes a parked connection on a new goroutine. c.park.mu is
// held.
func (c *shallowConn) unparkLocked() {
	ps := &c.park
	ps.parked = false
	if ps.timer != nil {
		ps.timer.Stop()
	}
	go ps.l.runResume(c, ps.resume)
}

// Close closes the connection (with a TLS close_notify) and resumes it if
// it is parked, so that its reader sees the close.
func (c *shallowConn) Close() error {
	wasParked := c.markClosed()
	err := c.Conn.Close()
	if wasParked {
		go c.park.l.runResume(c, c.park.resume)
	}
	return err
}

// closeSocket closes the TCP connection without a TLS close_notify (used at
// a forced shutdown) and resumes the connection if it is parked.
func (c *shallowConn) closeSocket() {
	wasParked := c.markClosed()
	_ = c.feed.Conn.Close()
	if wasParked {
		go c.park.l.runResume(c, c.park.resume)
	}
}

// markClosed records the close and reports whether the connection was
// parked (it is not any more; the caller resumes it after closing).
func (c *shallowConn) markClosed() bool {
	ps := &c.park
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.closed = true
	wasParked := ps.parked
	ps.parked = false
	if wasParked && ps.timer != nil {
		ps.timer.Stop()
	}
	return wasParked
}

// SetReadDeadline sets the read deadline, which also bounds a park.
func (c *shallowConn) SetReadDeadline(t time.Time) error {
	c.park.mu.Lock()
	defer c.park.mu.Unlock()
	c.park.readDeadline = t
	return c.applyDeadlineLocked()
}

// SetDeadline sets the read and write deadlines.
func (c *shallowConn) SetDeadline(t time.Time) error {
	_ = c.SetReadDeadline(t)
	return c.Conn.SetWriteDeadline(t)
}

// parkCount returns how often c has parked; 0 for a nil c.
func (c *shallowConn) parkCount() uint32 {
	if c == nil {
		return 0
	}
	return c.park.parks.Load()
}
