//go:build linux

package benchmarks

import (
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// nullServer answers every HTTP/1.1 request with nullReply and does nothing else:
// one epoll loop per core on its own OS thread, one read per readiness event and
// one write per batch of complete requests, no Go scheduler or netpoller in the
// way. It is the least CPU any server spends on a keep-alive request here, and it
// measures that CPU by the loop threads' own clocks, apart from the client's.
type nullServer struct {
	ln   net.Listener
	lfd  int
	stop atomic.Bool
	wg   sync.WaitGroup
	cpu  atomic.Int64 // CPU ns of all loop threads, added as each loop ends
}

const epollExclusive = 1 << 28 // EPOLLEXCLUSIVE: one loop wakes per new connection

func startNullServer(loops int) (*nullServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	lfd, err := rawFD(ln.(*net.TCPListener))
	if err != nil {
		ln.Close()
		return nil, err
	}
	s := &nullServer{ln: ln, lfd: lfd}
	ready := make(chan error, loops)
	for range max(loops, 1) {
		s.wg.Add(1)
		go s.loop(ready)
	}
	for range max(loops, 1) {
		if err := <-ready; err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

func (s *nullServer) addr() string { return s.ln.Addr().String() }

// close stops the loops and returns their CPU time.
func (s *nullServer) close() (cpu time.Duration, ok bool) {
	s.stop.Store(true)
	s.wg.Wait()
	s.ln.Close()
	return time.Duration(s.cpu.Load()), true
}

// threadCPU is the calling OS thread's CPU time.
func threadCPU() time.Duration {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}

type nullConn struct {
	buf []byte
	n   int
}

func (s *nullServer) loop(ready chan<- error) {
	defer s.wg.Done()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		ready <- err
		return
	}
	defer syscall.Close(ep)
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, s.lfd, &syscall.EpollEvent{Events: syscall.EPOLLIN | epollExclusive, Fd: int32(s.lfd)}); err != nil {
		ready <- err
		return
	}
	ready <- nil
	conns := map[int]*nullConn{}
	defer func() {
		for fd := range conns {
			syscall.Close(fd)
		}
	}()
	cpu0 := threadCPU()
	defer func() { s.cpu.Add(int64(threadCPU() - cpu0)) }()
	evs := make([]syscall.EpollEvent, 128)
	out := make([]byte, 0, 64*len(nullReply))
	for !s.stop.Load() {
		n, err := syscall.EpollWait(ep, evs, 20)
		if err != nil && err != syscall.EINTR {
			return
		}
		for _, ev := range evs[:max(n, 0)] {
			fd := int(ev.Fd)
			if fd == s.lfd {
				s.accept(ep, conns)
				continue
			}
			c := conns[fd]
			if c == nil {
				continue
			}
			if !s.serve(fd, c, out) {
				syscall.Close(fd)
				delete(conns, fd)
			}
		}
	}
}

func (s *nullServer) accept(ep int, conns map[int]*nullConn) {
	for {
		fd, _, err := syscall.Accept4(s.lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if err != nil {
			return // EAGAIN: another loop took it, or none left
		}
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}); err != nil {
			syscall.Close(fd)
			continue
		}
		conns[fd] = &nullConn{buf: make([]byte, 16<<10)}
	}
}

// serve reads what fd has and answers every complete request in one write; false
// closes the connection.
func (s *nullServer) serve(fd int, c *nullConn, out []byte) bool {
	m, err := syscall.Read(fd, c.buf[c.n:])
	if err == syscall.EAGAIN || err == syscall.EINTR {
		return true
	}
	if err != nil || m <= 0 {
		return false
	}
	c.n += m
	out = out[:0]
	for {
		total, ok := nullRequestLen(c.buf[:c.n])
		if !ok || total > c.n {
			break
		}
		out = append(out, nullReply...)
		c.n = copy(c.buf, c.buf[total:c.n])
	}
	if c.n == len(c.buf) {
		return false // a request larger than the null server takes
	}
	for len(out) > 0 {
		w, err := syscall.Write(fd, out)
		if err == syscall.EAGAIN || err == syscall.EINTR {
			continue // replies are tiny; the client is reading
		}
		if err != nil {
			return false
		}
		out = out[w:]
	}
	return true
}
