package e2e_test

// /metrics: the output of a running server, after traffic from the Go SDK and raw
// WebSocket clients, is parsed with the Prometheus text parser
// (github.com/prometheus/common/expfmt, the reference implementation, so a
// malformed line, a duplicate TYPE or a family split in two fails the test), and
// every family of the list below must be there with its type and exactly its label
// names, as Centrifugo v6 exposes them (spec/config.md §9). With CENTRIFUGO_BIN set
// the same traffic runs against Centrifugo and every family both expose must
// agree on type and labels, which checks the list itself.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rotorhq/rotor/e2e/harness"
)

type wantFamily struct {
	typ    dto.MetricType
	labels []string // sorted
}

var (
	counter   = dto.MetricType_COUNTER
	gauge     = dto.MetricType_GAUGE
	summary   = dto.MetricType_SUMMARY
	histogram = dto.MetricType_HISTOGRAM
)

// wantFamilies is every series family the traffic of TestMetricsEndpoint makes a
// Centrifugo-compatible server expose.
var wantFamilies = map[string]wantFamily{
	"centrifugo_node_num_clients":                          {gauge, nil},
	"centrifugo_node_num_users":                            {gauge, nil},
	"centrifugo_node_num_channels":                         {gauge, nil},
	"centrifugo_node_num_subscriptions":                    {gauge, nil},
	"centrifugo_node_num_nodes":                            {gauge, nil},
	"centrifugo_node_build":                                {gauge, []string{"version"}},
	"centrifugo_node_messages_sent_count":                  {counter, []string{"channel_namespace", "type"}},
	"centrifugo_node_messages_received_count":              {counter, []string{"channel_namespace", "type"}},
	"centrifugo_node_action_count":                         {counter, []string{"action", "channel_namespace"}},
	"centrifugo_node_broadcast_duration_seconds":           {histogram, []string{"channel_namespace", "type"}},
	"centrifugo_node_pub_sub_lag_seconds":                  {histogram, []string{"channel_namespace"}},
	"centrifugo_node_client_connection_limit":              {counter, nil},
	"centrifugo_node_tags_filter_dropped_publications":     {counter, []string{"channel_namespace"}},
	"centrifugo_client_connections_accepted":               {counter, []string{"accept_protocol", "client_name", "client_version", "transport"}},
	"centrifugo_client_connections_inflight":               {gauge, []string{"accept_protocol", "client_name", "client_version", "transport"}},
	"centrifugo_client_subscriptions_inflight":             {gauge, []string{"channel_namespace", "client_name"}},
	"centrifugo_client_command_duration_seconds":           {summary, []string{"channel_namespace", "method"}},
	"centrifugo_client_command_duration_seconds_histogram": {histogram, []string{"channel_namespace", "method"}},
	"centrifugo_client_num_reply_errors":                   {counter, []string{"channel_namespace", "code", "method"}},
	"centrifugo_client_num_server_disconnects":             {counter, []string{"code"}},
	"centrifugo_client_ping_pong_duration_seconds":         {histogram, []string{"transport"}},
	"centrifugo_transport_messages_sent":                   {counter, []string{"channel_namespace", "frame_type", "transport"}},
	"centrifugo_transport_messages_sent_size":              {counter, []string{"channel_namespace", "frame_type", "transport"}},
	"centrifugo_transport_messages_received":               {counter, []string{"channel_namespace", "frame_type", "transport"}},
	"centrifugo_transport_messages_received_size":          {counter, []string{"channel_namespace", "frame_type", "transport"}},
	"centrifugo_transport_outgoing_close_count":            {counter, []string{"code", "transport"}},
	"centrifugo_api_command_duration_seconds":              {summary, []string{"method", "protocol"}},
	"centrifugo_api_command_duration_seconds_histogram":    {histogram, []string{"method", "protocol"}},
	"centrifugo_broker_redis_pub_sub_dropped_messages":     {counter, []string{"broker_name", "channel_type"}},
	// Process and Go runtime metrics.
	"process_cpu_seconds_total":     {counter, nil},
	"process_resident_memory_bytes": {gauge, nil},
	"process_open_fds":              {gauge, nil},
	"process_max_fds":               {gauge, nil},
	"process_start_time_seconds":    {gauge, nil},
	"go_goroutines":                 {gauge, nil},
	"go_memstats_alloc_bytes":       {gauge, nil},
	"go_memstats_sys_bytes":         {gauge, nil},
}

// Families only Rotor has (Centrifugo creates these series on first use only, and
// the traffic below does not reach them there) or whose labels only Rotor fixes.
var rotorOnlyFamilies = []string{
	"centrifugo_api_command_errors_total",
	"centrifugo_client_subscriptions_accepted",
	"centrifugo_client_recover",
}

func metricsConfig() harness.Config {
	cfg := harness.DefaultConfig()
	cfg.Set("prometheus.enabled", true)
	cfg.Set("node.info_metrics_aggregate_interval", "1s")
	return cfg
}

// metricsTraffic exercises what the families above count: an SDK client
// subscribes, receives an API publication and answers pings; it gets a reply
// error; raw clients are disconnected with 3501 and 3500; the API answers an
// error.
func metricsTraffic(t *testing.T, srv *harness.Server) {
	t.Helper()
	c, _, sub, _ := subscribedClient(t, srv, "m1", "chat:metrics")
	srv.MustAPI(t, "publish", map[string]any{"channel": "chat:metrics", "data": map[string]any{"n": 1}})
	sub.nextPublication(t, 5*time.Second)
	if _, err := c.History(t.Context(), "chat:metrics"); err == nil {
		t.Fatal("history on a channel without history succeeded")
	}
	if resp := srv.API(t, "publish", map[string]any{"channel": "nope:x", "data": map[string]any{}}); resp.Error == nil {
		t.Fatalf("publish to an unknown namespace: %+v", resp)
	}
	bad := srv.DialRaw(t)
	bad.Send("garbage")
	if cl := bad.WaitClose(5 * time.Second); cl.Code != 3501 {
		t.Fatalf("garbage: close %+v, want 3501", cl)
	}
	tok := srv.DialRaw(t)
	tok.Send(`{"id":1,"connect":{"token":"a.b.c"}}`)
	if cl := tok.WaitClose(5 * time.Second); cl.Code != 3500 {
		t.Fatalf("bad token: close %+v, want 3500", cl)
	}
}

func scrape(t *testing.T, srv *harness.Server) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	resp, err := http.Get(srv.BaseURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("/metrics Content-Type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse as the Prometheus text format: %v", err)
	}
	return fams, string(body)
}

func labelNames(m *dto.Metric) []string {
	var out []string
	for _, l := range m.GetLabel() {
		out = append(out, l.GetName())
	}
	sort.Strings(out)
	return out
}

// value returns the sum of the values (sample counts for summaries and
// histograms) of fam's series whose labels include match.
func value(fam *dto.MetricFamily, match map[string]string) (sum float64, found bool) {
	if fam == nil {
		return 0, false
	}
next:
	for _, m := range fam.GetMetric() {
		for k, v := range match {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		found = true
		switch fam.GetType() {
		case counter:
			sum += m.GetCounter().GetValue()
		case gauge:
			sum += m.GetGauge().GetValue()
		case summary:
			sum += float64(m.GetSummary().GetSampleCount())
		case histogram:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum, found
}

// checkFamilies checks that fams has every family of want with its type and label
// names, each with a HELP text.
func checkFamilies(t *testing.T, fams map[string]*dto.MetricFamily, want map[string]wantFamily) {
	t.Helper()
	for name, w := range want {
		fam := fams[name]
		if fam == nil {
			t.Errorf("family %s missing", name)
			continue
		}
		if fam.GetType() != w.typ {
			t.Errorf("%s is a %v, want %v", name, fam.GetType(), w.typ)
		}
		if strings.HasPrefix(name, "centrifugo_") && fam.GetHelp() == "" {
			t.Errorf("%s has no HELP text", name)
		}
		for _, m := range fam.GetMetric() {
			if got := labelNames(m); !slices.Equal(got, w.labels) {
				t.Errorf("%s series with labels %v, want %v", name, got, w.labels)
			}
		}
	}
}

func TestMetricsEndpoint(t *testing.T) {
	srv := harness.Start(t, metricsConfig())
	metricsTraffic(t, srv)
	// A ping/pong round (ping_interval 2s) and a node info snapshot (1s).
	var fams map[string]*dto.MetricFamily
	deadline := time.Now().Add(10 * time.Second)
	for {
		fams, _ = scrape(t, srv)
		if v, _ := value(fams["centrifugo_client_ping_pong_duration_seconds"], map[string]string{"transport": "websocket"}); v >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no ping/pong round measured")
		}
		time.Sleep(100 * time.Millisecond)
	}
	checkFamilies(t, fams, wantFamilies)
	for _, name := range rotorOnlyFamilies {
		if fams[name] == nil {
			t.Errorf("family %s missing", name)
		}
	}
	for _, c := range []struct {
		family string
		match  map[string]string
		min    float64
	}{
		{"centrifugo_client_num_server_disconnects", map[string]string{"code": "3501"}, 1},
		{"centrifugo_client_num_server_disconnects", map[string]string{"code": "3500"}, 1},
		{"centrifugo_transport_outgoing_close_count", map[string]string{"code": "3501", "transport": "websocket"}, 1},
		{"centrifugo_transport_messages_sent", map[string]string{"frame_type": "push_publication", "transport": "websocket"}, 1},
		{"centrifugo_transport_messages_sent", map[string]string{"frame_type": "connect"}, 1},
		{"centrifugo_transport_messages_sent_size", map[string]string{"frame_type": "push_publication"}, 10},
		{"centrifugo_transport_messages_received", map[string]string{"frame_type": "subscribe"}, 1},
		{"centrifugo_transport_messages_received", map[string]string{"frame_type": "client_pong"}, 1},
		{"centrifugo_client_num_reply_errors", map[string]string{"method": "history", "code": "108"}, 1},
		{"centrifugo_client_command_duration_seconds", map[string]string{"method": "connect"}, 1},
		{"centrifugo_client_connections_accepted", map[string]string{"client_name": "unregistered", "transport": "websocket"}, 1},
		{"centrifugo_client_connections_inflight", map[string]string{"client_name": "unregistered"}, 1},
		{"centrifugo_client_subscriptions_inflight", map[string]string{"channel_namespace": ""}, 1},
		{"centrifugo_node_num_clients", nil, 1},
		{"centrifugo_node_num_nodes", nil, 1},
		{"centrifugo_node_messages_sent_count", map[string]string{"type": "publication"}, 1},
		{"centrifugo_node_messages_received_count", map[string]string{"type": "publication"}, 1},
		{"centrifugo_node_broadcast_duration_seconds", map[string]string{"type": "publication"}, 1},
		{"centrifugo_node_action_count", map[string]string{"action": "add_client"}, 1},
		{"centrifugo_api_command_duration_seconds", map[string]string{"method": "publish", "protocol": "http"}, 2},
		{"centrifugo_api_command_errors_total", map[string]string{"method": "publish", "error": "102"}, 1},
		{"process_resident_memory_bytes", nil, 1},
		{"go_goroutines", nil, 1},
	} {
		if v, ok := value(fams[c.family], c.match); !ok || v < c.min {
			t.Errorf("%s%v = %v (found %v), want at least %v", c.family, c.match, v, ok, c.min)
		}
	}

	// The info API shows the node's aggregated metrics, Centrifugo's keys.
	var info struct {
		Nodes []struct {
			Metrics *struct {
				Interval float64            `json:"interval"`
				Items    map[string]float64 `json:"items"`
			} `json:"metrics"`
		} `json:"nodes"`
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		if err := json.Unmarshal(srv.MustAPI(t, "info", map[string]any{}), &info); err != nil {
			t.Fatal(err)
		}
		if m := info.Nodes[0].Metrics; m != nil && m.Items["centrifugo.node.num_clients"] >= 1 {
			if m.Interval <= 0 || m.Interval > 5 {
				t.Errorf("info metrics interval %v, want about 1 (node.info_metrics_aggregate_interval)", m.Interval)
			}
			for _, key := range []string{"centrifugo.node.num_subscriptions", "centrifugo.client.num_server_disconnects.code.3501", "centrifugo.client.command_duration_seconds.count.method.connect"} {
				if _, ok := m.Items[key]; !ok {
					t.Errorf("info metrics lack %s: %v", key, m.Items)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("info never showed the node's metrics: %+v", info)
		}
		time.Sleep(100 * time.Millisecond)
	}

	if bin := os.Getenv("CENTRIFUGO_BIN"); bin != "" {
		cf := harness.StartBinary(t, bin, metricsConfig())
		metricsTraffic(t, cf)
		cfFams, _ := scrape(t, cf)
		compared := 0
		for name, fam := range cfFams {
			w, ok := wantFamilies[name]
			if !ok {
				continue
			}
			compared++
			if fam.GetType() != w.typ {
				t.Errorf("Centrifugo's %s is a %v, the list says %v", name, fam.GetType(), w.typ)
			}
			for _, m := range fam.GetMetric() {
				if got := labelNames(m); !slices.Equal(got, w.labels) {
					t.Errorf("Centrifugo's %s has labels %v, the list says %v", name, got, w.labels)
				}
			}
		}
		if compared < 20 {
			t.Errorf("only %d of the listed families found in Centrifugo's output", compared)
		}
		t.Logf("compared %d families with Centrifugo", compared)
	}
}

// TestSlowConsumerMetricAndLog: a subscriber that stops reading while publications
// keep coming is disconnected with 3008, which is counted and logged with its
// client and user, not dropped silently.
func TestSlowConsumerMetricAndLog(t *testing.T) {
	cfg := metricsConfig()
	cfg.Set("client.queue_max_size", 65536)
	// No ping (the raw client would not answer it and get 3012 first).
	cfg.Set("client.ping_interval", "60s")
	cfg.Set("client.pong_timeout", "20s")
	srv := harness.Start(t, cfg)
	raw := srv.DialRaw(t)
	raw.Send(fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`, harness.UserToken(t, "laggard")))
	raw.Read(5 * time.Second)
	raw.Send(`{"id":2,"subscribe":{"channel":"chat:flood"}}`)
	raw.Read(5 * time.Second)
	// The client reads nothing more: the socket buffers fill, then its queue.
	floodUntilDisconnect(t, srv, "chat:flood", "3008", "")
	// One log line names the client, the user and the reason, at info (text or
	// JSON, whichever the log format is). It is written when the connection is
	// gone, which for a peer that reads nothing is after the close handshake times
	// out (5 s).
	var line string
	deadline := time.Now().Add(15 * time.Second)
	for line == "" {
		for _, l := range strings.Split(srv.Output(), "\n") {
			if strings.Contains(l, "closing client connection") && strings.Contains(l, "laggard") {
				line = l
			}
		}
		if line == "" && time.Now().After(deadline) {
			t.Fatalf("no log line for the 3008 disconnect of user laggard:\n%s", srv.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"info", "slow", "3008", "client"} {
		if !strings.Contains(strings.ToLower(line), want) {
			t.Errorf("log line %q lacks %s", line, want)
		}
	}
}

// TestClusterNodeMetrics: two nodes on one Redis (the second a Centrifugo v6 node
// when CENTRIFUGO_BIN is set) see each other's aggregated metrics in info: the
// node-control announcement carries them every node.info_metrics_aggregate_interval.
func TestClusterNodeMetrics(t *testing.T) {
	addr := harness.StartRedis(t).Addr()
	cfg := func(name string) harness.Config {
		return redisNodeConfig(addr, name).Set("node.info_metrics_aggregate_interval", "1s")
	}
	a := harness.Start(t, cfg("rotor-a"))
	var b *harness.Server
	if bin := os.Getenv("CENTRIFUGO_BIN"); bin != "" {
		b = harness.StartBinary(t, bin, cfg("other-b"))
	} else {
		b = harness.Start(t, cfg("other-b"))
	}
	subscribedClient(t, a, "m1", "chat:cluster")

	type nodeMetrics struct {
		Name    string `json:"name"`
		Metrics *struct {
			Interval float64            `json:"interval"`
			Items    map[string]float64 `json:"items"`
		} `json:"metrics"`
	}
	metricsOf := func(srv *harness.Server, name string) map[string]float64 {
		var r struct {
			Nodes []nodeMetrics `json:"nodes"`
		}
		if err := json.Unmarshal(srv.MustAPI(t, "info", map[string]any{}), &r); err != nil {
			t.Fatal(err)
		}
		for _, n := range r.Nodes {
			if n.Name == name && n.Metrics != nil {
				return n.Metrics.Items
			}
		}
		return nil
	}
	waitCond(t, 15*time.Second, "rotor-a's metrics, with its client, in other-b's info", func() bool {
		m := metricsOf(b, "rotor-a")
		return m != nil && m["centrifugo.node.num_clients"] == 1 && m["centrifugo.node.num_subscriptions"] == 1
	})
	m := metricsOf(b, "rotor-a")
	for _, key := range []string{"centrifugo.client.command_duration_seconds.count.method.subscribe", "centrifugo.node.num_nodes"} {
		if _, ok := m[key]; !ok {
			t.Errorf("rotor-a's metrics in other-b's info lack %s: %v", key, m)
		}
	}
	waitCond(t, 15*time.Second, "other-b's metrics in rotor-a's info", func() bool {
		m := metricsOf(a, "other-b")
		_, ok := m["centrifugo.node.num_clients"]
		return ok
	})
}

// TestWriteTimeoutMetricAndLog: a subscriber that stops reading, with a queue limit
// too large to reach, is closed when a write waits longer than
// websocket.write_timeout: the session ends as 3009 "write error", counted and
// logged, instead of vanishing.
func TestWriteTimeoutMetricAndLog(t *testing.T) {
	cfg := metricsConfig()
	cfg.Set("client.queue_max_size", 512<<20)
	cfg.Set("websocket.write_timeout", "300ms")
	cfg.Set("client.ping_interval", "60s")
	cfg.Set("client.pong_timeout", "20s")
	srv := harness.Start(t, cfg)
	raw := srv.DialRaw(t)
	raw.Send(fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`, harness.UserToken(t, "stalled")))
	raw.Read(5 * time.Second)
	raw.Send(`{"id":2,"subscribe":{"channel":"chat:stall"}}`)
	raw.Read(5 * time.Second)
	floodUntilDisconnect(t, srv, "chat:stall", "3009", "3008")
	deadline := time.Now().Add(15 * time.Second)
	for {
		out := strings.ToLower(srv.Output())
		if strings.Contains(out, "closing client connection") && strings.Contains(out, "stalled") && strings.Contains(out, "write error") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line for the 3009 of user stalled:\n%s", srv.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestUniWebSocketWriteTimeout: a uni_websocket subscriber that stops reading is
// closed with 3009 after uni_websocket.write_timeout, not websocket.write_timeout
// (60 s here, past the test's deadline).
func TestUniWebSocketWriteTimeout(t *testing.T) {
	cfg := metricsConfig()
	cfg.Set("uni_websocket.enabled", true)
	cfg.Set("client.queue_max_size", 512<<20)
	cfg.Set("websocket.write_timeout", "60s")
	cfg.Set("uni_websocket.write_timeout", "300ms")
	cfg.Set("client.ping_interval", "60s")
	cfg.Set("client.pong_timeout", "20s")
	srv := harness.Start(t, cfg)
	req := `{"token":"` + harness.UserToken(t, "unistalled") + `","subs":{"chat:unistall":{}}}`
	conn, _, err := websocket.DefaultDialer.Dial(uniWSURL(srv)+"?cf_connect="+url.QueryEscape(req), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, m, err := conn.ReadMessage(); err != nil || !strings.HasPrefix(string(m), `{"connect":`) {
		t.Fatalf("connect push %q %v", m, err)
	}
	// From here on the client reads nothing.
	floodUntilDisconnect(t, srv, "chat:unistall", "3009", "")
}

// floodUntilDisconnect publishes 60 KB publications to ch, for a subscriber that
// reads nothing, until the server has counted a disconnect with code (checked
// every 10 publications). It fails after 30 s, or at once when the server counts
// a disconnect with forbid (unless empty).
func floodUntilDisconnect(t *testing.T, srv *harness.Server, ch, code, forbid string) {
	t.Helper()
	payload := strings.Repeat("x", 60000)
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		srv.MustAPI(t, "publish", map[string]any{"channel": ch, "data": map[string]any{"p": payload}})
		if i%10 != 0 {
			continue
		}
		fams, _ := scrape(t, srv)
		if v, _ := value(fams["centrifugo_client_num_server_disconnects"], map[string]string{"code": code}); v >= 1 {
			return
		}
		if v, _ := value(fams["centrifugo_client_num_server_disconnects"], map[string]string{"code": forbid}); forbid != "" && v >= 1 {
			t.Fatalf("disconnected with %s, want %s", forbid, code)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no disconnect with %s within 30 s", code)
		}
	}
}
