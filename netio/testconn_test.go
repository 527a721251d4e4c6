package netio

import (
	"syscall"
	"testing"

	"github.com/cloudwego/netpoll"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/netio/ws"
)

// newSocketConn builds a conn over one end of a Unix socket pair wrapped by
// netpoll.NewFDConnection (no listener, no OnRequest), for the outbound path:
// Enqueue, the flush token, direct sends and the netpoll fallback when the socket
// is full. A goroutine discards what arrives at the other end.
func newSocketConn(tb testing.TB, proto codec.Protocol) *conn {
	tb.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		tb.Fatal(err)
	}
	for _, fd := range fds {
		_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 8<<20)
		_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, 8<<20)
	}
	Init()
	nc, err := netpoll.NewFDConnection(fds[0])
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 256<<10)
		for {
			n, err := syscall.Read(fds[1], buf)
			if n <= 0 || err != nil {
				return
			}
		}
	}()
	tb.Cleanup(func() {
		_ = nc.Close()
		<-done
		_ = syscall.Close(fds[1])
	})
	s := &Server{cfg: Config{QueueMaxSize: 1 << 20}}
	c := &conn{srv: s, nc: nc, fd: fds[0], w: &worker{wake: make(chan struct{}, 1)}, proto: proto, dataOp: ws.OpText}
	if proto == codec.ProtocolProtobuf {
		c.dataOp = ws.OpBinary
	}
	c.mode = modeWebSocket
	return c
}

// runQueued plays the flush worker for c's worker queue.
func runQueued(c *conn) {
	w := c.w
	for {
		w.mu.Lock()
		q := w.head
		if q == nil {
			w.mu.Unlock()
			return
		}
		w.head = q.qnext
		if w.head == nil {
			w.tail = nil
		}
		q.qnext = nil
		q.queued.Store(false)
		w.mu.Unlock()
		q.runWorker()
	}
}
