//go:build !linux

package benchmarks

import (
	"net"
	"sync"
	"time"
)

// nullServer answers every HTTP/1.1 request with nullReply, reading nothing of the
// request but its head's end and Content-Length: the least any HTTP server can do,
// on a goroutine per connection as Go servers run.
type nullServer struct {
	ln net.Listener
	wg sync.WaitGroup
	mu sync.Mutex
	cs []net.Conn
}

func startNullServer(int) (*nullServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &nullServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.cs = append(s.cs, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				serveNull(c)
			}()
		}
	}()
	return s, nil
}

func (s *nullServer) addr() string { return s.ln.Addr().String() }

// close stops the server. It cannot tell the server's CPU apart from the client's
// on this system, so it reports none.
func (s *nullServer) close() (cpu time.Duration, ok bool) {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.cs {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return 0, false
}

func serveNull(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 16<<10)
	n := 0
	for {
		m, err := c.Read(buf[n:])
		if err != nil {
			return
		}
		n += m
		replies := 0
		for {
			total, ok := nullRequestLen(buf[:n])
			if !ok {
				break
			}
			if total > len(buf) {
				return // larger than the null server takes
			}
			if total > n {
				break
			}
			replies++
			n = copy(buf, buf[total:n])
		}
		if n == len(buf) {
			return
		}
		for range replies {
			if _, err := c.Write(nullReply); err != nil {
				return
			}
		}
	}
}
