//go:build linux

package netio

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/rotorhq/rotor/engine"
)

// stalledDialer dials TCP connections that fill the server's socket quickly: on
// loopback a small receive buffer alone does not do it (the sender's buffer grows
// to megabytes), so the MSS is capped too, before connect.
func stalledDialer() *net.Dialer {
	return &net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096); serr != nil {
				return
			}
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 536)
		})
		if err != nil {
			return err
		}
		return serr
	}}
}

// dialStalled upgrades a connection that will never read after the handshake.
func dialStalled(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := stalledDialer().Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, upgradeHead("")); err != nil {
		t.Fatal(err)
	}
	// Read the 101 byte by byte, so nothing after it is taken off the socket.
	var head []byte
	b := make([]byte, 1)
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		if _, err := c.Read(b); err != nil {
			t.Fatalf("upgrade: %v", err)
		}
		head = append(head, b[0])
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	_ = c.SetDeadline(time.Time{})
	return c.(*net.TCPConn)
}

// sockQueued returns the bytes in fd's send queue (not yet acknowledged) and in its
// receive queue (not yet read).
func sockQueued(t *testing.T, fd int) (out, in int) {
	t.Helper()
	var v int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&v))); e != 0 {
		t.Fatal(e)
	}
	out = int(v)
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCINQ, uintptr(unsafe.Pointer(&v))); e != 0 {
		t.Fatal(e)
	}
	return out, int(v)
}

func tcpFd(t *testing.T, c *net.TCPConn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	_ = rc.Control(func(f uintptr) { fd = int(f) })
	return fd
}

// TestStalledConnDoesNotDelayOthers puts a client that stopped reading and a
// normal one on the same (only) flush worker. The stalled connection's socket
// fills up; the normal client must still get its messages at once, long before
// the stalled one's write timeout, and the stalled one must stay open meanwhile
// (the write timeout, not the other traffic, decides its fate).
func TestStalledConnDoesNotDelayOthers(t *testing.T) {
	const writeTimeout = 10 * time.Second
	ts := startServer(t, Config{FlushWorkers: 1, WriteTimeout: writeTimeout, QueueMaxSize: 64 << 20})
	stalled := dialStalled(t, ts.Addr().String())
	es := ts.session(t)
	normal := dial(t, ts.url+"/connection/websocket")
	en := ts.session(t)

	// Far more than the kernel buffers of a stalled connection hold (a few hundred
	// KiB with the capped MSS): the worker reaches a full socket while sending it.
	chunk := bytes.Repeat([]byte{'s'}, 256<<10)
	for i := 0; i < 32; i++ {
		if err := es.t.Enqueue(chunk); err != nil {
			t.Fatal(err)
		}
	}
	// Queued behind the stalled connection on the worker's FIFO.
	start := time.Now()
	for i := 0; i < 10; i++ {
		msg := []byte("hello-" + string(rune('0'+i)))
		if err := en.t.Enqueue(msg); err != nil {
			t.Fatal(err)
		}
		_ = normal.SetReadDeadline(time.Now().Add(writeTimeout / 2))
		_, p, err := normal.ReadMessage()
		if err != nil {
			t.Fatalf("message %d to the normal client after %v: %v (held up by the stalled connection)", i, time.Since(start), err)
		}
		if !bytes.Equal(p, msg) {
			t.Fatalf("got %q, want %q", p, msg)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("normal client served in %v with a stalled connection on its worker", d)
	}
	sc := es.t.(*conn)
	if sc.stallCount() == 0 {
		t.Fatal("the stalled connection's socket never filled")
	}
	select {
	case <-es.closed:
		t.Fatal("stalled connection closed before its write timeout")
	default:
	}
	_ = stalled.Close()
	waitClosed(t, es)
	_ = normal.Close()
	waitClosed(t, en)
}

// TestStalledClientHoldsAtMostQueueMaxSize fills the queue of a client that stopped
// reading until Enqueue refuses (where the engine disconnects it with 3008) and
// measures what the server holds for it then: everything accepted minus what the
// kernel has taken (the server socket's send queue plus the client's unread receive
// queue). Frame headers make the kernel side a little larger, separators the
// accepted side; one message of slack covers both.
//
// It starts as a reply burst does (a subscribe with recovery, say): the reader
// queues three quarters of the limit in one batch and flushes it at the batch end,
// so most of that batch is left unsent when the socket fills. Publications then
// keep coming until the queue refuses one.
func TestStalledClientHoldsAtMostQueueMaxSize(t *testing.T) {
	const max = 256 << 10
	ts := startServer(t, Config{WriteTimeout: 10 * time.Second, QueueMaxSize: max})
	client := dialStalled(t, ts.Addr().String())
	clientFd := tcpFd(t, client)
	e := ts.session(t)
	sc := e.t.(*conn)
	msg := bytes.Repeat([]byte{'m'}, 2048)
	accepted := 0
	enqueue := func() error {
		err := e.t.Enqueue(msg)
		if err == nil {
			accepted += len(msg) + 1
		}
		return err
	}

	// The test goroutine plays the connection's reader for one batch (the real
	// reader is idle: the client sends nothing).
	sc.beginRead()
	for accepted < max*3/4 {
		if err := enqueue(); err != nil {
			t.Fatal(err)
		}
	}
	batchDone := make(chan struct{})
	go func() {
		defer close(batchDone)
		sc.endRead()
	}()
	// Wait until the batch reached the socket.
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, in := sockQueued(t, clientFd); in > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing reached the client")
		}
		time.Sleep(time.Millisecond)
	}
	for {
		err := enqueue()
		if errors.Is(err, engine.ErrSlowConsumer) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if accepted > 4*max {
			t.Fatalf("queue never filled after %d bytes", accepted)
		}
	}
	// The queue refused a message; the flush worker may not have reached the full
	// socket yet (the enqueues above can outrun it). Everything queued is more
	// than the kernel takes, so it must get there.
	for deadline := time.Now().Add(5 * time.Second); sc.stallCount() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the socket never filled")
		}
		time.Sleep(time.Millisecond)
	}
	sout, _ := sockQueued(t, sc.fd)
	_, cin := sockQueued(t, clientFd)
	held := accepted - sout - cin
	t.Logf("accepted %d B, server send queue %d B, client receive queue %d B: server holds %d B (queue_max_size %d)",
		accepted, sout, cin, held, max)
	if held > max+len(msg) {
		t.Errorf("server holds %d B for a stalled client, more than queue_max_size %d + one message", held, max)
	}
	e.t.Close(engine.DisconnectSlow)
	_ = client.Close()
	<-batchDone
	waitClosed(t, e)
}
