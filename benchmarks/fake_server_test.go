package benchmarks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rotorhq/rotor/codec"
)

// fakeServer is a tiny in-process stand-in for a Centrifugo-compatible server: enough
// of client protocol v2 (connect with an HS256 token, subscribe, ping/pong with the
// "no pong" rule) and of the HTTP API (publish) to drive the load tool end to end
// without a real server. It can drop publications to check that losses are counted.
type fakeServer struct {
	secret    []byte
	apiKey    string
	pingEvery time.Duration
	dropEvery int // >0: the first subscriber misses every dropEvery-th publication
	// queueMax >0 gives each subscriber a writer goroutine behind a queue of that
	// many publications, as Centrifugo has; a subscriber whose queue overflows gets
	// the close frame 3008 after the write in progress (the rest is dropped).
	queueMax int
	// peer, when set, gets this server's publications instead of its own
	// subscribers: two nodes of a cluster, publish on one, deliver on the other.
	peer *fakeServer

	ln    net.Listener
	srv   *http.Server
	mu    sync.Mutex
	subs  map[string][]*fakeConn
	pubs  atomic.Int64
	slows atomic.Int64 // subscribers closed with 3008
	pings atomic.Int64
	pongs atomic.Int64
	wg    sync.WaitGroup
}

type fakeConn struct {
	ws      *websocket.Conn
	proto   codec.Protocol
	wmu     sync.Mutex
	pending atomic.Int32 // pings sent and not yet answered
	done    chan struct{}
	q       chan []byte   // publications queued for the writer (queueMax > 0)
	slow    chan struct{} // closed when q overflowed
	slowed  atomic.Bool
}

// queueWriter writes c's queued publications until c ends or its queue overflows;
// then it sends 3008 and closes. A write waits as long as the client does not read.
func (f *fakeServer) queueWriter(c *fakeConn) {
	defer f.wg.Done()
	for {
		select {
		case <-c.done:
			return
		case <-c.slow:
			f.slows.Add(1)
			c.wmu.Lock()
			_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(3008, "slow"), time.Now().Add(time.Minute))
			c.wmu.Unlock()
			c.ws.Close()
			return
		case b := <-c.q:
			c.wmu.Lock()
			_ = c.ws.SetWriteDeadline(time.Now().Add(time.Minute))
			err := c.ws.WriteMessage(websocket.TextMessage+int(c.proto), b)
			c.wmu.Unlock()
			if err != nil {
				return
			}
		}
	}
}

func startFakeServer(t *testing.T, f *fakeServer) string {
	t.Helper()
	f.subs = make(map[string][]*fakeConn)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.ln = ln
	mux := http.NewServeMux()
	mux.HandleFunc("/connection/websocket", f.serveWS)
	mux.HandleFunc("/api/publish", f.servePublish)
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		rss, _ := readProc(os.Getpid())
		fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines %d\ngo_memstats_heap_inuse_bytes %d\nprocess_resident_memory_bytes %d\n",
			runtime.NumGoroutine(), ms.HeapInuse, rss.rss)
		if n := f.slows.Load(); n > 0 {
			fmt.Fprintf(w, "centrifugo_client_num_server_disconnects{code=\"3008\"} %d\n", n)
		}
	})
	f.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go f.srv.Serve(ln)
	t.Cleanup(func() {
		f.srv.Close()
		f.mu.Lock()
		for _, cs := range f.subs {
			for _, c := range cs {
				c.ws.Close()
			}
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return ln.Addr().String()
}

func (c *fakeConn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	typ := websocket.TextMessage
	if c.proto == codec.ProtocolProtobuf {
		typ = websocket.BinaryMessage
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(typ, b)
}

func (c *fakeConn) disconnect(code int, reason string) {
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	c.wmu.Unlock()
	c.ws.Close()
}

func (f *fakeServer) serveWS(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{Subprotocols: []string{"centrifuge-json", "centrifuge-protobuf"}}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &fakeConn{ws: ws, done: make(chan struct{})}
	if ws.Subprotocol() == "centrifuge-protobuf" {
		c.proto = codec.ProtocolProtobuf
	}
	f.wg.Add(1)
	defer f.wg.Done()
	defer close(c.done)
	defer ws.Close()
	dec := codec.NewCommandDecoder(c.proto)
	var cmd codec.Command
	connected := false
	var out []byte
	for {
		_, frame, err := ws.ReadMessage()
		if err != nil {
			return
		}
		dec.Reset(frame)
		out = out[:0]
		for {
			err := dec.Decode(&cmd)
			if err == io.EOF {
				break
			}
			if err != nil {
				c.disconnect(3501, "bad request")
				return
			}
			var rep *codec.Reply
			switch {
			case cmd.ID == 0 && cmd.Send == nil: // pong
				if c.pending.Add(-1) < 0 {
					c.disconnect(3501, "bad request")
					return
				}
				f.pongs.Add(1)
			case cmd.Connect != nil && !connected:
				_, err := jwt.Parse(cmd.Connect.Token, func(*jwt.Token) (any, error) { return f.secret, nil },
					jwt.WithValidMethods([]string{"HS256"}))
				if err != nil {
					c.disconnect(3500, "invalid token")
					return
				}
				connected = true
				rep = &codec.Reply{ID: cmd.ID, Connect: &codec.ConnectResult{Client: "fake", Version: "0.0.0 OSS", Ping: 1, Pong: true}}
				f.wg.Add(1)
				go f.pinger(c)
			case cmd.Subscribe != nil && connected:
				if f.queueMax > 0 && c.q == nil {
					c.q, c.slow = make(chan []byte, f.queueMax), make(chan struct{})
					f.wg.Add(1)
					go f.queueWriter(c)
				}
				f.mu.Lock()
				f.subs[cmd.Subscribe.Channel] = append(f.subs[cmd.Subscribe.Channel], c)
				f.mu.Unlock()
				rep = &codec.Reply{ID: cmd.ID, Subscribe: &codec.SubscribeResult{}}
			default:
				c.disconnect(3501, "bad request")
				return
			}
			if rep != nil {
				if len(out) > 0 && c.proto == codec.ProtocolJSON {
					out = append(out, '\n')
				}
				out, _ = codec.AppendReply(c.proto, out, rep)
			}
		}
		if len(out) > 0 {
			if err := c.write(out); err != nil {
				return
			}
		}
	}
}

// fakePongTimeout is how long the fake waits for a pong before 3012. Centrifugo waits
// pong_timeout (8s); the fake is stricter but leaves room for a loaded CI machine.
const fakePongTimeout = time.Second

// pinger sends a ping every pingEvery, skipping a tick while the previous ping is
// unanswered, and disconnects with 3012 when a ping stays unanswered for
// fakePongTimeout, as Centrifugo does with its pong timeout.
func (f *fakeServer) pinger(c *fakeConn) {
	defer f.wg.Done()
	t := time.NewTicker(f.pingEvery)
	defer t.Stop()
	var sentAt time.Time
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if c.pending.Load() > 0 {
				if time.Since(sentAt) > fakePongTimeout {
					c.disconnect(3012, "no pong")
					return
				}
				continue
			}
			sentAt = time.Now()
			c.pending.Add(1)
			f.pings.Add(1)
			if c.write(codec.AppendPing(c.proto, nil)) != nil {
				return
			}
		}
	}
}

func (f *fakeServer) servePublish(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-API-Key") != f.apiKey {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	var req struct {
		Channel string          `json:"channel"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Channel == "" || len(req.Data) == 0 {
		w.Write([]byte(`{"error":{"code":107,"message":"bad request"}}`))
		return
	}
	k := f.pubs.Add(1)
	target := f
	if f.peer != nil {
		target = f.peer
	}
	target.mu.Lock()
	subs := append([]*fakeConn(nil), target.subs[req.Channel]...)
	target.mu.Unlock()
	pub := &codec.Publication{Data: req.Data, Offset: uint64(k)}
	var enc [2][]byte
	for i, c := range subs {
		if i == 0 && f.dropEvery > 0 && k%int64(f.dropEvery) == 0 {
			continue
		}
		if enc[c.proto] == nil {
			enc[c.proto] = codec.AppendPublicationPush(c.proto, nil, req.Channel, pub)
		}
		if c.q != nil {
			select {
			case c.q <- enc[c.proto]:
			default:
				if !c.slowed.Swap(true) {
					close(c.slow)
				}
			}
			continue
		}
		_ = c.write(enc[c.proto])
	}
	w.Write([]byte(`{}`))
}

// runJSON runs Main with --json and decodes its one output line.
func runJSON(t *testing.T, args ...string) (map[string]any, int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(append(args, "--json"), &out, &errOut)
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("Main %q: exit %d, output %q, stderr %q: %v", args, code, out.String(), errOut.String(), err)
	}
	return m, code, errOut.String()
}

func num(t *testing.T, m map[string]any, k string) float64 {
	t.Helper()
	v, ok := m[k].(float64)
	if !ok {
		t.Fatalf("%s = %v (%T), want a number", k, m[k], m[k])
	}
	return v
}

func TestFakeConns(t *testing.T) {
	for _, proto := range []string{"json", "protobuf"} {
		t.Run(proto, func(t *testing.T) {
			f := &fakeServer{secret: []byte("s"), apiKey: "k", pingEvery: 150 * time.Millisecond}
			addr := startFakeServer(t, f)
			pid := strconv.Itoa(os.Getpid())
			m, code, stderr := runJSON(t, "conns", "--addr", addr, "--secret", "s", "--protocol", proto,
				"-n", "40", "--channels", "4", "--rate", "400", "--hold", "1s", "--timeout", "20s",
				"--pid", pid, "--metrics-url", "http://"+addr+"/metrics")
			if code != exitOK || m["ok"] != true {
				t.Fatalf("exit %d, stderr %q, report %v", code, stderr, m)
			}
			if num(t, m, "established") != 40 || num(t, m, "dropped") != 0 || num(t, m, "failed") != 0 {
				t.Fatalf("report %v", m)
			}
			pings := num(t, m, "pings_answered")
			if pings < 40 {
				t.Errorf("pings answered %v, want at least one per connection", pings)
			}
			// Every ping the tool counted was answered and arrived at the server.
			deadline := time.Now().Add(2 * time.Second)
			for f.pongs.Load() < int64(pings) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if f.pongs.Load() != int64(pings) {
				t.Errorf("server got %d pongs, tool answered %v pings", f.pongs.Load(), pings)
			}
			for _, k := range []string{"server_rss_per_conn_bytes", "server_goroutines_per_conn", "server_heap_inuse_per_conn_bytes", "server_idle_cpu_pct"} {
				if m[k] == nil {
					t.Errorf("%s not measured", k)
				}
			}
			if g := num(t, m, "server_goroutines_per_conn"); g < 1 {
				t.Errorf("goroutines per conn %v: the tool and the fake both hold goroutines per connection", g)
			}
			if m["rss_source"] != "proc" {
				t.Errorf("rss_source %v", m["rss_source"])
			}
		})
	}
}

func TestFakeFanout(t *testing.T) {
	for _, proto := range []string{"json", "protobuf"} {
		t.Run(proto, func(t *testing.T) {
			f := &fakeServer{secret: []byte("s"), apiKey: "k", pingEvery: time.Second}
			addr := startFakeServer(t, f)
			m, code, stderr := runJSON(t, "fanout", "--addr", addr, "--secret", "s", "--api-key", "k", "--protocol", proto,
				"-n", "20", "-m", "150", "--concurrency", "3", "--size", "200", "--timeout", "20s", "--pid", strconv.Itoa(os.Getpid()))
			if code != exitOK || m["ok"] != true {
				t.Fatalf("exit %d, stderr %q, report %v", code, stderr, m)
			}
			for k, want := range map[string]float64{"established": 20, "published": 150, "expected": 3000, "received": 3000, "lost": 0, "extra": 0, "out_of_order": 0, "bad_payloads": 0, "payload_bytes": 200} {
				if got := num(t, m, k); got != want {
					t.Errorf("%s = %v, want %v", k, got, want)
				}
			}
			p50, p99, mx := num(t, m, "latency_p50_ms"), num(t, m, "latency_p99_ms"), num(t, m, "latency_max_ms")
			if !(p50 > 0 && p50 <= p99 && p99 <= mx) {
				t.Errorf("latencies p50 %v p99 %v max %v", p50, p99, mx)
			}
			if num(t, m, "delivered_per_s") <= 0 || m["server_cpu_ns_per_delivery"] == nil {
				t.Errorf("rate or CPU missing: %v", m)
			}
			if rss, peak := num(t, m, "server_rss_after_bytes"), num(t, m, "server_rss_peak_bytes"); rss <= 0 || peak < rss {
				t.Errorf("server RSS after %v, peak %v", rss, peak)
			}
		})
	}
}

// TestFakeFanoutTwoNodes publishes through one node (--api) to subscribers of
// another (--addr), the cross-node fan-out of a cluster, and counts both nodes' CPU
// (--pid and --publish-pid) in the per-delivery figures.
func TestFakeFanoutTwoNodes(t *testing.T) {
	b := &fakeServer{secret: []byte("s"), apiKey: "k", pingEvery: time.Second}
	addrB := startFakeServer(t, b)
	a := &fakeServer{secret: []byte("s"), apiKey: "k", pingEvery: time.Second, peer: b}
	addrA := startFakeServer(t, a)
	pid := strconv.Itoa(os.Getpid())
	m, code, stderr := runJSON(t, "fanout", "--addr", addrB, "--api", "http://"+addrA+"/api", "--secret", "s", "--api-key", "k",
		"-n", "10", "-m", "40", "--timeout", "20s", "--pid", pid, "--publish-pid", pid)
	if code != exitOK || m["ok"] != true {
		t.Fatalf("exit %d, stderr %q, report %v", code, stderr, m)
	}
	if a.pubs.Load() != 40 || b.pubs.Load() != 0 {
		t.Errorf("publications: node A %d, node B %d; want 40 and 0", a.pubs.Load(), b.pubs.Load())
	}
	if got := num(t, m, "received"); got != 400 {
		t.Errorf("received %v, want 400", got)
	}
	if num(t, m, "publish_pid") != float64(os.Getpid()) || m["publish_server_cpu_s"] == nil {
		t.Errorf("publishing node's CPU missing: %v", m)
	}
	// Both pids are this process, so both nodes' CPU is twice the server's.
	srv, both := num(t, m, "server_cpu_s"), num(t, m, "servers_cpu_s")
	if both < srv || num(t, m, "servers_cpu_ns_per_delivery") < num(t, m, "server_cpu_ns_per_delivery") {
		t.Errorf("servers_cpu_s %v < server_cpu_s %v: %v", both, srv, m)
	}
	if both > 0 {
		if got, want := num(t, m, "deliveries_per_server_cpu_s"), 400/both; got < want*0.9 || got > want*1.1 {
			t.Errorf("deliveries_per_server_cpu_s %v, want about %v", got, want)
		}
	}

	// A publishing pid that does not exist is a warning, not a figure.
	m, code, _ = runJSON(t, "fanout", "--addr", addrB, "--api", "http://"+addrA+"/api", "--secret", "s", "--api-key", "k",
		"-n", "2", "-m", "3", "--timeout", "20s", "--pid", pid, "--publish-pid", "999999999")
	if code != exitOK || m["publish_server_cpu_s"] != nil || m["deliveries_per_server_cpu_s"] != nil || !strings.Contains(fmt.Sprint(m["warnings"]), "--publish-pid") {
		t.Errorf("exit %d, report %v", code, m)
	}
}

func TestFakeFanoutRate(t *testing.T) {
	f := &fakeServer{secret: []byte("s"), apiKey: "k", pingEvery: time.Second}
	addr := startFakeServer(t, f)
	start := time.Now()
	m, code, stderr := runJSON(t, "fanout", "--addr", addr, "--secret", "s", "--api-key", "k",
		"-n", "5", "-m", "50", "--rate", "100", "--timeout", "20s")
	if code != exitOK || num(t, m, "received") != 250 {
		t.Fatalf("exit %d, stderr %q, report %v", code, stderr, m)
	}
	// 50 publications at 100/s take about half a second.
	if d := time.Since(start); d < 450*time.Millisecond {
		t.Errorf("rate not applied: run took %v", d)
	}
}

func TestFakeFanoutCountsLosses(t *testing.T) {
	f := &fakeServer{secret: []byte("s"), apiKey: "k", pingEvery: time.Second, dropEvery: 10}
	addr := startFakeServer(t, f)
	m, code, _ := runJSON(t, "fanout", "--addr", addr, "--secret", "s", "--api-key", "k",
		"-n", "5", "-m", "100", "--drain", "300ms", "--timeout", "20s")
	if code != exitFail || m["ok"] != false {
		t.Errorf("exit %d ok %v, want a failed run", code, m["ok"])
	}
	if num(t, m, "lost") != 10 || num(t, m, "received") != 490 || m["drain_timed_out"] != true {
		t.Errorf("lost %v received %v drain_timed_out %v, want 10 490 true", m["lost"], m["received"], m["drain_timed_out"])
	}
}

func TestFakeBadTokenAndKey(t *testing.T) {
	f := &fakeServer{secret: []byte("s"), apiKey: "k", pingEvery: time.Second}
	addr := startFakeServer(t, f)
	m, code, _ := runJSON(t, "conns", "--addr", addr, "--secret", "wrong", "-n", "5", "--hold", "0s", "--timeout", "10s")
	if code != exitFail || num(t, m, "established") != 0 || num(t, m, "connect_errors") != 5 {
		t.Errorf("bad token: exit %d report %v", code, m)
	}
	codes, _ := m["close_codes"].(map[string]any)
	if codes["3500"] != float64(5) {
		t.Errorf("close codes %v, want 3500×5", codes)
	}
	m, code, _ = runJSON(t, "fanout", "--addr", addr, "--secret", "s", "--api-key", "bad", "-n", "2", "-m", "3", "--drain", "0s", "--timeout", "10s")
	if code != exitFail || num(t, m, "publish_errors") != 3 || num(t, m, "published") != 0 {
		t.Errorf("bad API key: exit %d report %v", code, m)
	}
}

func TestFakeTimeout(t *testing.T) {
	f := &fakeServer{secret: []byte("s"), apiKey: "k", pingEvery: time.Second}
	addr := startFakeServer(t, f)
	start := time.Now()
	m, code, stderr := runJSON(t, "conns", "--addr", addr, "--secret", "s", "-n", "3", "--hold", "1h", "--timeout", "500ms")
	if code != exitFail || m["timed_out"] != true {
		t.Errorf("exit %d timed_out %v stderr %q", code, m["timed_out"], stderr)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timeout not honoured: %v", d)
	}
}

// TestFakeFanoutStalled adds stalled subscribers (--stalled) to a fanout run
// against a fake with per-subscriber queues: the normal subscribers lose nothing,
// and each stalled one reports the 3008 its overflowing queue earned.
func TestFakeFanoutStalled(t *testing.T) {
	f := &fakeServer{secret: []byte("s"), apiKey: "k", pingEvery: time.Minute, queueMax: 16}
	addr := startFakeServer(t, f)
	m, code, stderr := runJSON(t, "fanout", "--addr", addr, "--secret", "s", "--api-key", "k",
		"-n", "10", "-m", "200", "--rate", "100", "--size", "2048", "--stalled", "3", "--stalled-every", "200ms", "--timeout", "30s",
		"--metrics-url", "http://"+addr+"/metrics")
	if code != exitOK || m["ok"] != true {
		t.Fatalf("exit %d, stderr %q, report %v", code, stderr, m)
	}
	for k, want := range map[string]float64{"established": 10, "expected": 2000, "received": 2000, "lost": 0, "stalled": 3, "stalled_established": 3, "stalled_every_ms": 200, "stalled_3008": 3,
		"server_disconnects_3008": 3, "server_disconnects_3009": 0} {
		if got := num(t, m, k); got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	outcomes, _ := m["stalled_outcomes"].(map[string]any)
	if len(outcomes) != 1 || outcomes["3008"] != 3.0 {
		t.Errorf("stalled outcomes %v, want 3008 for all 3", m["stalled_outcomes"])
	}
	if num(t, m, "stalled_read_bytes") <= 0 {
		t.Errorf("stalled subscribers read nothing at the end: %v", m)
	}
	// Without --stalled the report says so.
	m, code, _ = runJSON(t, "fanout", "--addr", addr, "--secret", "s", "--api-key", "k", "-n", "2", "-m", "5", "--timeout", "20s")
	if code != exitOK || num(t, m, "stalled") != 0 || num(t, m, "stalled_3008") != 0 || len(m["stalled_outcomes"].(map[string]any)) != 0 {
		t.Errorf("without --stalled: exit %d, report %v", code, m)
	}
}
