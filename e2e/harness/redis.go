package harness

import (
	"bufio"
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

// Redis is one redis-server (or redis-sentinel) process on loopback, started
// by a test with persistence off in a temporary directory and killed by PID
// when the test ends. Restart starts it again on the same port, empty.
type Redis struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	pre  []string // arguments before --port (sentinel: its config file)
	args []string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// redisBin returns the path of a Redis binary or fails the test: a missing
// binary never skips a test.
func redisBin(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found in PATH (apt-get install redis-server redis-sentinel): %v", name, err)
	}
	return p
}

// StartRedis starts a standalone redis-server on a free loopback port and
// waits until it answers PING. extra is appended to its command line.
func StartRedis(t testing.TB, extra ...string) *Redis {
	t.Helper()
	return startRedis(t, redisBin(t, "redis-server"), nil, extra)
}

func startRedis(t testing.TB, bin string, pre, extra []string) *Redis {
	t.Helper()
	r := &Redis{t: t, bin: bin, dir: t.TempDir(), pre: pre}
	r.args = []string{
		"--bind", "127.0.0.1",
		"--protected-mode", "no",
		"--dir", r.dir,
		"--logfile", filepath.Join(r.dir, "redis.log"),
	}
	if len(pre) == 0 {
		// Persistence off unless extra turns it on (a later option wins).
		r.args = append(r.args, "--save", "", "--appendonly", "no")
	}
	r.args = append(r.args, extra...)
	t.Cleanup(r.Kill)
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if r.port, err = freePort(); err != nil {
			t.Fatalf("pick free port: %v", err)
		}
		if err = r.launch(); err == nil {
			return r
		}
	}
	t.Fatalf("%v", err)
	return nil
}

// Addr is 127.0.0.1:port.
func (r *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// Port is the TCP port.
func (r *Redis) Port() int { return r.port }

// URL is redis://127.0.0.1:port.
func (r *Redis) URL() string { return "redis://" + r.Addr() }

func (r *Redis) launch() error {
	args := append(append(append([]string{}, r.pre...), "--port", strconv.Itoa(r.port)), r.args...)
	cmd := exec.Command(r.bin, args...)
	cmd.Dir = r.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", r.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	r.mu.Lock()
	r.cmd = cmd
	r.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			r.mu.Lock()
			r.cmd = nil
			r.mu.Unlock()
			return fmt.Errorf("%s on port %d exited at start; log:\n%s", r.bin, r.port, r.log())
		default:
		}
		if reply, err := r.Do("PING"); err == nil && reply == "PONG" {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Kill()
	return fmt.Errorf("%s on port %d did not answer PING; log:\n%s", r.bin, r.port, r.log())
}

func (r *Redis) log() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Kill kills the process (SIGKILL, by PID) and waits until its port is closed.
// Killing a killed server does nothing.
func (r *Redis) Kill() {
	r.mu.Lock()
	cmd := r.cmd
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
	_ = syscall.Kill(cmd.Process.Pid, syscall.SIGCONT) // a paused process dies too
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", r.Addr(), 100*time.Millisecond)
		if err != nil {
			return
		}
		_ = c.Close()
		time.Sleep(10 * time.Millisecond)
	}
}

// Pause stops the process (SIGSTOP): connections stay open and nothing
// answers, as with a hung server or a black-holed network. Resume continues it.
func (r *Redis) Pause() { r.signal(syscall.SIGSTOP) }

// Resume continues a paused process (SIGCONT).
func (r *Redis) Resume() { r.signal(syscall.SIGCONT) }

func (r *Redis) signal(sig syscall.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		_ = syscall.Kill(r.cmd.Process.Pid, sig)
	}
}

// Start starts a killed server again on the same port and directory: empty,
// unless it was started with persistence on (--appendonly yes).
func (r *Redis) Start() {
	r.t.Helper()
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if err = r.launch(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatalf("restart redis on %s: %v", r.Addr(), err)
}

// Restart is Kill then Start.
func (r *Redis) Restart() {
	r.t.Helper()
	r.Kill()
	r.Start()
}

// Do sends one command over a fresh RESP2 connection and returns the reply
// flattened to text (arrays joined by "\n", nil as "(nil)"); an error reply is
// an error.
func (r *Redis) Do(args ...string) (string, error) { return RedisDo(r.Addr(), args...) }

// MustDo is Do that fails the test on any error.
func (r *Redis) MustDo(args ...string) string {
	r.t.Helper()
	s, err := r.Do(args...)
	if err != nil {
		r.t.Fatalf("redis %s: %s: %v", r.Addr(), strings.Join(args, " "), err)
	}
	return s
}

// RedisDo is Redis.Do for any address.
func RedisDo(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	items, err := readRESP(bufio.NewReader(c))
	if err != nil {
		return "", err
	}
	return strings.Join(items, "\n"), nil
}

func readRESP(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, fmt.Errorf("empty RESP line")
	}
	switch line[0] {
	case '+', ':':
		return []string{line[1:]}, nil
	case '-':
		return nil, fmt.Errorf("redis error: %s", line[1:])
	case '$', '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return []string{"(nil)"}, nil
		}
		if line[0] == '$' {
			buf := make([]byte, n+2)
			for read := 0; read < len(buf); {
				m, err := r.Read(buf[read:])
				read += m
				if err != nil {
					return nil, err
				}
			}
			return []string{string(buf[:n])}, nil
		}
		var out []string
		for i := 0; i < n; i++ {
			items, err := readRESP(r)
			if err != nil {
				return nil, err
			}
			out = append(out, items...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected RESP line %q", line)
}

// RedisCluster is a Redis Cluster of three masters without replicas, made with
// redis-cli --cluster create.
type RedisCluster struct {
	Nodes []*Redis
}

// Addrs are the nodes' host:port.
func (c *RedisCluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr()
	}
	return out
}

// StartRedisCluster starts three cluster-enabled redis-servers, joins them with
// redis-cli --cluster create and waits until every node reports
// cluster_state:ok.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	bin := redisBin(t, "redis-server")
	cli := redisBin(t, "redis-cli")
	c := &RedisCluster{}
	for i := 0; i < 3; i++ {
		c.Nodes = append(c.Nodes, startRedis(t, bin, nil, []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000",
		}))
	}
	args := append(append([]string{"--cluster", "create"}, c.Addrs()...), "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, n := range c.Nodes {
		for {
			info, err := n.Do("CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster node %s not ok: %v %s", n.Addr(), err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// RedisSentinel is a master redis-server watched by one redis-sentinel, with
// optional replicas.
type RedisSentinel struct {
	Master     *Redis
	Replicas   []*Redis
	Sentinel   *Redis
	MasterName string
}

// StartRedisSentinel starts a master and a redis-sentinel monitoring it as
// masterName (quorum 1) and waits until the sentinel reports that master.
func StartRedisSentinel(t testing.TB, masterName string) *RedisSentinel {
	t.Helper()
	return StartRedisSentinelReplicas(t, masterName, 0)
}

// StartRedisSentinelReplicas is StartRedisSentinel with n replicas of the
// master, in sync and known to the sentinel (so Failover can promote one).
func StartRedisSentinelReplicas(t testing.TB, masterName string, n int) *RedisSentinel {
	t.Helper()
	master := StartRedis(t, "--repl-diskless-sync-delay", "0")
	var replicas []*Redis
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < n; i++ {
		r := StartRedis(t, "--replicaof", "127.0.0.1", strconv.Itoa(master.Port()))
		for {
			info, _ := r.Do("INFO", "replication")
			if strings.Contains(info, "master_link_status:up") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %s not in sync: %s", r.Addr(), info)
			}
			time.Sleep(20 * time.Millisecond)
		}
		replicas = append(replicas, r)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1\nsentinel down-after-milliseconds %s 5000\nsentinel failover-timeout %s 5000\n",
		masterName, master.Port(), masterName, masterName)
	for _, r := range replicas {
		body += fmt.Sprintf("sentinel known-replica %s 127.0.0.1 %d\n", masterName, r.Port())
	}
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startRedis(t, redisBin(t, "redis-sentinel"), []string{conf}, nil)
	st := &RedisSentinel{Master: master, Replicas: replicas, Sentinel: s, MasterName: masterName}
	st.waitMaster(t, master, 10*time.Second)
	for len(replicas) > 0 {
		out, err := s.Do("SENTINEL", "REPLICAS", masterName)
		if err == nil && strings.Count(out, "master-link-status\nok") == len(replicas) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinel does not list %d replicas in sync: %q %v", len(replicas), out, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return st
}

func (st *RedisSentinel) waitMaster(t testing.TB, m *Redis, d time.Duration) {
	t.Helper()
	want := "127.0.0.1\n" + strconv.Itoa(m.Port())
	deadline := time.Now().Add(d)
	for {
		addr, err := st.Sentinel.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", st.MasterName)
		if err == nil && addr == want {
			if role, _ := m.Do("ROLE"); strings.HasPrefix(role, "master") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinel does not report master %s at %s: %q %v", st.MasterName, m.Addr(), addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Failover makes the sentinel promote the first replica (SENTINEL FAILOVER),
// waits until it is the master the sentinel reports, and returns it.
func (st *RedisSentinel) Failover(t testing.TB) *Redis {
	t.Helper()
	if len(st.Replicas) == 0 {
		t.Fatal("failover without replicas")
	}
	next := st.Replicas[0]
	st.Sentinel.MustDo("SENTINEL", "FAILOVER", st.MasterName)
	st.waitMaster(t, next, 15*time.Second)
	st.Replicas[0], st.Master = st.Master, next
	return next
}
