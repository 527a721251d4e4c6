package engine

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/codec"
)

// seriesValue returns the value of the series (exact name with labels) in the
// node's Prometheus output, and whether it is there.
func seriesValue(t *testing.T, n *Node, series string) (float64, bool) {
	t.Helper()
	var buf bytes.Buffer
	n.metrics.set.WritePrometheus(&buf)
	for _, line := range strings.Split(buf.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			if _, err := fmt.Sscan(rest, &v); err != nil {
				t.Fatalf("series %s: %v", line, err)
			}
			return v, true
		}
	}
	return 0, false
}

// syncLog is a log destination tests can read while the node writes.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLoggedNode(t *testing.T, level slog.Level) (*Node, *syncLog) {
	t.Helper()
	out := new(syncLog)
	n, err := New(withBroker(testConfig()), slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level})))
	if err != nil {
		t.Fatal(err)
	}
	n.Run()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	return n, out
}

// TestSlowConsumerCountedAndLogged: a subscriber whose queue is full is dropped
// with 3008, and that leaves a trace: the disconnect and close counters by code
// and an info line naming the client, user and reason.
func TestSlowConsumerCountedAndLogged(t *testing.T) {
	n, logs := newLoggedNode(t, slog.LevelInfo)
	c, tr := connected(t, n, "slowpoke")
	if !c.HandleFrame([]byte(`{"id":2,"subscribe":{"channel":"news"}}`)) {
		t.Fatal("subscribe closed the session")
	}
	tr.mu.Lock()
	tr.limit = len(tr.msgs) // the next message does not fit
	tr.mu.Unlock()
	if _, err := n.Publish("news", []byte(`{}`), PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if d := tr.waitClosed(2 * time.Second); d == nil || d.Code != 3008 {
		t.Fatalf("disconnect %v, want 3008", d)
	}
	waitFor(t, 2*time.Second, "the disconnect logged", func() bool {
		return strings.Contains(logs.String(), "closing client connection")
	})
	line := logs.String()
	for _, want := range []string{"level=INFO", "client=" + c.ID(), "user=slowpoke", "code=3008", "reason=slow"} {
		if !strings.Contains(line, want) {
			t.Errorf("log %q lacks %s", line, want)
		}
	}
	for series, want := range map[string]float64{
		`centrifugo_client_num_server_disconnects{code="3008"}`:                                                                               1,
		`centrifugo_transport_outgoing_close_count{code="3008",transport="websocket"}`:                                                        1,
		`centrifugo_client_connections_inflight{accept_protocol="",client_name="unnamed",client_version="unversioned",transport="websocket"}`: 0,
		`centrifugo_client_connections_accepted{accept_protocol="",client_name="unnamed",client_version="unversioned",transport="websocket"}`: 1,
		`centrifugo_client_subscriptions_inflight{channel_namespace="",client_name="unnamed"}`:                                                0,
		`centrifugo_client_subscriptions_accepted{channel_namespace="",client_name="unnamed"}`:                                                1,
		`centrifugo_node_messages_sent_count{channel_namespace="",type="publication"}`:                                                        1,
	} {
		waitFor(t, 2*time.Second, series, func() bool {
			v, ok := seriesValue(t, n, series)
			return ok && v == want
		})
	}
}

// TestDisconnectLogLevels: every server-side disconnect is logged at debug; the
// ones an operator acts on (bad request, invalid token) at info; a client that
// goes away by itself (3000) is neither logged nor counted.
func TestDisconnectLogLevels(t *testing.T) {
	n, logs := newLoggedNode(t, slog.LevelDebug)
	cases := []struct {
		frame string
		code  uint32
		level string
	}{
		{`garbage`, 3501, "INFO"},
		{`{"id":1,"connect":{"token":"x.y.z"}}`, 3500, "INFO"},
	}
	for _, tc := range cases {
		c, tr := newTestClient(n)
		c.HandleFrame([]byte(tc.frame))
		if d := tr.waitClosed(2 * time.Second); d == nil || d.Code != tc.code {
			t.Fatalf("%s: disconnect %v, want %d", tc.frame, d, tc.code)
		}
		want := fmt.Sprintf("code=%d", tc.code)
		waitFor(t, 2*time.Second, "log of "+want, func() bool { return strings.Contains(logs.String(), want) })
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, want) && !strings.Contains(l, "level="+tc.level) {
				t.Errorf("%s logged as %q, want level %s", want, l, tc.level)
			}
		}
		if v, _ := seriesValue(t, n, fmt.Sprintf(`centrifugo_client_num_server_disconnects{code="%d"}`, tc.code)); v != 1 {
			t.Errorf("disconnects with %d counted %v times, want 1", tc.code, v)
		}
	}
	// An API disconnect (3503 force disconnect… here the shutdown code) is debug.
	c, tr := connected(t, n, "u")
	c.Disconnect(DisconnectForceReconnect)
	tr.waitClosed(2 * time.Second)
	waitFor(t, 2*time.Second, "force reconnect logged", func() bool { return strings.Contains(logs.String(), "code=3011") })
	if !strings.Contains(logs.String(), "level=DEBUG msg=\"closing client connection\" client="+c.ID()) {
		t.Errorf("3011 not logged at debug with the client: %s", logs.String())
	}
	// The peer going away is not a server disconnect.
	c2, tr2 := connected(t, n, "v")
	c2.Disconnect(DisconnectConnectionClosed)
	tr2.waitClosed(2 * time.Second)
	time.Sleep(50 * time.Millisecond)
	if _, ok := seriesValue(t, n, `centrifugo_client_num_server_disconnects{code="3000"}`); ok {
		t.Error("3000 counted as a server disconnect")
	}
}

// TestCommandAndReplyCounters: commands are counted by method with their sizes,
// replies by method, errors by method and code.
func TestCommandAndReplyCounters(t *testing.T) {
	n := newTestNode(t, testConfig())
	c, _ := connected(t, n, "u")
	c.HandleFrame([]byte(`{"id":2,"subscribe":{"channel":"closed:x"}}`))
	c.HandleFrame([]byte(`{"id":3,"subscribe":{"channel":"news"}}`))
	for series, want := range map[string]float64{
		`centrifugo_transport_messages_received{channel_namespace="",frame_type="connect",transport="websocket"}`:   1,
		`centrifugo_transport_messages_received{channel_namespace="",frame_type="subscribe",transport="websocket"}`: 2,
		`centrifugo_transport_messages_sent{channel_namespace="",frame_type="connect",transport="websocket"}`:       1,
		`centrifugo_transport_messages_sent{channel_namespace="",frame_type="subscribe",transport="websocket"}`:     2,
		`centrifugo_client_num_reply_errors{channel_namespace="",code="103",method="subscribe"}`:                    1,
		`centrifugo_client_command_duration_seconds_count{channel_namespace="",method="subscribe"}`:                 2,
		`centrifugo_client_command_duration_seconds_histogram_count{channel_namespace="",method="connect"}`:         1,
		`centrifugo_node_action_count{action="add_client",channel_namespace=""}`:                                    1,
		`centrifugo_node_action_count{action="add_subscription",channel_namespace=""}`:                              1,
	} {
		if v, ok := seriesValue(t, n, series); !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
	v, ok := seriesValue(t, n, `centrifugo_transport_messages_received_size{channel_namespace="",frame_type="subscribe",transport="websocket"}`)
	if want := float64(len(`{"id":2,"subscribe":{"channel":"closed:x"}}`) + len(`{"id":3,"subscribe":{"channel":"news"}}`)); !ok || v != want {
		t.Errorf("received size %v, want %v", v, want)
	}
}

// TestFanoutCounters: one broadcast counts one push per subscriber and its bytes,
// one received publication and one broadcast duration.
func TestFanoutCounters(t *testing.T) {
	n := newTestNode(t, testConfig())
	var trs []*fakeTransport
	for i := range 3 {
		c, tr := connected(t, n, fmt.Sprint(i))
		c.HandleFrame([]byte(`{"id":2,"subscribe":{"channel":"news"}}`))
		trs = append(trs, tr)
	}
	before := len(trs[0].messages())
	if _, err := n.Publish("news", []byte(`{"a":1}`), PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	push := trs[0].messages()[before]
	for series, want := range map[string]float64{
		`centrifugo_transport_messages_sent{channel_namespace="",frame_type="push_publication",transport="websocket"}`:      3,
		`centrifugo_transport_messages_sent_size{channel_namespace="",frame_type="push_publication",transport="websocket"}`: float64(3 * len(push)),
		`centrifugo_node_messages_received_count{channel_namespace="",type="publication"}`:                                  1,
		`centrifugo_node_broadcast_duration_seconds_count{channel_namespace="",type="publication"}`:                         1,
	} {
		if v, ok := seriesValue(t, n, series); !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
}

// TestConnectionLimitCounted: a refused connection counts.
func TestConnectionLimitCounted(t *testing.T) {
	cfg := testConfig()
	cfg.ConnectionLimit = 1
	n := newTestNode(t, cfg)
	connected(t, n, "a")
	if n.Admit() {
		t.Fatal("second connection admitted")
	}
	if v, _ := seriesValue(t, n, "centrifugo_node_client_connection_limit"); v != 1 {
		t.Fatalf("connection limit counter %v, want 1", v)
	}
}

// TestInfoMetricsSnapshot: the node's own info carries the flattened snapshot,
// refreshed every node.info_metrics_aggregate_interval, with counters as increases
// since the previous snapshot.
func TestInfoMetricsSnapshot(t *testing.T) {
	cfg := testConfig()
	cfg.NodeInfoMetricsAggregateInterval = 100 * time.Millisecond
	n := newTestNode(t, cfg)
	c, _ := connected(t, n, "u")
	c.HandleFrame([]byte(`{"id":2,"subscribe":{"channel":"closed:x"}}`))
	var m *NodeMetrics
	waitFor(t, 2*time.Second, "a snapshot with the client", func() bool {
		m = n.Info()[0].Metrics
		return m != nil && m.Items["centrifugo.node.num_clients"] == 1
	})
	if m.Interval <= 0 || m.Interval > 1 {
		t.Errorf("interval %v", m.Interval)
	}
	for _, key := range []string{
		"centrifugo.node.num_users",
		"centrifugo.client.command_duration_seconds.count.method.connect",
		"centrifugo.client.command_duration_seconds.sum.method.connect",
		"centrifugo.transport.messages_sent.frame_type.connect.transport.websocket",
		"centrifugo.client.num_reply_errors.code.103.method.subscribe",
		"centrifugo.node.build.version." + DefaultVersion,
	} {
		if _, ok := m.Items[key]; !ok {
			t.Errorf("snapshot lacks %s: %v", key, m.Items)
		}
	}
	for key := range m.Items {
		if strings.Contains(key, "_histogram") || strings.Contains(key, "bucket") {
			t.Errorf("histogram in snapshot: %s", key)
		}
	}
	// Counters are increases: with nothing new, the error count falls to 0.
	waitFor(t, 2*time.Second, "the error count back to 0", func() bool {
		m := n.Info()[0].Metrics
		v, ok := m.Items["centrifugo.client.num_reply_errors.code.103.method.subscribe"]
		return ok && v == 0
	})
}

func TestFlattenMetrics(t *testing.T) {
	text := `# HELP centrifugo_node_num_clients x
# TYPE centrifugo_node_num_clients gauge
centrifugo_node_num_clients 3
centrifugo_client_num_server_disconnects{code="3008"} 5
centrifugo_node_action_count{action="add_client",channel_namespace=""} 7
centrifugo_client_command_duration_seconds{channel_namespace="",method="connect",quantile="0.5"} 0.25
centrifugo_client_command_duration_seconds{channel_namespace="",method="connect",quantile="0.999"} NaN
centrifugo_client_command_duration_seconds_sum{channel_namespace="",method="connect"} 1.5
centrifugo_client_command_duration_seconds_count{channel_namespace="",method="connect"} 4
centrifugo_client_command_duration_seconds_histogram_bucket{channel_namespace="",method="connect",le="0.1"} 4
centrifugo_client_command_duration_seconds_histogram_sum{channel_namespace="",method="connect"} 1.5
centrifugo_broker_redis_pub_sub_dropped_messages{broker_name="",channel_type="client"} 2
rotor_netio_recovered_panics_total 1
go_goroutines 10
`
	prev := map[string]float64{}
	got := flattenMetrics([]byte(text), prev)
	want := map[string]float64{
		"centrifugo.node.num_clients":                                           3,
		"centrifugo.client.num_server_disconnects.code.3008":                    5,
		"centrifugo.node.action_count.action.add_client":                        7,
		"centrifugo.client.command_duration_seconds.quantile.50.method.connect": 0.25,
		"centrifugo.client.command_duration_seconds.sum.method.connect":         1.5,
		"centrifugo.client.command_duration_seconds.count.method.connect":       4,
		"centrifugo.broker.redis_pub_sub_dropped_messages.channel_type.client":  2,
	}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	text2 := strings.ReplaceAll(text, `{code="3008"} 5`, `{code="3008"} 8`)
	got = flattenMetrics([]byte(text2), prev)
	if v := got["centrifugo.client.num_server_disconnects.code.3008"]; v != 3 {
		t.Errorf("counter increase %v, want 3", v)
	}
	if v := got["centrifugo.node.num_clients"]; v != 3 {
		t.Errorf("gauge %v, want 3", v)
	}
}

func TestParseSample(t *testing.T) {
	cases := []struct {
		line string
		want Sample
		ok   bool
	}{
		{`a 1`, Sample{Name: "a", Value: 1}, true},
		{`a_b:c{x="1",y="q\"\\\n"} -2.5e3 1700000000000`, Sample{Name: "a_b:c", Labels: []Label{{"x", "1"}, {"y", "q\"\\\n"}}, Value: -2500}, true},
		{`a{} NaN`, Sample{Name: "a", Value: math.NaN()}, true},
		{`a{x="1",} +Inf`, Sample{Name: "a", Labels: []Label{{"x", "1"}}, Value: math.Inf(1)}, true},
		{`1a 1`, Sample{}, false},
		{`a{x=1} 1`, Sample{}, false},
		{`a{x="1" 1`, Sample{}, false},
		{`a{x="\q"} 1`, Sample{}, false},
		{`a`, Sample{}, false},
		{`a 1 x`, Sample{}, false},
		{`a zz`, Sample{}, false},
	}
	for _, tc := range cases {
		got, err := parseSample([]byte(tc.line))
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok %v", tc.line, err, tc.ok)
			continue
		}
		if !tc.ok {
			continue
		}
		same := got.Name == tc.want.Name && len(got.Labels) == len(tc.want.Labels) &&
			(got.Value == tc.want.Value || math.IsNaN(got.Value) && math.IsNaN(tc.want.Value))
		for i := range got.Labels {
			same = same && got.Labels[i] == tc.want.Labels[i]
		}
		if !same {
			t.Errorf("%q: got %+v, want %+v", tc.line, got, tc.want)
		}
	}
}

// FuzzParseSample: any input parses or fails cleanly, and what parses re-parses
// to the same sample once written back.
func FuzzParseSample(f *testing.F) {
	for _, s := range []string{`a 1`, `a{x="1",y="\"\\\n"} 2 3`, `a{} NaN`, `centrifugo_node_build{version="0.1.0 Rotor"} 1`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		s, err := parseSample(line)
		if err != nil {
			return
		}
		var b strings.Builder
		b.WriteString(s.Name)
		b.WriteByte('{')
		for i, l := range s.Labels {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(l.Name + `="`)
			b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(l.Value))
			b.WriteByte('"')
		}
		b.WriteString("} ")
		b.WriteString(fmt.Sprint(s.Value))
		again, err := parseSample([]byte(b.String()))
		if err != nil {
			t.Fatalf("%q parsed, its rewrite %q does not: %v", line, b.String(), err)
		}
		if again.Name != s.Name || len(again.Labels) != len(s.Labels) {
			t.Fatalf("%q: %+v became %+v", line, s, again)
		}
		for i := range s.Labels {
			if again.Labels[i] != s.Labels[i] {
				t.Fatalf("%q: label %+v became %+v", line, s.Labels[i], again.Labels[i])
			}
		}
	})
}

// TestProxyMetrics: proxy calls are timed by type and name; the client's name and
// version make its connection "unregistered" in the connection series.
func TestProxyMetrics(t *testing.T) {
	p := &fakeProxy{resp: map[ProxyKind]*ProxyResponse{
		ProxyConnect: {Result: &ProxyResult{User: "77"}},
	}}
	n := newTestNode(t, proxyConfig(p))
	c, _ := newTestClient(n)
	c.HandleFrame([]byte(`{"id":1,"connect":{"name":"js","version":"5"}}`))
	for series, want := range map[string]float64{
		`centrifugo_proxy_duration_seconds_count{name="default",protocol="http",type="connect"}`:                                                    1,
		`centrifugo_proxy_duration_seconds_histogram_count{name="default",protocol="http",type="connect"}`:                                          1,
		`centrifugo_proxy_inflight_requests{name="default",protocol="http",type="connect"}`:                                                         0,
		`centrifugo_proxy_errors{name="default",protocol="http",type="connect"}`:                                                                    0,
		`centrifugo_client_connections_accepted{accept_protocol="",client_name="unregistered",client_version="unregistered",transport="websocket"}`: 1,
	} {
		if v, ok := seriesValue(t, n, series); !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
}

// TestPubSubLag: a publication stamped by the publishing node (Redis broker) is
// timed from its stamp to its arrival here.
func TestPubSubLag(t *testing.T) {
	n := newTestNode(t, testConfig())
	pub := codec.Publication{Data: []byte(`{}`), Time: time.Now().Add(-300 * time.Millisecond).UnixMilli()}
	if err := n.HandlePublication("news", &pub, codec.StreamPosition{}, false, nil); err != nil {
		t.Fatal(err)
	}
	if v, _ := seriesValue(t, n, `centrifugo_node_pub_sub_lag_seconds_count{channel_namespace=""}`); v != 1 {
		t.Fatalf("lag observations %v, want 1", v)
	}
	if v, _ := seriesValue(t, n, `centrifugo_node_pub_sub_lag_seconds_bucket{channel_namespace="",le="0.2"}`); v != 0 {
		t.Fatalf("a 300 ms lag counted under 0.2 s")
	}
	if v, _ := seriesValue(t, n, `centrifugo_node_pub_sub_lag_seconds_bucket{channel_namespace="",le="0.5"}`); v != 1 {
		t.Fatalf("a 300 ms lag not counted under 0.5 s")
	}
}

// TestWriteFailedCountedAndLogged: a transport that could not write (write timeout
// on a full socket) ends the session as 3009 "write error": counted and logged.
func TestWriteFailedCountedAndLogged(t *testing.T) {
	n, logs := newLoggedNode(t, slog.LevelInfo)
	c, tr := connected(t, n, "stuck")
	c.WriteFailed()
	c.WriteFailed() // once only
	if c.HandleFrame([]byte(`{"id":2,"subscribe":{"channel":"news"}}`)) {
		t.Fatal("session still handles frames after its transport failed")
	}
	c.OnClose() // the transport closes the connection and reports it
	if v, _ := seriesValue(t, n, `centrifugo_client_num_server_disconnects{code="3009"}`); v != 1 {
		t.Fatalf("3009 counted %v times, want 1", v)
	}
	if !strings.Contains(logs.String(), "reason=\"write error\"") || !strings.Contains(logs.String(), "user=stuck") {
		t.Fatalf("write error not logged: %s", logs.String())
	}
	if d := tr.disconnect(); d != nil {
		t.Fatalf("the engine closed the transport itself (%v): it is already closing", d)
	}
}

// TestTagsFilterDroppedCounted: subscribers whose tags filter rejects a
// publication are counted, as Centrifugo's tags_filter_dropped_publications.
func TestTagsFilterDroppedCounted(t *testing.T) {
	n := newTestNode(t, testConfig())
	subscribeSinks(t, n, "news", 2)
	tr := &sinkTransport{}
	c := &Client{node: n, t: tr, state: stateConnected, id: "filtered", tm: n.metrics.transport("websocket")}
	c.tslot = -1
	n.hub.addSub("news", subEntry{c: c, x: &subExtras{filter: tfLeaf("env", "eq", "prod")}})
	pub := codec.Publication{Data: []byte(`{}`), Tags: map[string]string{"env": "dev"}}
	if got := n.hub.broadcast("news", &pub, nil); got != 2 {
		t.Fatalf("delivered to %d, want 2", got)
	}
	if v, _ := seriesValue(t, n, `centrifugo_node_tags_filter_dropped_publications{channel_namespace=""}`); v != 1 {
		t.Fatalf("dropped by filter %v, want 1", v)
	}
	if v, _ := seriesValue(t, n, `centrifugo_transport_messages_sent{channel_namespace="",frame_type="push_publication",transport="websocket"}`); v != 2 {
		t.Fatalf("pushes counted %v, want 2", v)
	}
}
