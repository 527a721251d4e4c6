package benchmarks

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/fasthttp/websocket"
)

// Stalled subscribers stop reading right after their subscribe reply, as a client
// on a dead mobile link or a frozen tab does. On loopback a small receive buffer
// alone does not fill the server's socket (the kernel grows the sender's buffer
// to megabytes), so the MSS is capped as well, before connect: then the server
// meets a full socket after a few tens of KiB and must queue the rest itself.
const (
	stalledRcvBuf = 4096 // SO_RCVBUF of a stalled subscriber
	stalledMSS    = 536  // TCP_MAXSEG of a stalled subscriber
)

// stalledOutcome names how a stalled subscriber found its connection when it read
// again at the end of the run: the close code the server sent, or one of these.
const (
	outcomeNoCloseFrame = "closed without close frame"
	outcomeOpen         = "still open"
	outcomeFailed       = "handshake failed"
)

// stalledSet runs the stalled subscribers of a fanout run.
type stalledSet struct {
	n      int
	every  time.Duration
	opts   clientOptions
	dialer *websocket.Dialer
	cnt    *counters

	mu    sync.Mutex
	conns []*benchConn
	wg    sync.WaitGroup
}

func newStalledSet(o clientOptions, n int, every time.Duration) *stalledSet {
	d := newDialer(&o)
	nd := &net.Dialer{Timeout: o.handshake, Control: capSocket}
	d.NetDialContext = nd.DialContext
	return &stalledSet{n: n, every: every, opts: o, dialer: d, cnt: newCounters()}
}

// start launches the stalled subscribers of channel, one every s.every (the first
// after one interval), until all are started or ctx ends. It does not block.
func (s *stalledSet) start(ctx context.Context, channel string) {
	if s.n == 0 {
		return
	}
	chans := []string{channel}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(s.every)
		defer t.Stop()
		for i := 0; i < s.n; i++ {
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
			t.Reset(s.every)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				c := &benchConn{proto: s.opts.proto}
				user := "bench-stalled-" + strconv.Itoa(i)
				// Publications that come with the subscribe reply are not counted:
				// only the normal subscribers' deliveries are.
				if err := c.handshake(ctx, &s.opts, s.dialer, user, chans, nil, s.cnt); err != nil {
					s.cnt.failed.Add(1)
					s.cnt.noteSample(err)
					if c.ws != nil {
						_ = c.ws.Close()
					}
					return
				}
				s.cnt.established.Add(1)
				s.mu.Lock()
				s.conns = append(s.conns, c)
				s.mu.Unlock()
			}()
		}
	}()
}

// stalledResult is what the stalled subscribers found when they read again.
type stalledResult struct {
	established int64
	outcomes    map[string]int64 // by close code, or one of the outcome constants
	readBytes   int64            // data frame bytes they read at the end, in all
}

// finish waits for the launches, then has every stalled subscriber read what the
// server left for it (at most bound) to learn how it was closed, and closes it.
func (s *stalledSet) finish(bound time.Duration) stalledResult {
	s.wg.Wait()
	res := stalledResult{outcomes: map[string]int64{}}
	if s.n == 0 {
		return res
	}
	res.established = int64(len(s.conns))
	if f := s.n - len(s.conns); f > 0 {
		res.outcomes[outcomeFailed] = int64(f)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	deadline := time.Now().Add(bound)
	for _, c := range s.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name, n := readToClose(c, deadline)
			mu.Lock()
			res.outcomes[name]++
			res.readBytes += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	return res
}

// readToClose discards frames until the connection ends or deadline, and names
// the outcome; it also returns the data bytes read.
func readToClose(c *benchConn, deadline time.Time) (string, int64) {
	defer c.ws.Close()
	_ = c.ws.SetReadDeadline(deadline)
	var total int64
	for {
		_, r, err := c.ws.NextReader()
		if err == nil {
			var n int64
			n, err = io.Copy(io.Discard, r)
			total += n
		}
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		var ne net.Error
		switch {
		case errors.As(err, &ce) && ce.Code == websocket.CloseAbnormalClosure:
			// The library's name for a connection that ended without a close frame.
			return outcomeNoCloseFrame, total
		case errors.As(err, &ce):
			return strconv.Itoa(ce.Code), total
		case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, os.ErrDeadlineExceeded):
			return outcomeOpen, total
		default:
			return outcomeNoCloseFrame, total
		}
	}
}

// capSocket is the net.Dialer Control of stalled subscribers: small receive buffer,
// capped MSS, set before connect so the SYN advertises them.
func capSocket(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, stalledRcvBuf); serr != nil {
			return
		}
		serr = setMSS(int(fd), stalledMSS)
	})
	if err != nil {
		return err
	}
	return serr
}
