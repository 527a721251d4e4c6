//go:build !race

package netio

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotorhq/rotor/engine"
	"github.com/rotorhq/rotor/netio/ws"
)

// idleSession echoes; it stands in for the engine's session (whose own memory is
// the engine's budget, not netio's).
type idleSession struct{ t engine.Transport }

func (s *idleSession) HandleFrame(p []byte) bool { _ = s.t.Enqueue(p); return true }
func (s *idleSession) OnClose()                  {}

func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

type memSnap struct {
	heap, rss  int64
	goroutines int
}

func snapshot() memSnap {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSnap{heap: int64(ms.HeapAlloc), rss: rssBytes(), goroutines: runtime.NumGoroutine()}
}

// TestIdleMemoryPerConnection measures what an idle upgraded connection costs the
// server: live heap and RSS per connection with ROTOR_IDLE_CONNS (default 5000)
// connections that each exchanged one message and then went idle. The clients run
// in a child process so their memory is not counted.
func TestIdleMemoryPerConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	if os.Getenv("ROTOR_IDLE_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 1
	}
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("ROTOR_IDLE_CONNS")); err == nil && v > 0 {
		n = v
	}
	var accepted atomic.Int64
	var mu sync.Mutex
	var sessions []*idleSession
	ts := startServer(t, Config{Accept: func(tr engine.Transport, _ *UpgradeRequest) Session {
		s := &idleSession{t: tr}
		mu.Lock()
		sessions = append(sessions, s)
		mu.Unlock()
		accepted.Add(1)
		return s
	}})
	// Warm up pools, runners and pollers with a few short-lived connections.
	runIdleClients(t, ts.Addr().String(), 50, func() {})
	for accepted.Load() < 50 {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	before := snapshot()
	var during memSnap
	runIdleClients(t, ts.Addr().String(), n, func() {
		for accepted.Load() < int64(50+n) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond)
		during = snapshot()
		if path := os.Getenv("ROTOR_IDLE_HEAPPROFILE"); path != "" {
			if f, err := os.Create(path); err == nil {
				_ = pprof.WriteHeapProfile(f)
				_ = f.Close()
			}
		}
	})
	heap := float64(during.heap-before.heap) / float64(n)
	rss := float64(during.rss-before.rss) / float64(n)
	g := float64(during.goroutines-before.goroutines) / float64(n)
	t.Logf("%d idle connections: heap %.0f B/conn, RSS %.0f B/conn, goroutines %.3f/conn", n, heap, rss, g)
	// About 1.9 KiB measured (netpoll v0.7.2, Go 1.26): 1.6 KiB of it is netpoll's
	// connection, buffers and barrier, the rest netio's conn. Without inputbuf.go
	// an idle connection also keeps a 512-byte input buffer (2.4 KiB in all).
	if heap > 2304 {
		t.Errorf("heap per idle connection %.0f B exceeds 2.25 KiB", heap)
	}
	if g > 0.01 {
		t.Errorf("%.3f goroutines per idle connection", g)
	}
	mu.Lock()
	runtime.KeepAlive(sessions)
	mu.Unlock()
}

// runIdleClients starts a child process holding n client connections, runs
// measure once they are all connected and idle, then ends the child.
func runIdleClients(t *testing.T, addr string, n int, measure func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperIdleClients$")
	cmd.Env = append(os.Environ(), "ROTOR_HELPER_ADDR="+addr, "ROTOR_HELPER_N="+strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	sc := bufio.NewScanner(stdout)
	ready := make(chan string, 1)
	go func() {
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "READY") || strings.HasPrefix(line, "ERROR") {
				ready <- line
			}
		}
		close(ready)
	}()
	select {
	case line := <-ready:
		if !strings.HasPrefix(line, "READY") {
			t.Fatalf("child: %q", line)
		}
	case <-time.After(120 * time.Second):
		t.Fatal("child not ready")
	}
	measure()
}

// TestHelperIdleClients is the child process of runIdleClients: it opens N
// WebSocket connections, sends one message on each and reads its echo, prints
// READY, and holds them until stdin closes.
func TestHelperIdleClients(t *testing.T) {
	addr := os.Getenv("ROTOR_HELPER_ADDR")
	if addr == "" {
		t.Skip("helper process only")
	}
	n, _ := strconv.Atoi(os.Getenv("ROTOR_HELPER_N"))
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	msg := cframe(true, ws.OpText, []byte(`{"id":1,"connect":{}}`))
	want := append([]byte{0x81, byte(len(`{"id":1,"connect":{}}`))}, `{"id":1,"connect":{}}`...)
	head := upgradeHead("")
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			fmt.Printf("ERROR dial %d: %v\n", i, err)
			return
		}
		conns = append(conns, c)
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(c, head+string(msg)); err != nil {
			fmt.Printf("ERROR write %d: %v\n", i, err)
			return
		}
		br := bufio.NewReaderSize(c, 512)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 101 {
			fmt.Printf("ERROR upgrade %d: %v\n", i, err)
			return
		}
		got := make([]byte, len(want))
		if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, want) {
			fmt.Printf("ERROR echo %d: %v %q\n", i, err, got)
			return
		}
		_ = c.SetDeadline(time.Time{})
	}
	fmt.Println("READY")
	_, _ = io.Copy(io.Discard, os.Stdin)
}
