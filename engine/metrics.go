package engine

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/rotorhq/rotor/codec"
)

// Metrics: the node's series under Centrifugo v6's names and label sets
// (spec/config.md §9), in a metrics.Set of the node's own so that tests can run
// several nodes; Shutdown unregisters it.
//
// channel_namespace is always "": Centrifugo v6 OSS never installs a namespace
// resolver for its metrics, so every series carries the label with an empty value.
// That also keeps the fan-out path free of per-channel lookups. client_name and
// client_version are "unnamed"/"unversioned" when the client sent none and
// "unregistered" otherwise, as Centrifugo reports names it was not told to keep.
//
// Hot paths never build a series name: everything a delivery or a command counts is
// resolved when the node (or, for a transport, its first connection) starts, and
// counted with one atomic add. Series keyed by an open set of values (reply error
// and disconnect codes) are resolved once per value through a small locked cache;
// they count events, not messages.

// frameType indexes the frame_type (and, for commands, method) label values.
type frameType uint8

const (
	ftConnect frameType = iota
	ftSubscribe
	ftUnsubscribe
	ftPublish
	ftPresence
	ftPresenceStats
	ftHistory
	ftSend
	ftRPC
	ftRefresh
	ftSubRefresh
	ftUnknown // last command method: methods are [0, ftUnknown]
	ftServerPing
	ftClientPong
	ftPushPublication
	ftPushJoin
	ftPushLeave
	ftPushUnsubscribe
	ftPushSubscribe
	ftPushDisconnect
	ftPushMessage
	ftPushRefresh
	numFrameTypes
)

var frameTypeNames = [numFrameTypes]string{
	ftConnect:         "connect",
	ftSubscribe:       "subscribe",
	ftUnsubscribe:     "unsubscribe",
	ftPublish:         "publish",
	ftPresence:        "presence",
	ftPresenceStats:   "presence_stats",
	ftHistory:         "history",
	ftSend:            "send",
	ftRPC:             "rpc",
	ftRefresh:         "refresh",
	ftSubRefresh:      "sub_refresh",
	ftUnknown:         "unknown",
	ftServerPing:      "server_ping",
	ftClientPong:      "client_pong",
	ftPushPublication: "push_publication",
	ftPushJoin:        "push_join",
	ftPushLeave:       "push_leave",
	ftPushUnsubscribe: "push_unsubscribe",
	ftPushSubscribe:   "push_subscribe",
	ftPushDisconnect:  "push_disconnect",
	ftPushMessage:     "push_message",
	ftPushRefresh:     "push_refresh",
}

// Node actions counted by centrifugo_node_action_count.
type action uint8

const (
	actAddClient action = iota
	actRemoveClient
	actAddSubscription
	actRemoveSubscription
	actAddPresence
	actRemovePresence
	actPresence
	actPresenceStats
	actHistory
	actHistoryRemove
	actHistoryRecover
	actSurvey
	numActions
)

var actionNames = [numActions]string{
	actAddClient:          "add_client",
	actRemoveClient:       "remove_client",
	actAddSubscription:    "add_subscription",
	actRemoveSubscription: "remove_subscription",
	actAddPresence:        "add_presence",
	actRemovePresence:     "remove_presence",
	actPresence:           "presence",
	actPresenceStats:      "presence_stats",
	actHistory:            "history",
	actHistoryRemove:      "history_remove",
	actHistoryRecover:     "history_recover",
	actSurvey:             "survey",
}

// Message types of centrifugo_node_messages_{sent,received}_count.
const (
	msgPublication = iota
	msgJoin
	msgLeave
	msgControl
	numMsgTypes
)

var msgTypeNames = [numMsgTypes]string{"publication", "join", "leave", "control"}

// Summary objectives and histogram buckets as Centrifugo's.
var (
	summaryQuantiles = []float64{0.5, 0.99, 0.999}
	summaryWindow    = time.Minute
	commandBuckets   = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	broadcastBuckets = []float64{0.000001, 0.000005, 0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	lagBuckets       = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10}
	surveyBuckets    = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	// DefaultBuckets are Prometheus' default histogram buckets (client_golang's
	// DefBuckets), which Centrifugo's API and proxy histograms use.
	DefaultBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
)

// nodeMetrics are the node's series, resolved once.
type nodeMetrics struct {
	set *metrics.Set

	msgSent, msgReceived [numMsgTypes]*metrics.Counter
	actions              [numActions]*metrics.Counter
	broadcastDuration    *metrics.PrometheusHistogram // type="publication"
	pubSubLag            *metrics.PrometheusHistogram
	surveySummary        *metrics.Summary
	surveyHistogram      *metrics.PrometheusHistogram
	connectionLimit      *metrics.Counter
	tagsFilterDropped    *metrics.Counter

	// Commands by method: centrifugo_client_command_duration_seconds (+_histogram).
	cmdSummary   [ftUnknown + 1]*metrics.Summary
	cmdHistogram [ftUnknown + 1]*metrics.PrometheusHistogram

	// recover[recovered][has_recovered_publications].
	recover [2][2]*metrics.Counter
	// Subscriptions by client_name (0 unnamed, 1 unregistered).
	subsAccepted [2]*metrics.Counter
	subsInflight [2]*metrics.Gauge

	// transports by name (transportMetrics); written under mu, read lock-free.
	mu         sync.Mutex
	transports atomic.Pointer[map[string]*transportMetrics]
	// codes caches series keyed by an open set of codes: reply errors, server
	// disconnects and unsubscribes.
	codes map[codeKey]*metrics.Counter
	// proxies caches the series of each proxy (type, name); guarded by mu.
	proxies map[proxyKey]*proxyMetrics

	// snap is the node info snapshot (metricsnap.go).
	snap snapshotter
}

// transportMetrics are the series of one transport (websocket, sse, …).
type transportMetrics struct {
	name               string
	sent, sentSize     [numFrameTypes]*metrics.Counter
	received, recvSize [numFrameTypes]*metrics.Counter
	pingPong           *metrics.PrometheusHistogram
	// accepted/inflight[client_name][client_version], 0 = unnamed/unversioned,
	// 1 = unregistered.
	accepted [2][2]*metrics.Counter
	inflight [2][2]*metrics.Gauge
}

type codeKind uint8

const (
	codeReplyError codeKind = iota
	codeServerDisconnect
	codeServerUnsubscribe
	codeOutgoingClose
)

type codeKey struct {
	kind   codeKind
	method frameType
	code   uint32
	tr     *transportMetrics
}

const nsLabel = `channel_namespace=""`

// registerMetrics builds the node's series. Called by New (the series exist, at
// zero, before the first client: dashboards and the info snapshot see them).
func (n *Node) registerMetrics() {
	s := metrics.NewSet()
	m := &nodeMetrics{set: s, codes: make(map[codeKey]*metrics.Counter)}
	empty := map[string]*transportMetrics{}
	m.transports.Store(&empty)
	gauge := func(name string, pick func(clients, users, channels, subs int) int) {
		s.NewGauge(name, func() float64 {
			return float64(pick(n.hub.counts()))
		})
	}
	gauge("centrifugo_node_num_clients", func(c, _, _, _ int) int { return c })
	gauge("centrifugo_node_num_users", func(_, u, _, _ int) int { return u })
	gauge("centrifugo_node_num_channels", func(_, _, ch, _ int) int { return ch })
	gauge("centrifugo_node_num_subscriptions", func(_, _, _, s int) int { return s })
	s.NewGauge("centrifugo_node_num_nodes", func() float64 { return float64(n.numNodes()) })
	s.NewGauge(`centrifugo_node_build{version=`+strconv.Quote(n.cfg.Version)+`}`, func() float64 { return 1 })
	for i, t := range msgTypeNames {
		m.msgSent[i] = s.NewCounter(`centrifugo_node_messages_sent_count{` + nsLabel + `,type="` + t + `"}`)
		m.msgReceived[i] = s.NewCounter(`centrifugo_node_messages_received_count{` + nsLabel + `,type="` + t + `"}`)
	}
	for i, a := range actionNames {
		m.actions[i] = s.NewCounter(`centrifugo_node_action_count{action="` + a + `",` + nsLabel + `}`)
	}
	m.broadcastDuration = s.NewPrometheusHistogramExt(`centrifugo_node_broadcast_duration_seconds{`+nsLabel+`,type="publication"}`, broadcastBuckets)
	m.pubSubLag = s.NewPrometheusHistogramExt(`centrifugo_node_pub_sub_lag_seconds{`+nsLabel+`}`, lagBuckets)
	m.surveySummary = s.NewSummaryExt(`centrifugo_node_survey_duration_seconds{op="channels"}`, summaryWindow, summaryQuantiles)
	m.surveyHistogram = s.NewPrometheusHistogramExt(`centrifugo_node_survey_duration_seconds_histogram{op="channels"}`, surveyBuckets)
	m.connectionLimit = s.NewCounter(`centrifugo_node_client_connection_limit`)
	m.tagsFilterDropped = s.NewCounter(`centrifugo_node_tags_filter_dropped_publications{` + nsLabel + `}`)
	for ft := ftConnect; ft <= ftUnknown; ft++ {
		l := `{` + nsLabel + `,method="` + frameTypeNames[ft] + `"}`
		m.cmdSummary[ft] = s.NewSummaryExt(`centrifugo_client_command_duration_seconds`+l, summaryWindow, summaryQuantiles)
		m.cmdHistogram[ft] = s.NewPrometheusHistogramExt(`centrifugo_client_command_duration_seconds_histogram`+l, commandBuckets)
	}
	for i, rec := range [2]string{"no", "yes"} {
		for j, has := range [2]string{"no", "yes"} {
			m.recover[i][j] = s.NewCounter(`centrifugo_client_recover{` + nsLabel + `,has_recovered_publications="` + has + `",recovered="` + rec + `"}`)
		}
	}
	for i, name := range [2]string{"unnamed", "unregistered"} {
		l := `{` + nsLabel + `,client_name="` + name + `"}`
		m.subsAccepted[i] = s.NewCounter(`centrifugo_client_subscriptions_accepted` + l)
		m.subsInflight[i] = s.NewGauge(`centrifugo_client_subscriptions_inflight`+l, nil)
	}
	metrics.RegisterSet(s)
	n.metrics = m
}

// transport returns the series of the transport called name, creating them on
// its first connection.
func (m *nodeMetrics) transport(name string) *transportMetrics {
	if t := (*m.transports.Load())[name]; t != nil {
		return t
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := *m.transports.Load()
	if t := cur[name]; t != nil {
		return t
	}
	t := &transportMetrics{name: name}
	s := m.set
	tl := `transport=` + strconv.Quote(name)
	for ft := frameType(0); ft < numFrameTypes; ft++ {
		l := `{` + nsLabel + `,frame_type="` + frameTypeNames[ft] + `",` + tl + `}`
		t.sent[ft] = s.NewCounter(`centrifugo_transport_messages_sent` + l)
		t.sentSize[ft] = s.NewCounter(`centrifugo_transport_messages_sent_size` + l)
		t.received[ft] = s.NewCounter(`centrifugo_transport_messages_received` + l)
		t.recvSize[ft] = s.NewCounter(`centrifugo_transport_messages_received_size` + l)
	}
	t.pingPong = s.NewPrometheusHistogramExt(`centrifugo_client_ping_pong_duration_seconds{`+tl+`}`, commandBuckets)
	for i, name := range [2]string{"unnamed", "unregistered"} {
		for j, version := range [2]string{"unversioned", "unregistered"} {
			l := `{accept_protocol="",client_name="` + name + `",client_version="` + version + `",` + tl + `}`
			t.accepted[i][j] = s.NewCounter(`centrifugo_client_connections_accepted` + l)
			t.inflight[i][j] = s.NewGauge(`centrifugo_client_connections_inflight`+l, nil)
		}
	}
	next := make(map[string]*transportMetrics, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	next[name] = t
	m.transports.Store(&next)
	return t
}

// code returns the counter of one (kind, method, code) series, creating it on
// first use. Events only (errors, disconnects), never per message.
func (m *nodeMetrics) code(k codeKey) *metrics.Counter {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.codes[k]; c != nil {
		return c
	}
	code := strconv.FormatUint(uint64(k.code), 10)
	var name string
	switch k.kind {
	case codeReplyError:
		name = `centrifugo_client_num_reply_errors{` + nsLabel + `,code="` + code + `",method="` + frameTypeNames[k.method] + `"}`
	case codeServerDisconnect:
		name = `centrifugo_client_num_server_disconnects{code="` + code + `"}`
	case codeServerUnsubscribe:
		name = `centrifugo_client_num_server_unsubscribes{` + nsLabel + `,code="` + code + `"}`
	case codeOutgoingClose:
		name = `centrifugo_transport_outgoing_close_count{code="` + code + `",transport=` + strconv.Quote(k.tr.name) + `}`
	}
	c := m.set.GetOrCreateCounter(name)
	m.codes[k] = c
	return c
}

// observeDuration records d in a summary/histogram pair.
func observeDuration(s *metrics.Summary, h *metrics.PrometheusHistogram, d time.Duration) {
	v := d.Seconds()
	s.Update(v)
	h.Update(v)
}

// clientLabelIndex maps a client name or version to the index of its label value:
// 0 for none sent, 1 ("unregistered") otherwise.
func clientLabelIndex(s string) int {
	if s == "" {
		return 0
	}
	return 1
}

// countAction counts one node action.
func (n *Node) countAction(a action) { n.metrics.actions[a].Inc() }

// TransportNamer is implemented by transports that are not WebSocket: Name returns
// Centrifugo's name of the transport ("sse", "http_stream", "uni_websocket", …),
// the transport label of its series. A Transport without it is "websocket".
type TransportNamer interface {
	Name() string
}

func transportName(t Transport) string {
	if tn, ok := t.(TransportNamer); ok {
		if name := tn.Name(); name != "" {
			return name
		}
	}
	return "websocket"
}

// commandType returns the method of cmd (ftClientPong for a pong, ftUnknown for a
// command without a request).
func commandType(cmd *codec.Command) frameType {
	switch {
	case cmd.Connect != nil:
		return ftConnect
	case cmd.Subscribe != nil:
		return ftSubscribe
	case cmd.Unsubscribe != nil:
		return ftUnsubscribe
	case cmd.Publish != nil:
		return ftPublish
	case cmd.Presence != nil:
		return ftPresence
	case cmd.PresenceStats != nil:
		return ftPresenceStats
	case cmd.History != nil:
		return ftHistory
	case cmd.RPC != nil:
		return ftRPC
	case cmd.Send != nil:
		return ftSend
	case cmd.Refresh != nil:
		return ftRefresh
	case cmd.SubRefresh != nil:
		return ftSubRefresh
	case cmd.ID == 0:
		return ftClientPong
	}
	return ftUnknown
}

// countSent counts one message of size bytes queued to c as ft.
func (c *Client) countSent(ft frameType, size int) {
	if tm := c.tm; tm != nil {
		tm.sent[ft].Inc()
		tm.sentSize[ft].Add(size)
	}
}

// countServerDisconnect counts a disconnect the server initiated
// (centrifugo_client_num_server_disconnects, and the close frame it sends:
// centrifugo_transport_outgoing_close_count).
func (c *Client) countServerDisconnect(code uint32) {
	m := c.node.metrics
	m.code(codeKey{kind: codeServerDisconnect, code: code}).Inc()
	if c.tm != nil {
		m.code(codeKey{kind: codeOutgoingClose, code: code, tr: c.tm}).Inc()
	}
}

// countServerUnsubscribe counts an unsubscribe push the server sent.
func (c *Client) countServerUnsubscribe(code uint32, size int) {
	c.node.metrics.code(codeKey{kind: codeServerUnsubscribe, code: code}).Inc()
	c.countSent(ftPushUnsubscribe, size)
}

// logDisconnect logs a disconnect the server initiated, once the session is closed
// (OnClose: never under a hub or channel lock, unlike Disconnect). Like Centrifugo,
// every one at debug, and at info those an operator acts on: clients that fall
// behind (3008), send what the server cannot accept or is not allowed, or run into
// a limit.
func (n *Node) logDisconnect(client, user string, d *Disconnect) {
	level := slog.LevelDebug
	if disconnectNeedsOperator(d.Code) {
		level = slog.LevelInfo
	}
	ctx := context.Background()
	if !n.log.Enabled(ctx, level) {
		return
	}
	n.log.LogAttrs(ctx, level, "closing client connection",
		slog.String("client", client), slog.String("user", user),
		slog.Uint64("code", uint64(d.Code)), slog.String("reason", d.Reason))
}

// disconnectNeedsOperator reports the disconnect codes logged at info.
func disconnectNeedsOperator(code uint32) bool {
	switch code {
	case DisconnectServerError.Code, DisconnectSlow.Code, DisconnectWriteError.Code, DisconnectTooManyRequests.Code,
		DisconnectInvalidToken.Code, DisconnectBadRequest.Code, DisconnectConnectionLimit.Code,
		DisconnectChannelLimit.Code, DisconnectBadProtocol.Code, DisconnectPermissionDenied.Code,
		DisconnectTooManyErrors.Code:
		return true
	}
	return false
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// defaultProxy is the name label of the connect and refresh proxies (and of the
// unnamed channel proxies), as Centrifugo names them.
const defaultProxy = "default"

var proxyKindNames = [...]string{
	ProxyConnect:    "connect",
	ProxyRefresh:    "refresh",
	ProxySubscribe:  "subscribe",
	ProxyPublish:    "publish",
	ProxyRPC:        "rpc",
	ProxySubRefresh: "sub_refresh",
}

// proxyMetrics are the series of one proxy (type, name).
type proxyMetrics struct {
	summary   *metrics.Summary
	histogram *metrics.PrometheusHistogram
	errors    *metrics.Counter
	inflight  *metrics.Gauge
}

type proxyKey struct {
	kind ProxyKind
	name string
}

// proxy returns the series of proxy calls of kind to the proxy called name,
// creating them on the first call. Per proxy call (an HTTP round trip), not per
// message.
func (m *nodeMetrics) proxy(kind ProxyKind, name string) *proxyMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := proxyKey{kind, name}
	if p := m.proxies[k]; p != nil {
		return p
	}
	typ := "unknown"
	if int(kind) < len(proxyKindNames) {
		typ = proxyKindNames[kind]
	}
	l := `{name=` + strconv.Quote(name) + `,protocol="http",type="` + typ + `"}`
	p := &proxyMetrics{
		summary:   m.set.NewSummaryExt(`centrifugo_proxy_duration_seconds`+l, summaryWindow, summaryQuantiles),
		histogram: m.set.NewPrometheusHistogramExt(`centrifugo_proxy_duration_seconds_histogram`+l, DefaultBuckets),
		errors:    m.set.NewCounter(`centrifugo_proxy_errors` + l),
		inflight:  m.set.NewGauge(`centrifugo_proxy_inflight_requests`+l, nil),
	}
	if m.proxies == nil {
		m.proxies = make(map[proxyKey]*proxyMetrics)
	}
	m.proxies[k] = p
	return p
}
