package e2e_test

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/e2e/harness"
)

// restartableRedis is a redis-server on a fixed loopback port that a test can
// kill (by PID) and start again on the same port, empty.
type restartableRedis struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

func newRestartableRedis(t *testing.T) *restartableRedis {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &restartableRedis{t: t, port: l.Addr().(*net.TCPAddr).Port}
	_ = l.Close()
	r.start()
	t.Cleanup(r.kill)
	return r
}

func (r *restartableRedis) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *restartableRedis) start() {
	r.t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		r.t.Fatalf("redis-server not found (apt-get install redis-server): %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		cmd := exec.Command(bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "",
			"--appendonly", "no", "--dir", r.t.TempDir())
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			r.t.Fatal(err)
		}
		for i := 0; i < 100; i++ {
			if c, err := net.Dial("tcp", r.addr()); err == nil {
				_ = c.Close()
				r.cmd = cmd
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server did not come up on %s", r.addr())
		}
	}
}

func (r *restartableRedis) kill() {
	if r.cmd == nil {
		return
	}
	_ = syscall.Kill(r.cmd.Process.Pid, syscall.SIGKILL)
	_ = r.cmd.Wait()
	r.cmd = nil
}

// historyRedisConfig is redisNodeConfig with a "hist" namespace keeping history
// and forcing recovery.
func historyRedisConfig(addr, name string) harness.Config {
	return redisNodeConfig(addr, name).Set("channel.namespaces", []any{
		map[string]any{
			"name": "hist", "allow_subscribe_for_client": true,
			"history_size": 100, "history_ttl": "300s", "force_recovery": true,
		},
	})
}

// Two nodes on one Redis; an SDK client on node B subscribed to a recovering
// channel gets, in order, what node A's API publishes. Redis is killed and
// started again, empty, on the same port: node A's API fails quickly while
// Redis is down, node B resubscribes and tells the client (insufficient state),
// the SDK resubscribes, and publications after the restart reach it.
func TestRedisPubSubAcrossNodesAndRestart(t *testing.T) {
	r := newRestartableRedis(t)
	a := harness.Start(t, historyRedisConfig(r.addr(), "node-a"))
	b := harness.Start(t, historyRedisConfig(r.addr(), "node-b"))

	client, clog := newClient(t, b, protoJSON, centrifuge.Config{Token: harness.UserToken(t, "u1")})
	connectAndWait(t, client, clog)
	sub := newSubscription(t, client, "hist:room")
	subscribeAndWait(t, sub)

	for i := 1; i <= 20; i++ {
		a.MustAPI(t, "publish", map[string]any{"channel": "hist:room", "data": map[string]int{"n": i}})
	}
	for i := 1; i <= 20; i++ {
		p := sub.nextPublication(t, 5*time.Second)
		if want := fmt.Sprintf(`{"n":%d}`, i); string(p.Data) != want || p.Offset != uint64(i) {
			t.Fatalf("got %s at offset %d, want %s at %d", p.Data, p.Offset, want, i)
		}
	}

	r.kill()
	start := time.Now()
	if res := a.API(t, "publish", map[string]any{"channel": "hist:room", "data": map[string]int{"n": 0}}); res.Error == nil {
		t.Fatalf("publish with Redis down succeeded: %+v", res)
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Fatalf("publish with Redis down took %v", d)
	}
	r.start()

	// The subscription goes through subscribing (insufficient state) and is
	// subscribed again.
	waitEvent[centrifuge.SubscribingEvent](t, sub.log, 15*time.Second, "resubscribing after the Redis restart (2500)", func(e centrifuge.SubscribingEvent) bool { return e.Code == 2500 })
	waitEvent[centrifuge.SubscribedEvent](t, sub.log, 15*time.Second, "subscribed again", func(e centrifuge.SubscribedEvent) bool { return e.WasRecovering })

	deadline := time.Now().Add(10 * time.Second)
	for {
		res := a.API(t, "publish", map[string]any{"channel": "hist:room", "data": map[string]string{"after": "restart"}})
		if res.Error == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish after restart: %+v", res.Error)
		}
		time.Sleep(100 * time.Millisecond)
	}
	p := sub.nextPublication(t, 10*time.Second)
	if string(p.Data) != `{"after":"restart"}` {
		t.Fatalf("after restart got %s", p.Data)
	}
}
