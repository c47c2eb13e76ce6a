package broker

import (
	"sync"
	"time"

	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

// The outbound path: packets are encoded into the client's buffer by
// whichever goroutine produces them (the publisher's reader, the client's own
// reader for acks), and a writer goroutine exists only while the buffer has
// bytes. It swaps the buffer out, writes it in one call (coalescing
// everything that queued up meanwhile) and exits when nothing is left, so an
// idle connection has no writer goroutine and no buffer.

// maxPooledBuffer is the largest write buffer kept for reuse.
const maxPooledBuffer = 64 << 10

var bufferPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func getBuffer() []byte { return (*bufferPool.Get().(*[]byte))[:0] }

func putBuffer(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooledBuffer {
		return
	}
	b = b[:0]
	bufferPool.Put(&b)
}

// send queues a control packet.
func (c *client) send(p packet.Packet) {
	c.queue(p, false)
}

// maxAckHold bounds how long sendHeld keeps an ack back.
const maxAckHold = 5 * time.Millisecond

// sendHeld queues an ack without starting the writer: it leaves with the
// next packet queued for this client, typically the answer of an
// in-process responder (see Broker.SubscribeResponder), in the same write,
// or after maxAckHold. Order is kept: the buffer is first in, first out.
func (c *client) sendHeld(p packet.Packet) {
	c.queue(p, true)
}

func (c *client) queue(p packet.Packet, hold bool) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wclosed {
		return
	}
	if c.wbuf == nil {
		c.wbuf = getBuffer()
	}
	out, err := packet.Append(c.wbuf, p, c.version)
	if err != nil {
		// The error names the packet type; p itself stays out of the log
		// call so that callers' packets do not escape to the heap.
		c.log.Error("mqtt: encode packet", "client_id", c.clientID, "err", err)
		return
	}
	c.wbuf = out
	if !hold || c.writing {
		c.startWriterLocked()
		return
	}
	if c.holdArmed {
		return // the earlier held ack's deadline stands
	}
	c.holdArmed = true
	if c.holdTimer == nil {
		c.holdTimer = time.AfterFunc(maxAckHold, c.releaseHeld)
	} else {
		c.holdTimer.Reset(maxAckHold)
	}
}

// releaseHeld is the hold timer's function: held acks leave now.
func (c *client) releaseHeld() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.holdArmed = false
	if !c.wclosed {
		c.startWriterLocked()
	}
}

// startWriterLocked starts the writer if there are bytes and none runs.
// c.wmu is held.
func (c *client) startWriterLocked() {
	if c.holdArmed && len(c.wbuf) > 0 {
		c.holdTimer.Stop() // what was held leaves now
		c.holdArmed = false
	}
	if c.writing || len(c.wbuf) == 0 {
		return
	}
	c.writing = true
	c.writerWG.Add(1)
	go c.writeLoop()
}

func (c *client) writeLoop() {
	defer c.writerWG.Done()
	var spare []byte
	for {
		c.wmu.Lock()
		if len(c.wbuf) == 0 || c.wclosed {
			c.writing = false
			if len(c.wbuf) == 0 {
				putBuffer(c.wbuf)
				c.wbuf = nil
			}
			c.wmu.Unlock()
			putBuffer(spare)
			c.afterDrain()
			return
		}
		buf := c.wbuf
		if spare != nil {
			c.wbuf = spare[:0]
		} else {
			c.wbuf = nil
		}
		spare = nil
		c.wmu.Unlock()

		_ = c.conn.SetWriteDeadline(c.b.now().Add(c.b.cfg.WriteTimeout))
		if _, err := c.conn.Write(buf); err != nil {
			c.wmu.Lock()
			c.wclosed = true
			c.writing = false
			putBuffer(c.wbuf)
			c.wbuf = nil
			c.wmu.Unlock()
			c.setCloseIfEmpty(ReasonConnectionLost, "write failed: "+err.Error())
			c.closeConn()
			return
		}
		spare = buf
	}
}

// outboundFull reports whether the outbound buffer is over its limit.
func (c *client) outboundFull() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return len(c.wbuf) >= c.b.cfg.MaxOutboundBytes
}

// setCongested notes that the session stopped moving messages into flight
// because the buffer was full; the writer resumes it once drained.
func (c *client) setCongested() {
	c.wmu.Lock()
	c.congested = true
	c.wmu.Unlock()
}

func (c *client) afterDrain() {
	c.wmu.Lock()
	resume := c.congested && !c.wclosed
	c.congested = false
	c.wmu.Unlock()
	if resume && c.sess != nil {
		c.sess.resume(c)
	}
}

// writeNow writes p synchronously, bypassing the queue; used for the last
// words before closing (refused CONNACK, DISCONNECT).
func (c *client) writeNow(p packet.Packet, version byte) {
	buf, err := packet.Append(make([]byte, 0, 64), p, version)
	if err != nil {
		return
	}
	_ = c.conn.SetWriteDeadline(c.b.now().Add(writeNowTimeout))
	_, _ = c.conn.Write(buf)
}

// sendAndClose writes p and closes the connection (used from other goroutines
// to disconnect a client).
func (c *client) sendAndClose(p packet.Packet) {
	c.writeNow(p, c.version)
	c.closeConn()
}

// shutdownWriter stops the outbound path and waits for the writer to exit.
// The connection must already be closed (or about to be), so a blocked write
// returns.
func (c *client) shutdownWriter() {
	c.wmu.Lock()
	c.wclosed = true
	c.wmu.Unlock()
	c.writerWG.Wait()
	c.wmu.Lock()
	putBuffer(c.wbuf)
	c.wbuf = nil
	c.wmu.Unlock()
}
