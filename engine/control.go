package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rotorhq/rotor/codec"
)

// Node control (history-recovery.md §5.5): the messages nodes sharing a broker
// exchange through Config.Controller, in Centrifugo's controlpb encoding, so Rotor and
// Centrifugo v6 nodes form one cluster:
//
//   - every node announces itself (Node) every 3 s; a node not heard from for 7 s, or
//     that announced its Shutdown, leaves the registry the info API lists and surveys
//     count;
//   - server API subscribe, unsubscribe, disconnect and refresh run on this node and
//     go to every other node, which applies them to its own connections of the user;
//   - surveys (the channels API) ask every node and wait for each one's answer,
//     addressed to the asking node, at most 10 s.
//
// Every command carries its sender's ID and a node ignores its own, so a controller
// that also delivers to the sender (Redis P.control, the memory controller) does not
// make the node apply a command twice. Without a Controller everything stays local.

const (
	nodeInfoInterval = 3 * time.Second
	nodeInfoMaxDelay = 7 * time.Second
	surveyTimeout    = 10 * time.Second
	// nodeMetricsInterval is how often an announcement carries this node's metrics
	// (Centrifugo's node.info_metrics_aggregate_interval default).
	nodeMetricsInterval = 60 * time.Second
	controlPublishLimit = 3 * time.Second // one control publish, bounded by its own context
)

// Survey reply codes (Centrifugo's survey package): 0 success.
const (
	surveyInternalError  uint32 = 1
	surveyInvalidRequest uint32 = 2
	surveyMethodNotFound uint32 = 3
)

// surveyChannelsOp is the op of Centrifugo's channels survey.
const surveyChannelsOp = "channels"

// errSurvey reports a node's non-zero survey reply.
var errSurvey = errors.New("engine: survey failed")

// nodeControl is the node's control state. Its mutexes are leaves: nothing else is
// locked while holding them and no I/O happens under them.
type nodeControl struct {
	ctl Controller // nil: control messages stay on this node

	// interval, maxDelay and surveyWait are nodeInfoInterval, nodeInfoMaxDelay and
	// surveyTimeout (tests shorten them before Run).
	interval, maxDelay, surveyWait time.Duration

	mu sync.Mutex
	// nodes are the other nodes heard from, by ID.
	nodes map[string]*knownNode

	// metricsEvery is Config.NodeInfoMetricsAggregateInterval (default
	// nodeMetricsInterval): how often the node snapshots its metrics for info and
	// the next announcement.
	metricsEvery time.Duration

	// announceFailing is set while announcements fail, so an outage is logged
	// once when it starts and once when it ends, not every 3 s.
	announceFailing atomic.Bool

	surveyMu sync.Mutex
	surveyID uint64
	surveys  map[uint64]chan surveyReply

	// stop ends the announcements, which close done (nil before Run).
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

type knownNode struct {
	info NodeInfo
	seen time.Time
}

type surveyReply struct {
	node string
	code uint32
	data []byte
}

// initControl prepares the control state and registers the node with the
// controller, which may deliver messages from then on. Called by New.
func (n *Node) initControl() error {
	c := &n.control
	c.ctl = n.cfg.Controller
	c.interval, c.maxDelay, c.surveyWait = nodeInfoInterval, nodeInfoMaxDelay, surveyTimeout
	c.metricsEvery = nodeMetricsInterval
	if d := n.cfg.NodeInfoMetricsAggregateInterval; d > 0 {
		c.metricsEvery = d
	}
	c.nodes = make(map[string]*knownNode)
	c.surveys = make(map[uint64]chan surveyReply)
	c.stop = make(chan struct{})
	if c.ctl == nil {
		return nil
	}
	if err := c.ctl.RegisterControlEventHandler(n.uid, n); err != nil {
		return fmt.Errorf("engine: controller: %w", err)
	}
	return nil
}

// runControl announces the node at once and then every interval, and forgets nodes
// that went silent. Called by Run.
func (n *Node) runControl() {
	c := &n.control
	if c.ctl == nil {
		return
	}
	c.done = make(chan struct{})
	go func() {
		defer close(c.done)
		n.announce("")
		t := time.NewTicker(c.interval)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				n.announce("")
				n.forgetSilentNodes(time.Now())
			}
		}
	}()
}

// stopControl stops the announcements and tells the other nodes this one is
// leaving, so their info and surveys stop counting it at once. Called by Shutdown;
// waits at most until ctx ends.
func (n *Node) stopControl(ctx context.Context) {
	c := &n.control
	c.stopOnce.Do(func() {
		close(c.stop)
		if c.ctl == nil {
			return
		}
		if c.done != nil { // Run started the announcements
			select {
			case <-c.done:
			case <-ctx.Done():
			}
		}
		cctx, cancel := context.WithTimeout(ctx, controlPublishLimit)
		defer cancel()
		if err := n.publishControl(cctx, &codec.ControlCommand{UID: n.uid, Shutdown: &codec.ControlShutdown{}}, ""); err != nil {
			n.log.Warn("control: publishing shutdown failed", "err", err)
		}
	})
}

// publishControl encodes cmd and sends it to every node (to "") or to one node;
// without a controller there is no other node and nothing to send.
func (n *Node) publishControl(ctx context.Context, cmd *codec.ControlCommand, to string) error {
	if n.control.ctl == nil {
		return nil
	}
	b := getBuf()
	*b = codec.AppendControlCommand((*b)[:0], cmd)
	n.metrics.msgSent[msgControl].Inc()
	err := n.control.ctl.PublishControl(ctx, *b, to)
	putBuf(b)
	return err
}

// broadcastControl sends a server API command to the other nodes before this node
// applies it (as Centrifugo does); no-op without a controller. Its error fails the
// API call (100), with nothing applied anywhere that this node knows of.
func (n *Node) broadcastControl(cmd *codec.ControlCommand) error {
	if n.control.ctl == nil {
		return nil
	}
	cmd.UID = n.uid
	ctx, cancel := context.WithTimeout(n.ctx, controlPublishLimit)
	defer cancel()
	if err := n.publishControl(ctx, cmd, ""); err != nil {
		return fmt.Errorf("engine: control publish: %w", err)
	}
	return nil
}

// announce publishes this node's info to every node, or to the node to (a node
// just heard of for the first time, so it lists this one without waiting). The
// first announcement to all, and then one every metricsEvery, carries the node's
// metrics as Centrifugo flattens them ("centrifugo.node.num_clients": gauges are
// current values), so every node's info shows them.
func (n *Node) announce(to string) {
	info := n.localInfo()
	cmd := codec.ControlCommand{UID: n.uid, Node: &codec.ControlNode{
		UID: info.UID, Name: info.Name, Version: info.Version,
		NumClients: info.NumClients, NumUsers: info.NumUsers, NumChannels: info.NumChannels,
		Uptime: info.Uptime, NumSubs: info.NumSubs,
	}}
	if to == "" {
		// Each snapshot goes out once (the receivers keep it until the next), as
		// Centrifugo sends its own.
		if m, unsent := n.latestSnapshot(true); unsent && m != nil {
			cmd.Node.Metrics = &codec.ControlMetrics{Interval: m.Interval, Items: m.Items}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), controlPublishLimit)
	defer cancel()
	if err := n.publishControl(ctx, &cmd, to); err != nil {
		if !n.control.announceFailing.Swap(true) {
			n.log.Warn("control: publishing node info failed; other nodes will drop this one until it succeeds", "err", err)
		}
		return
	}
	if n.control.announceFailing.Swap(false) {
		n.log.Info("control: publishing node info works again")
	}
}

// forgetSilentNodes drops the nodes not heard from for maxDelay.
func (n *Node) forgetSilentNodes(now time.Time) {
	c := &n.control
	c.mu.Lock()
	for id, k := range c.nodes {
		if now.Sub(k.seen) > c.maxDelay {
			delete(c.nodes, id)
		}
	}
	c.mu.Unlock()
}

// HandleControl applies one control message from another node (ControlEventHandler).
// data is valid only during the call. Called by the controller, possibly
// concurrently; it may publish a reply through the controller (survey answers, this
// node's info to a node seen for the first time), so a controller must not call it
// while holding a lock its PublishControl takes. An error is a message that cannot
// be decoded.
func (n *Node) HandleControl(data []byte) error {
	n.metrics.msgReceived[msgControl].Inc()
	var cmd codec.ControlCommand
	if err := codec.DecodeControlCommand(data, &cmd); err != nil {
		n.log.Warn("control: undecodable message", "err", err, "len", len(data))
		return err
	}
	if cmd.UID == n.uid {
		return nil // this node's own broadcast: already applied
	}
	switch {
	case cmd.Node != nil:
		n.nodeSeen(cmd.Node)
	case cmd.Shutdown != nil:
		n.control.mu.Lock()
		delete(n.control.nodes, cmd.UID)
		n.control.mu.Unlock()
	case cmd.Unsubscribe != nil:
		n.unsubscribeLocal(cmd.Unsubscribe)
	case cmd.Subscribe != nil:
		s := cmd.Subscribe
		// The subscription keeps these (data aliases the message).
		s.ChannelInfo, s.Data = cloneBytes(s.ChannelInfo), cloneBytes(s.Data)
		if _, _, ok := n.namespaceFor(s.Channel); !ok {
			n.log.Warn("control: subscribe to a channel of unknown namespace", "channel", s.Channel, "from", cmd.UID)
			return nil
		}
		if err := n.subscribeLocal(s); err != nil {
			n.log.Warn("control: subscribe failed", "channel", s.Channel, "user", s.User, "err", err)
		}
	case cmd.Disconnect != nil:
		n.disconnectLocal(cmd.Disconnect)
	case cmd.Refresh != nil:
		n.refreshLocal(cmd.Refresh) // copies the info it keeps
	case cmd.SurveyRequest != nil:
		n.answerSurvey(cmd.UID, cmd.SurveyRequest)
	case cmd.SurveyResponse != nil:
		n.surveyAnswered(cmd.UID, cmd.SurveyResponse)
	case cmd.Notification != nil:
		// Centrifugo OSS notifies only its usage-stats bookkeeping, which Rotor
		// does not keep; nothing to do.
	}
	return nil
}

func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// nodeSeen records another node's announcement and answers a node heard of for the
// first time with this node's info.
func (n *Node) nodeSeen(m *codec.ControlNode) {
	if m.UID == "" || m.UID == n.uid {
		return
	}
	info := NodeInfo{
		UID: m.UID, Name: m.Name, Version: m.Version,
		NumClients: m.NumClients, NumUsers: m.NumUsers, NumChannels: m.NumChannels,
		NumSubs: m.NumSubs, Uptime: m.Uptime,
	}
	if m.Metrics != nil {
		info.Metrics = &NodeMetrics{Interval: m.Metrics.Interval, Items: m.Metrics.Items}
	}
	c := &n.control
	c.mu.Lock()
	k, known := c.nodes[m.UID]
	if !known {
		k = new(knownNode)
		c.nodes[m.UID] = k
	} else if info.Metrics == nil {
		// Metrics come once per aggregation interval; keep the last ones.
		info.Metrics = k.info.Metrics
	}
	k.info, k.seen = info, time.Now()
	c.mu.Unlock()
	if !known {
		n.announce(m.UID)
	}
}

// Info lists every node of the cluster for the info API: this node first (its
// counters as of now), then the nodes heard from within the last 7 s by name and
// ID. The slice is the caller's.
func (n *Node) Info() []NodeInfo {
	out := []NodeInfo{n.localInfo()}
	now := time.Now()
	c := &n.control
	c.mu.Lock()
	for _, k := range c.nodes {
		if now.Sub(k.seen) <= c.maxDelay {
			out = append(out, k.info)
		}
	}
	c.mu.Unlock()
	rest := out[1:]
	sort.Slice(rest, func(i, j int) bool {
		if rest[i].Name != rest[j].Name {
			return rest[i].Name < rest[j].Name
		}
		return rest[i].UID < rest[j].UID
	})
	return out
}

// numNodes counts this node and the others heard from within maxDelay.
func (n *Node) numNodes() int {
	now := time.Now()
	c := &n.control
	c.mu.Lock()
	defer c.mu.Unlock()
	k := 1
	for _, x := range c.nodes {
		if now.Sub(x.seen) <= c.maxDelay {
			k++
		}
	}
	return k
}

// survey asks every node (this one answers directly) and returns their replies by
// node ID once all the nodes known at the start answered, or with an error when
// ctx ends first (Centrifugo's rule: a node that went away without a Shutdown
// makes surveys wait out the timeout until it is forgotten).
func (n *Node) survey(ctx context.Context, op string, data []byte) (map[string]surveyReply, error) {
	local := n.surveyAnswer(op, data)
	local.node = n.uid
	results := map[string]surveyReply{n.uid: local}
	want := n.numNodes()
	if n.control.ctl == nil || want == 1 {
		return results, nil
	}
	c := &n.control
	ch := make(chan surveyReply, want)
	c.surveyMu.Lock()
	c.surveyID++
	id := c.surveyID
	c.surveys[id] = ch
	c.surveyMu.Unlock()
	defer func() {
		c.surveyMu.Lock()
		delete(c.surveys, id)
		c.surveyMu.Unlock()
	}()
	cmd := codec.ControlCommand{UID: n.uid, SurveyRequest: &codec.ControlSurveyRequest{ID: id, Op: op, Data: data}}
	if err := n.publishControl(ctx, &cmd, ""); err != nil {
		return nil, fmt.Errorf("engine: survey publish: %w", err)
	}
	for len(results) < want {
		select {
		case r := <-ch:
			results[r.node] = r
		case <-ctx.Done():
			return nil, fmt.Errorf("engine: survey %q: %d of %d nodes answered: %w", op, len(results), want, ctx.Err())
		}
	}
	return results, nil
}

// surveyAnswered hands a reply to the survey waiting for it; a late or unexpected
// reply is dropped.
func (n *Node) surveyAnswered(from string, r *codec.ControlSurveyResponse) {
	c := &n.control
	c.surveyMu.Lock()
	ch, ok := c.surveys[r.ID]
	c.surveyMu.Unlock()
	if !ok {
		return
	}
	select {
	case ch <- surveyReply{node: from, code: r.Code, data: cloneBytes(r.Data)}:
	default: // more replies than nodes known at the start: a node that just joined
	}
}

// answerSurvey answers another node's survey, to that node.
func (n *Node) answerSurvey(from string, req *codec.ControlSurveyRequest) {
	r := n.surveyAnswer(req.Op, req.Data)
	cmd := codec.ControlCommand{UID: n.uid, SurveyResponse: &codec.ControlSurveyResponse{ID: req.ID, Code: r.code, Data: r.data}}
	ctx, cancel := context.WithTimeout(n.ctx, controlPublishLimit)
	defer cancel()
	if err := n.publishControl(ctx, &cmd, from); err != nil {
		n.log.Warn("control: survey answer failed", "op", req.Op, "to", from, "err", err)
	}
}

// surveyAnswer computes this node's answer to a survey. Rotor knows the ops
// Centrifugo OSS registers ("channels"); others, Centrifugo's emulation op
// included, answer 3 "method not found", as a Centrifugo node without that
// handler does.
func (n *Node) surveyAnswer(op string, data []byte) surveyReply {
	if op != surveyChannelsOp {
		return surveyReply{code: surveyMethodNotFound}
	}
	pattern, err := codec.DecodeChannelsSurveyRequest(data)
	if err != nil {
		return surveyReply{code: surveyInvalidRequest}
	}
	var match func(string) bool
	if pattern != "" {
		g, err := compileGlob(pattern)
		if err != nil {
			return surveyReply{code: surveyInvalidRequest}
		}
		match = g.match
	}
	chans := n.hub.channels(match)
	counts := make(map[string]uint32, len(chans))
	for ch, info := range chans {
		if info.NumClients > 0 {
			counts[ch] = info.NumClients
		}
	}
	return surveyReply{data: codec.AppendChannelsSurveyResult(nil, counts)}
}

// clusterChannels runs the channels survey and sums the nodes' answers.
func (n *Node) clusterChannels(pattern string) (map[string]ChannelInfo, error) {
	ctx, cancel := context.WithTimeout(n.ctx, n.control.surveyWait)
	defer cancel()
	started := time.Now()
	replies, err := n.survey(ctx, surveyChannelsOp, codec.AppendChannelsSurveyRequest(nil, pattern))
	n.countAction(actSurvey)
	observeDuration(n.metrics.surveySummary, n.metrics.surveyHistogram, time.Since(started))
	if err != nil {
		return nil, err
	}
	out := make(map[string]ChannelInfo)
	for node, r := range replies {
		if r.code != 0 {
			return nil, fmt.Errorf("%w: node %s answered code %d", errSurvey, node, r.code)
		}
		counts, err := codec.DecodeChannelsSurveyResult(r.data)
		if err != nil {
			return nil, fmt.Errorf("%w: node %s: %v", errSurvey, node, err)
		}
		for ch, k := range counts {
			ci := out[ch]
			ci.NumClients += k
			out[ch] = ci
		}
	}
	return out, nil
}

// ---- server API commands on this node's connections ----

// targets returns the connections a server API command addresses on this node: the
// user's ("" = anonymous), or with allUsers and no user every connection, narrowed
// to client when set; label filters match Rotor connections, which carry no labels,
// as Centrifugo matches a connection without labels.
func (n *Node) targets(user string, allUsers bool, client, session string, labels *codec.FilterNode) []*Client {
	if labels != nil && !matchFilter(labels, nil) {
		return nil
	}
	if user != "" || !allUsers {
		return n.matching(user, client, session)
	}
	if session != "" {
		return nil
	}
	var out []*Client
	n.hub.eachConn(func(c *Client) {
		if client == "" || c.ID() == client {
			out = append(out, c)
		}
	})
	return out
}

// subscribeLocal subscribes this node's matching connections per s. The channel's
// namespace exists (checked by the caller).
func (n *Node) subscribeLocal(s *codec.ControlSubscribe) error {
	ns, _, _ := n.namespaceFor(s.Channel)
	flags := subServerSide
	if s.EmitPresence {
		flags |= subPresence
	}
	if s.EmitJoinLeave {
		flags |= subJoinLeave
	}
	if s.PushJoinLeave {
		flags |= subPushJoinLeave
	}
	if s.Position {
		flags |= subPositioned
	}
	if s.Recover {
		flags |= subRecoverable | subPositioned
	}
	// An expire_at already past leaves the subscription to expire at the next check.
	ttl, _ := ttlUntil(s.ExpireAt)
	var firstErr error
	for _, c := range n.targets(s.User, s.AllUsers, s.Client, s.Session, s.LabelFilter) {
		p := subParams{
			ns: ns, flags: flags, chanInfo: s.ChannelInfo, data: s.Data,
			expireAt: s.ExpireAt, ttl: ttl,
		}
		if s.RecoverSince != nil && flags&subRecoverable != 0 {
			p.recover, p.since = true, *s.RecoverSince
		}
		if err := c.serverSubscribe(s.Channel, &p); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// unsubscribeLocal unsubscribes this node's matching connections from u.Channel;
// each gets an unsubscribe push with u's code and reason.
func (n *Node) unsubscribeLocal(u *codec.ControlUnsubscribe) {
	if u.Channel == "" {
		return
	}
	for _, c := range n.targets(u.User, u.AllUsers, u.Client, u.Session, u.LabelFilter) {
		if _, ok := c.detach(u.Channel); ok {
			b := getBuf()
			*b = codec.AppendUnsubscribePush(c.proto, (*b)[:0], u.Channel, u.Code, u.Reason)
			c.enqueue(*b)
			c.countServerUnsubscribe(u.Code, len(*b))
			putBuf(b)
		}
	}
}

// disconnectLocal disconnects this node's matching connections but the whitelisted.
func (n *Node) disconnectLocal(d *codec.ControlDisconnect) {
	dc := Disconnect{Code: d.Code, Reason: d.Reason}
	for _, c := range n.targets(d.User, d.AllUsers, d.Client, d.Session, d.LabelFilter) {
		id := c.ID()
		kept := false
		for _, w := range d.Whitelist {
			if w == id {
				kept = true
				break
			}
		}
		if !kept {
			c.Disconnect(dc)
		}
	}
}

// refreshLocal updates the expiry (and info, which it keeps) of this node's matching
// connections; they get a refresh push, or 3005 when expired.
func (n *Node) refreshLocal(r *codec.ControlRefresh) {
	ttl, ok := ttlUntil(r.ExpireAt)
	expired := r.Expired || !ok
	for _, c := range n.targets(r.User, r.AllUsers, r.Client, r.Session, r.LabelFilter) {
		if expired {
			c.Disconnect(DisconnectExpired)
			continue
		}
		c.mu.Lock()
		c.setExpiryLocked(r.ExpireAt)
		if len(r.Info) > 0 {
			c.info = append([]byte(nil), r.Info...)
		}
		c.mu.Unlock()
		if len(r.Info) > 0 {
			c.refreshPresence("")
		}
		push := codec.Push{Refresh: &codec.Refresh{Expires: r.ExpireAt > 0, TTL: ttl}}
		b := getBuf()
		if out, err := codec.AppendReply(c.proto, (*b)[:0], &codec.Reply{Push: &push}); err == nil {
			*b = out
			c.enqueue(out)
			c.countSent(ftPushRefresh, len(out))
		}
		putBuf(b)
	}
}
