package redis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/rotorhq/rotor/broker/redis/redistest"
	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/codec/fossil"
	"github.com/rotorhq/rotor/engine"
)

// centrifugoBin returns $CENTRIFUGO_BIN, skipping the test when it is unset (the
// binary is never committed).
func centrifugoBin(t *testing.T) string {
	bin := os.Getenv("CENTRIFUGO_BIN")
	if bin == "" {
		t.Skip("CENTRIFUGO_BIN is not set: set it to a Centrifugo v6 binary to run the mixed Rotor/Centrifugo Redis test")
	}
	return bin
}

// centrifugo is a Centrifugo process on the test's Redis.
type centrifugo struct {
	t    *testing.T
	base string
	ws   string
	key  string
}

// startCentrifugo runs $CENTRIFUGO_BIN with the Redis engine configured by
// redisCfg (engine.redis) and history on every channel without a namespace.
// channelOpts, if given, are added to the channel options.
func startCentrifugo(t *testing.T, redisCfg map[string]any, channelOpts ...map[string]any) *centrifugo {
	bin := centrifugoBin(t)
	port := redistest.FreePort(t)
	dir := t.TempDir()
	chOpts := map[string]any{
		"history_size": 10, "history_ttl": "300s",
		"allowed_delta_types": []string{"fossil"},
		"allow_positioning":   true,
	}
	for _, o := range channelOpts {
		for k, v := range o {
			chOpts[k] = v
		}
	}
	cfg := map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": port},
		"http_api":    map[string]any{"key": "api-key"},
		"log":         map[string]any{"level": "error"},
		"engine":      map[string]any{"type": "redis", "redis": redisCfg},
		"client":      map[string]any{"insecure": true},
		"channel":     map[string]any{"without_namespace": chOpts},
	}
	data, _ := json.Marshal(cfg)
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", path)
	cmd.Dir = dir
	var logBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	c := &centrifugo{t: t, base: "http://127.0.0.1:" + strconv.Itoa(port), key: "api-key"}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := c.tryCall("info", map[string]any{}); err == nil {
			c.ws = "ws://127.0.0.1:" + strconv.Itoa(port) + "/connection/websocket"
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("centrifugo did not answer: %s", logBuf.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *centrifugo) tryCall(method string, body any) (json.RawMessage, error) {
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", c.base+"/api/"+method, bytes.NewReader(data))
	req.Header.Set("X-API-Key", c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: status %d: %s", method, resp.StatusCode, out)
	}
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, err
	}
	if r.Error != nil {
		return nil, fmt.Errorf("%s: error %d %s", method, r.Error.Code, r.Error.Message)
	}
	return r.Result, nil
}

func (c *centrifugo) call(method string, body any, into any) {
	c.t.Helper()
	res, err := c.tryCall(method, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if into != nil {
		if err := json.Unmarshal(res, into); err != nil {
			c.t.Fatalf("%s: %v in %s", method, err, res)
		}
	}
}

type apiPosition struct {
	Offset uint64 `json:"offset"`
	Epoch  string `json:"epoch"`
}

// A Centrifugo node and this broker share a Redis: each reads the other's history,
// continues its offsets in the same epoch and honours its idempotency keys.
func TestCentrifugoSharesHistory(t *testing.T) {
	centrifugoBin(t)
	srv := redistest.Start(t)
	cf := startCentrifugo(t, map[string]any{"address": []string{srv.URL()}})
	b := newTestBroker(t, srv, Options{})
	testSharedHistory(t, cf, b)
}

// The same in Redis Cluster, where every key carries the {CH} hash tag.
func TestCentrifugoSharesHistoryCluster(t *testing.T) {
	centrifugoBin(t)
	c := redistest.SharedCluster(t)
	seeds := strings.Join(c.Addrs(), ",")
	cf := startCentrifugo(t, map[string]any{"cluster_address": []string{seeds}})
	b := newTestBroker(t, nil, Options{ClusterAddress: []string{seeds}})
	testSharedHistory(t, cf, b)
	holders := 0
	for _, n := range c.Nodes {
		if out, _ := n.Do("EXISTS", "centrifugo.stream.meta.{mixed}"); out == "1" {
			holders++
		}
	}
	if holders != 1 {
		t.Fatalf("meta key centrifugo.stream.meta.{mixed} on %d nodes", holders)
	}
}

func testSharedHistory(t *testing.T, cf *centrifugo, b *Broker) {
	opts := func(key string) *engine.BrokerPublishOptions {
		return &engine.BrokerPublishOptions{HistorySize: 10, HistoryTTL: 300 * time.Second, IdempotencyKey: key}
	}

	// Centrifugo publishes, Rotor reads.
	var p1 apiPosition
	cf.call("publish", map[string]any{"channel": "mixed", "data": map[string]int{"n": 1}, "tags": map[string]string{"from": "cf"}}, &p1)
	if p1.Offset != 1 || !epochRe.MatchString(p1.Epoch) {
		t.Fatalf("centrifugo publish result %+v", p1)
	}
	pubs, pos, err := b.History(ctx, "mixed", engine.HistoryOptions{Filter: engine.HistoryFilter{Limit: -1}})
	if err != nil {
		t.Fatal(err)
	}
	if pos != (codec.StreamPosition{Offset: 1, Epoch: p1.Epoch}) || len(pubs) != 1 ||
		string(pubs[0].Data) != `{"n":1}` || pubs[0].Offset != 1 || pubs[0].Tags["from"] != "cf" || pubs[0].Time == 0 {
		t.Fatalf("rotor reads %v %+v", pos, pubs)
	}

	// Rotor publishes, Centrifugo reads: same epoch, next offset.
	pub := &codec.Publication{Data: []byte(`{"n":2}`), Tags: map[string]string{"from": "rotor"}, Info: &codec.ClientInfo{User: "u", Client: "c"}}
	r, err := b.Publish(ctx, "mixed", pub, opts(""))
	if err != nil || r.Position != (codec.StreamPosition{Offset: 2, Epoch: p1.Epoch}) {
		t.Fatalf("rotor publish %+v %v", r, err)
	}
	var h struct {
		Publications []struct {
			Data   json.RawMessage   `json:"data"`
			Offset uint64            `json:"offset"`
			Tags   map[string]string `json:"tags"`
			Info   *struct {
				User   string `json:"user"`
				Client string `json:"client"`
			} `json:"info"`
		} `json:"publications"`
		Offset uint64 `json:"offset"`
		Epoch  string `json:"epoch"`
	}
	cf.call("history", map[string]any{"channel": "mixed", "limit": -1}, &h)
	if h.Offset != 2 || h.Epoch != p1.Epoch || len(h.Publications) != 2 {
		t.Fatalf("centrifugo history %+v", h)
	}
	last := h.Publications[1]
	if string(last.Data) != `{"n":2}` || last.Offset != 2 || last.Tags["from"] != "rotor" || last.Info == nil || last.Info.User != "u" {
		t.Fatalf("centrifugo reads rotor's publication as %+v", last)
	}

	// Idempotency keys are shared both ways.
	var p3 apiPosition
	cf.call("publish", map[string]any{"channel": "mixed", "data": map[string]int{"n": 3}, "idempotency_key": "cf-key"}, &p3)
	r, err = b.Publish(ctx, "mixed", &codec.Publication{Data: []byte(`{"n":3}`)}, opts("cf-key"))
	if err != nil || !r.Suppressed || r.Position.Offset != p3.Offset {
		t.Fatalf("rotor repeat of centrifugo's key: %+v %v (first %+v)", r, err, p3)
	}
	r, err = b.Publish(ctx, "mixed", &codec.Publication{Data: []byte(`{"n":4}`)}, opts("rotor-key"))
	if err != nil || r.Suppressed || r.Position.Offset != 4 {
		t.Fatalf("rotor idempotent publish %+v %v", r, err)
	}
	var p4 apiPosition
	cf.call("publish", map[string]any{"channel": "mixed", "data": map[string]int{"n": 4}, "idempotency_key": "rotor-key"}, &p4)
	if p4.Offset != 4 {
		t.Fatalf("centrifugo repeat of rotor's key: %+v", p4)
	}

	// Reverse paging through Rotor sees everyone's publications.
	pubs, _, err = b.History(ctx, "mixed", engine.HistoryOptions{Filter: engine.HistoryFilter{Limit: 2, Reverse: true}})
	if err != nil || len(pubs) != 2 || pubs[0].Offset != 4 || pubs[1].Offset != 3 {
		t.Fatalf("reverse %+v %v", pubs, err)
	}

	// History removal by Rotor keeps the position Centrifugo reports.
	if err := b.RemoveHistory(ctx, "mixed"); err != nil {
		t.Fatal(err)
	}
	cf.call("history", map[string]any{"channel": "mixed", "limit": -1}, &h)
	if len(h.Publications) != 0 || h.Offset != 4 || h.Epoch != p1.Epoch {
		t.Fatalf("after remove %+v", h)
	}
}

// cfClient is a JSON-protocol client of the Centrifugo node.
type cfClient struct {
	t       *testing.T
	conn    *websocket.Conn
	id      int
	pending [][]byte // messages of the last frame not read yet
}

func (c *centrifugo) connect() *cfClient {
	c.t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(c.ws, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { conn.Close() })
	w := &cfClient{t: c.t, conn: conn}
	w.command(map[string]any{"connect": map[string]any{}})
	return w
}

// command sends one command and waits for its reply, failing on an error reply.
func (w *cfClient) command(cmd map[string]any) json.RawMessage {
	w.t.Helper()
	w.id++
	cmd["id"] = w.id
	if err := w.conn.WriteJSON(cmd); err != nil {
		w.t.Fatal(err)
	}
	for {
		var r struct {
			ID    int             `json:"id"`
			Error json.RawMessage `json:"error"`
		}
		raw := w.read()
		if err := json.Unmarshal(raw, &r); err != nil {
			w.t.Fatal(err)
		}
		if r.ID == w.id {
			if r.Error != nil {
				w.t.Fatalf("reply error %s", r.Error)
			}
			return raw
		}
	}
}

// read returns the next message; a frame may carry several, one per line (pings
// answered).
func (w *cfClient) read() json.RawMessage {
	w.t.Helper()
	for {
		if len(w.pending) > 0 {
			line := w.pending[0]
			w.pending = w.pending[1:]
			if string(bytes.TrimSpace(line)) == "{}" {
				_ = w.conn.WriteMessage(websocket.TextMessage, []byte("{}"))
				continue
			}
			return line
		}
		_ = w.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, data, err := w.conn.ReadMessage()
		if err != nil {
			w.t.Fatalf("read: %v", err)
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(line)) > 0 {
				w.pending = append(w.pending, line)
			}
		}
	}
}

type pushPub struct {
	Data   json.RawMessage `json:"data"`
	Offset uint64          `json:"offset"`
	Delta  bool            `json:"delta"`
}

// nextPub waits for the next publication push.
func (w *cfClient) nextPub() pushPub {
	w.t.Helper()
	for {
		var m struct {
			Push *struct {
				Pub *pushPub `json:"pub"`
			} `json:"push"`
		}
		if err := json.Unmarshal(w.read(), &m); err != nil {
			w.t.Fatal(err)
		}
		if m.Push != nil && m.Push.Pub != nil {
			return *m.Push.Pub
		}
	}
}

// A Centrifugo node delivers what Rotor publishes through Redis PUB/SUB: the __p1
// envelope (offset, epoch), the raw publication without history, and the __d1
// delta envelope, which Centrifugo turns into a fossil delta against the previous
// publication.
func TestCentrifugoDeliversRotorPublications(t *testing.T) {
	centrifugoBin(t)
	srv := redistest.Start(t)
	cf := startCentrifugo(t, map[string]any{"address": []string{srv.URL()}})
	b := newTestBroker(t, srv, Options{})
	hist := &engine.BrokerPublishOptions{HistorySize: 10, HistoryTTL: 300 * time.Second}

	w := cf.connect()
	w.command(map[string]any{"subscribe": map[string]any{"channel": "live"}})
	r, err := b.Publish(ctx, "live", &codec.Publication{Data: []byte(`{"n":1}`)}, hist)
	if err != nil {
		t.Fatal(err)
	}
	if p := w.nextPub(); string(p.Data) != `{"n":1}` || p.Offset != r.Position.Offset {
		t.Fatalf("history publication pushed as %+v (published at %+v)", p, r.Position)
	}
	if _, err := b.Publish(ctx, "live", &codec.Publication{Data: []byte(`{"n":2}`)}, &engine.BrokerPublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if p := w.nextPub(); string(p.Data) != `{"n":2}` || p.Offset != 0 {
		t.Fatalf("publication without history pushed as %+v", p)
	}

	d := cf.connect()
	// Centrifugo sends a positioned subscriber the delta the broker's envelope
	// carries (a non-positioned one gets deltas against the node's own previous
	// publication, which a Redis node does not keep).
	d.command(map[string]any{"subscribe": map[string]any{"channel": "deltas", "delta": "fossil", "positioned": true}})
	delta := &engine.BrokerPublishOptions{HistorySize: 10, HistoryTTL: 300 * time.Second, UseDelta: true}
	first := `{"text":"the quick brown fox jumps over the lazy dog","n":1}`
	second := `{"text":"the quick brown fox jumps over the lazy cat","n":2}`
	for _, data := range []string{first, second} {
		if _, err := b.Publish(ctx, "deltas", &codec.Publication{Data: []byte(data)}, delta); err != nil {
			t.Fatal(err)
		}
	}
	// A delta subscriber gets data as a JSON string: the full payload first.
	p1 := d.nextPub()
	var full string
	if err := json.Unmarshal(p1.Data, &full); err != nil || p1.Delta || full != first || p1.Offset != 1 {
		t.Fatalf("first delta-channel publication %s %+v %v", p1.Data, p1, err)
	}
	p2 := d.nextPub()
	if !p2.Delta {
		t.Fatalf("second publication not a delta: %+v", p2)
	}
	var patch string
	if err := json.Unmarshal(p2.Data, &patch); err != nil {
		t.Fatalf("delta data %s: %v", p2.Data, err)
	}
	got, err := fossil.Apply([]byte(first), []byte(patch))
	if err != nil || string(got) != second || p2.Offset != 2 {
		t.Fatalf("delta applied to %q, err %v, offset %d", got, err, p2.Offset)
	}
}

// A Rotor engine node and a Centrifugo node on one Redis: publications cross in
// both directions to each other's clients, in one stream (offsets continue).
func TestCentrifugoAndRotorNodes(t *testing.T) {
	centrifugoBin(t)
	srv := redistest.Start(t)
	cf := startCentrifugo(t, map[string]any{"address": []string{srv.URL()}})
	n := redisNode(t, srv, "rotor")

	rc, rtr := anonClient(t, n)
	if !rc.HandleFrame([]byte(`{"id":2,"subscribe":{"channel":"both"}}`)) {
		t.Fatal("subscribe refused")
	}
	waitUntil(t, "rotor subscribe reply", func() bool {
		msgs, _ := rtr.state()
		return strings.Contains(strings.Join(msgs, "\n"), `"id":2`)
	})
	w := cf.connect()
	w.command(map[string]any{"subscribe": map[string]any{"channel": "both", "positioned": true}})

	var p1 apiPosition
	cf.call("publish", map[string]any{"channel": "both", "data": map[string]int{"from": 1}}, &p1)
	r2, err := n.Publish("both", []byte(`{"from":2}`), engine.PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p1.Offset != 1 || r2.Offset != 2 || r2.Epoch != p1.Epoch {
		t.Fatalf("positions: centrifugo %+v, rotor %+v", p1, r2)
	}
	for _, want := range []string{`{"from":1}`, `{"from":2}`} {
		if p := w.nextPub(); string(p.Data) != want {
			t.Fatalf("centrifugo client got %s, want %s", p.Data, want)
		}
	}
	waitUntil(t, "rotor client gets both", func() bool {
		msgs, _ := rtr.state()
		return len(pubOffsets(t, msgs, "both")) == 2
	})
	msgs, _ := rtr.state()
	if got := pubOffsets(t, msgs, "both"); got[0] != 1 || got[1] != 2 {
		t.Fatalf("rotor client offsets %v", got)
	}
}

// history_use_lists on both sides: the legacy list layout is shared too.
func TestCentrifugoSharesListHistory(t *testing.T) {
	centrifugoBin(t)
	srv := redistest.Start(t)
	cf := startCentrifugo(t, map[string]any{"address": []string{srv.URL()}, "history_use_lists": true})
	b := newTestBroker(t, srv, Options{HistoryUseLists: true})

	var p1 apiPosition
	cf.call("publish", map[string]any{"channel": "lists", "data": map[string]int{"n": 1}}, &p1)
	r, err := b.Publish(ctx, "lists", &codec.Publication{Data: []byte(`{"n":2}`)}, &engine.BrokerPublishOptions{HistorySize: 10, HistoryTTL: 300 * time.Second})
	if err != nil || r.Position != (codec.StreamPosition{Offset: 2, Epoch: p1.Epoch}) {
		t.Fatalf("rotor publish after centrifugo's %+v: %+v %v", p1, r, err)
	}
	pubs, pos, err := b.History(ctx, "lists", engine.HistoryOptions{Filter: engine.HistoryFilter{Limit: -1}})
	if err != nil || pos.Offset != 2 || len(pubs) != 2 || string(pubs[0].Data) != `{"n":1}` || pubs[1].Offset != 2 {
		t.Fatalf("rotor reads the list: %v %+v %v", pos, pubs, err)
	}
	var h struct {
		Publications []struct {
			Data   json.RawMessage `json:"data"`
			Offset uint64          `json:"offset"`
		} `json:"publications"`
		Offset uint64 `json:"offset"`
	}
	cf.call("history", map[string]any{"channel": "lists", "limit": -1}, &h)
	if h.Offset != 2 || len(h.Publications) != 2 || string(h.Publications[1].Data) != `{"n":2}` || h.Publications[1].Offset != 2 {
		t.Fatalf("centrifugo reads the list: %+v", h)
	}
	if got := srv.MustDo("TYPE", "centrifugo.list.lists"); got != "list" {
		t.Fatalf("centrifugo.list.lists is a %s", got)
	}
}
