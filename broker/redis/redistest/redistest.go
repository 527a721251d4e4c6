// Package redistest starts real Redis processes on loopback for tests: a standalone
// server, a 3-master Redis Cluster and a Sentinel setup. Each process runs in a
// t.TempDir with persistence off, on a free port, and is killed by PID when the test
// ends. A missing binary (redis-server, redis-cli, redis-sentinel) fails the test:
// it never skips.
package redistest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long a process may take to answer PING.
const startTimeout = 10 * time.Second

// Server is one redis-server (or redis-sentinel) process.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	pre  []string // arguments before --port (sentinel's config file)
	args []string
	// portFlag is the option taking the port: --port, or --tls-port for a TLS
	// server (whose plain port is 0).
	portFlag string
	// tls, for a TLS server, trusts its certificate; CAPEM is its CA.
	tls   *tls.Config
	CAPEM []byte

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port is the server's TCP port.
func (s *Server) Port() int { return s.port }

// URL is redis://127.0.0.1:port.
func (s *Server) URL() string { return "redis://" + s.Addr() }

// Dir is the server's working directory.
func (s *Server) Dir() string { return s.dir }

// lookBin returns the path of a Redis binary or fails the test.
func lookBin(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("redistest: %s not found in PATH (install redis-server, redis-sentinel and redis-cli): %v", name, err)
	}
	return p
}

// FreePort returns a TCP port free on 127.0.0.1 at the time of the call.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start starts a standalone redis-server with persistence off and waits until it
// answers PING. Extra arguments are appended to the command line
// ("--requirepass", "secret", …).
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	return startServer(t, lookBin(t, "redis-server"), extra)
}

func startServer(t testing.TB, bin string, extra []string) *Server {
	t.Helper()
	s := &Server{t: t, bin: bin, dir: t.TempDir()}
	s.args = append([]string{
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--protected-mode", "no",
		"--dir", s.dir,
		"--logfile", filepath.Join(s.dir, "redis.log"),
	}, extra...)
	t.Cleanup(s.Kill)
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		s.port = FreePort(t)
		if err = s.launch(); err == nil {
			return s
		}
	}
	t.Fatalf("redistest: %v", err)
	return nil
}

// launch starts the process on s.port and waits for PING.
func (s *Server) launch() error {
	flag := s.portFlag
	if flag == "" {
		flag = "--port"
	}
	args := append(append(append([]string{}, s.pre...), flag, strconv.Itoa(s.port)), s.args...)
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.bin, err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("%s on port %d exited at start; log:\n%s", s.bin, s.port, s.log())
		default:
		}
		if s.up() {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Kill()
	return fmt.Errorf("%s on port %d did not answer PING in %s; log:\n%s", s.bin, s.port, startTimeout, s.log())
}

func (s *Server) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// up reports whether the server answers PING (NOAUTH counts: a server with a
// password is up).
func (s *Server) up() bool {
	reply, err := s.Do("PING")
	if err != nil {
		var re replyError
		return errors.As(err, &re) && strings.HasPrefix(string(re), "NOAUTH")
	}
	return reply == "PONG"
}

// Kill kills the process (SIGKILL, by PID) and waits until its port is closed.
// Killing a stopped server does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", s.Addr(), 100*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
}

// Restart kills the server and starts it again on the same port (with no data:
// persistence is off). It fails the test when the port cannot be taken again.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if err = s.launch(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restart: %v", err)
}

// Start starts a killed server again on the same port.
func (s *Server) Start() { s.Restart() }

// Do sends one command and returns the reply as text (see Do); over TLS for a
// TLS server.
func (s *Server) Do(args ...string) (string, error) {
	if s.tls == nil {
		return Do(s.Addr(), args...)
	}
	d := &net.Dialer{Timeout: time.Second}
	c, err := tls.DialWithDialer(d, "tcp", s.Addr(), s.tls)
	if err != nil {
		return "", err
	}
	defer c.Close()
	items, err := roundTrip(c, args)
	return strings.Join(items, "\n"), err
}

// MustDo is Do that fails the test on an error or an error reply.
func (s *Server) MustDo(args ...string) string {
	s.t.Helper()
	r, err := s.Do(args...)
	if err != nil {
		s.t.Fatalf("redistest: %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// Do sends one command to addr over a fresh connection (RESP2) and returns the
// reply flattened to text: simple strings, bulk strings and integers as they are,
// nil as "(nil)", arrays as their items joined by "\n" (nested arrays flattened).
// An error reply is returned as an error.
func Do(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	items, err := roundTrip(c, args)
	if err != nil {
		return "", err
	}
	return strings.Join(items, "\n"), nil
}

// roundTrip writes one command on c and reads its reply.
func roundTrip(c net.Conn, args []string) ([]string, error) {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return nil, err
	}
	return readReply(bufio.NewReader(c))
}

// DoList is Do returning the flattened reply items.
func DoList(addr string, args ...string) ([]string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return roundTrip(c, args)
}

type replyError string

func (e replyError) Error() string { return string(e) }

func readReply(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, fmt.Errorf("empty reply line")
	}
	switch line[0] {
	case '+', ':':
		return []string{line[1:]}, nil
	case '-':
		return nil, replyError(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return []string{"(nil)"}, nil
		}
		buf := make([]byte, n+2)
		if _, err := ioReadFull(r, buf); err != nil {
			return nil, err
		}
		return []string{string(buf[:n])}, nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return []string{"(nil)"}, nil
		}
		var out []string
		for i := 0; i < n; i++ {
			items, err := readReply(r)
			if err != nil {
				return nil, err
			}
			out = append(out, items...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected reply %q", line)
}

func ioReadFull(r *bufio.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Cluster is a Redis Cluster of three masters without replicas.
type Cluster struct {
	Nodes []*Server
}

// Addrs are the host:port of every node.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr()
	}
	return out
}

// StartCluster starts three redis-server processes in cluster mode, joins them with
// redis-cli --cluster create (no replicas) and waits until every node reports
// cluster_state:ok.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := lookBin(t, "redis-server")
	cli := lookBin(t, "redis-cli")
	c := &Cluster{}
	for i := 0; i < 3; i++ {
		c.Nodes = append(c.Nodes, startServer(t, bin, []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000",
		}))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(startTimeout)
	for _, n := range c.Nodes {
		for {
			info, err := n.Do("CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: cluster node %s not ok: %v %s", n.Addr(), err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// Sentinel is a master redis-server watched by one redis-sentinel, with
// optional replicas.
type Sentinel struct {
	Master     *Server
	Replicas   []*Server
	Sentinel   *Server
	MasterName string
}

// StartSentinel starts a master and a redis-sentinel monitoring it under
// masterName (quorum 1), and waits until the sentinel reports the master.
func StartSentinel(t testing.TB, masterName string) *Sentinel {
	t.Helper()
	return StartSentinelReplicas(t, masterName, 0)
}

// StartSentinelReplicas is StartSentinel with n replicas of the master, in sync
// before the sentinel starts (so it knows them at once).
func StartSentinelReplicas(t testing.TB, masterName string, n int) *Sentinel {
	t.Helper()
	// No 5 s wait before the first (diskless) full sync of a replica.
	master := Start(t, "--repl-diskless-sync-delay", "0")
	var replicas []*Server
	for i := 0; i < n; i++ {
		r := Start(t, "--replicaof", "127.0.0.1", strconv.Itoa(master.Port()))
		deadline := time.Now().Add(startTimeout)
		for {
			info, _ := r.Do("INFO", "replication")
			if strings.Contains(info, "master_link_status:up") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: replica %s not in sync: %s", r.Addr(), info)
			}
			time.Sleep(20 * time.Millisecond)
		}
		replicas = append(replicas, r)
	}
	bin := lookBin(t, "redis-sentinel")
	s := &Server{t: t, bin: bin, dir: t.TempDir()}
	conf := filepath.Join(s.dir, "sentinel.conf")
	body := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1\nsentinel down-after-milliseconds %s 2000\nsentinel failover-timeout %s 5000\n",
		masterName, master.Port(), masterName, masterName)
	for _, r := range replicas {
		// Known from the start, the sentinel asks the replica for INFO at once
		// instead of discovering it through the master's.
		body += fmt.Sprintf("sentinel known-replica %s 127.0.0.1 %d\n", masterName, r.Port())
	}
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	s.pre = []string{conf}
	s.args = []string{"--bind", "127.0.0.1", "--protected-mode", "no", "--dir", s.dir,
		"--logfile", filepath.Join(s.dir, "redis.log")}
	t.Cleanup(s.Kill)
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		s.port = FreePort(t)
		if err = s.launch(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	deadline := time.Now().Add(startTimeout)
	for {
		addr, err := s.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName)
		if err == nil && addr == "127.0.0.1\n"+strconv.Itoa(master.Port()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: sentinel does not report master %s: %q %v", masterName, addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for len(replicas) > 0 {
		out, err := s.Do("SENTINEL", "REPLICAS", masterName)
		// master-link-status comes from the replica's own INFO: until the sentinel
		// has it, it would refuse to promote the replica (NOGOODSLAVE).
		if err == nil && strings.Count(out, "flags\nslave\n") == len(replicas) && strings.Count(out, "master-link-status\nok") == len(replicas) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: sentinel does not list %d replicas: %q %v", len(replicas), out, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &Sentinel{Master: master, Replicas: replicas, Sentinel: s, MasterName: masterName}
}

// Failover makes the sentinel promote a replica (SENTINEL FAILOVER) and waits until
// it reports the new master, which it returns.
func (st *Sentinel) Failover(t testing.TB) *Server {
	t.Helper()
	if len(st.Replicas) == 0 {
		t.Fatal("redistest: failover without replicas")
	}
	old := st.Master.Port()
	st.Sentinel.MustDo("SENTINEL", "FAILOVER", st.MasterName)
	deadline := time.Now().Add(15 * time.Second)
	for {
		addr, err := st.Sentinel.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", st.MasterName)
		if err == nil && addr != "127.0.0.1\n"+strconv.Itoa(old) {
			for i, r := range st.Replicas {
				if addr == "127.0.0.1\n"+strconv.Itoa(r.Port()) {
					role, _ := r.Do("ROLE")
					if strings.HasPrefix(role, "master") {
						st.Replicas[i] = st.Master
						st.Master = r
						return r
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: failover did not complete: %q %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Subscription is a raw RESP2 connection subscribed to PUB/SUB channels, for tests
// that check what goes over PUB/SUB byte for byte.
type Subscription struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

// Subscribe opens a connection to addr and SUBSCRIBEs (SSUBSCRIBE when sharded) to
// channels, waiting for the confirmations. The connection closes at cleanup.
func Subscribe(t testing.TB, addr string, sharded bool, channels ...string) *Subscription {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("redistest: subscribe: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	cmd := "SUBSCRIBE"
	if sharded {
		cmd = "SSUBSCRIBE"
	}
	args := append([]string{cmd}, channels...)
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		t.Fatalf("redistest: subscribe: %v", err)
	}
	s := &Subscription{t: t, conn: c, r: bufio.NewReader(c)}
	for range channels {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		items, err := readReply(s.r)
		if err != nil || len(items) < 1 || !strings.HasSuffix(strings.ToLower(items[0]), "subscribe") {
			t.Fatalf("redistest: subscribe confirmation: %v %v", items, err)
		}
	}
	return s
}

// Next returns the next message's channel and payload, failing the test after
// timeout.
func (s *Subscription) Next(timeout time.Duration) (channel, payload string) {
	s.t.Helper()
	_ = s.conn.SetReadDeadline(time.Now().Add(timeout))
	items, err := readReply(s.r)
	if err != nil || len(items) != 3 {
		s.t.Fatalf("redistest: next message: %v %v", items, err)
	}
	return items[1], items[2]
}

// None checks that no message arrives within d.
func (s *Subscription) None(d time.Duration) {
	s.t.Helper()
	_ = s.conn.SetReadDeadline(time.Now().Add(d))
	items, err := readReply(s.r)
	if err == nil {
		s.t.Fatalf("redistest: unexpected message %q", items)
	}
}

// DoSeq sends commands one after the other on one connection and returns the last
// reply as Do does; an error reply to any of them is returned as an error.
func DoSeq(addr string, cmds ...[]string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	var last []string
	for _, args := range cmds {
		var b strings.Builder
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
		if _, err := c.Write([]byte(b.String())); err != nil {
			return "", err
		}
		if last, err = readReply(r); err != nil {
			return "", err
		}
	}
	return strings.Join(last, "\n"), nil
}

// shared is the cluster SharedCluster hands out, started on first use.
var shared struct {
	mu      sync.Mutex
	cluster *Cluster
	tb      *sharedTB
}

// SharedCluster returns a 3-master cluster shared by the tests of one test binary
// (creating one takes about two seconds), emptied (FLUSHALL on every node) for each
// caller. The package's TestMain must call CloseShared after m.Run. Callers must not
// run in parallel with each other.
func SharedCluster(t testing.TB) *Cluster {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.cluster == nil {
		tb := &sharedTB{TB: t}
		shared.cluster, shared.tb = StartCluster(tb), tb
	}
	for _, n := range shared.cluster.Nodes {
		n.t = t // MustDo and Restart fail the caller, not the test that started it
		if _, err := n.Do("FLUSHALL"); err != nil {
			t.Fatalf("redistest: FLUSHALL on %s: %v", n.Addr(), err)
		}
	}
	return shared.cluster
}

// CloseShared stops the shared cluster and removes its directories.
func CloseShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.tb != nil {
		shared.tb.cleanup()
	}
	shared.cluster, shared.tb = nil, nil
}

// sharedTB runs the setup of a shared resource: cleanups wait for CloseShared
// instead of the end of the test that happened to start it; temp dirs are its own.
type sharedTB struct {
	testing.TB
	cleanups []func()
	dirs     []string
}

func (s *sharedTB) Cleanup(f func()) { s.cleanups = append(s.cleanups, f) }

func (s *sharedTB) TempDir() string {
	d, err := os.MkdirTemp("", "redistest")
	if err != nil {
		s.TB.Fatalf("redistest: %v", err)
	}
	s.dirs = append(s.dirs, d)
	return d
}

func (s *sharedTB) cleanup() {
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
	for _, d := range s.dirs {
		_ = os.RemoveAll(d)
	}
}

// Pause stops the server process (SIGSTOP): connections stay open but nothing is
// answered, as with a hung Redis. Resume continues it.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		s.t.Fatalf("redistest: %s: server not running", sig)
	}
	if err := syscall.Kill(cmd.Process.Pid, sig); err != nil {
		s.t.Fatalf("redistest: %s: %v", sig, err)
	}
}
