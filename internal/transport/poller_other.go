//go:build !linux

package transport

import "errors"

// poller is Linux-only (epoll); elsewhere connections never park and wait
// for input on their goroutine.
type poller struct{}

func newPoller() (*poller, error) {
	return nil, errors.New("transport: parking idle connections needs Linux")
}

func (p *poller) run()                                      {}
func (p *poller) register(c *shallowConn, gen uint32) error { return errors.ErrUnsupported }
func (p *poller) forget(c *shallowConn)                     {}
func (p *poller) close()                                    {}

type armState struct{}

func (c *shallowConn) epollCtl(fd uintptr) {}
