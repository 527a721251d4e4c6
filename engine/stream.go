package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rotorhq/rotor/codec"
)

// TransportKind is implemented by transports other than the bidirectional
// WebSocket (which is the default: name "websocket", neither emulation nor
// unidirectional). The engine asks once, in NewClient.
type TransportKind interface {
	// Name is the transport's name as proxies receive it: "http_stream", "sse",
	// "uni_websocket", "uni_sse", "uni_http_stream".
	Name() string
	// Emulation is true for the bidirectional HTTP transports: the connect result
	// carries session and node, and /emulation requests reach the session.
	Emulation() bool
	// Unidirectional is true for the uni_* transports: the connect result travels as
	// a connect push, every push is sent bare (the transport unwraps the Reply), and
	// the client never answers pings.
	Unidirectional() bool
}

// EmulationOp is the survey op Centrifugo nodes use to hand an /emulation request
// to the node that holds the session.
const EmulationOp = "centrifuge_emulation"

// Survey reply codes of the emulation op (as centrifuge's).
const (
	emulationBadRequest uint32 = 1
	emulationNoSession  uint32 = 2
)

// ErrNodeNotFound is returned by Emulate for a node this node does not know
// (/emulation answers 404).
var ErrNodeNotFound = errors.New("engine: node not found")

// ErrEmulationData is returned by Emulate for a request whose data is not the
// session protocol's command text (/emulation answers 400).
var ErrEmulationData = errors.New("engine: bad emulation data")

// initTransport reads the transport's kind; called by NewClient.
func (c *Client) initTransport() {
	k, ok := c.t.(TransportKind)
	if !ok {
		return
	}
	c.tname = k.Name()
	c.emulation = k.Emulation()
	c.uni = k.Unidirectional()
	if c.emulation || c.uni {
		c.session = newUUID()
	}
}

// transportName is the name proxies receive.
func (c *Client) transportName() string {
	if c.tname == "" {
		return "websocket"
	}
	return c.tname
}

// streamConnectResult adds what emulation and unidirectional transports get in
// the connect result, and registers an emulation session for /emulation.
func (c *Client) streamConnectResult(res *codec.ConnectResult) {
	if c.uni {
		res.Pong = false
	}
	if c.uni || c.emulation {
		res.Session = c.session
	}
	if c.emulation {
		res.Node = c.node.uid
		c.node.emu.Store(c.session, c)
	}
}

// streamClosed unregisters an emulation session; called by OnClose.
func (c *Client) streamClosed() {
	if c.emulation && c.session != "" {
		c.node.emu.CompareAndDelete(c.session, c)
	}
}

// connectReply is the connect result as the transport sends it: a reply, or a
// connect push on unidirectional transports.
func (c *Client) connectReply(id uint32, res *codec.ConnectResult) *codec.Reply {
	if !c.uni {
		return &codec.Reply{ID: id, Connect: res}
	}
	return &codec.Reply{Push: &codec.Push{Connect: &codec.Connect{
		Client: res.Client, Version: res.Version, Data: res.Data, Subs: res.Subs,
		Expires: res.Expires, TTL: res.TTL, Ping: res.Ping, Session: res.Session, Time: res.Time,
	}}}
}

// uniConnectError is the disconnect a unidirectional client gets instead of a
// connect error reply (spec transports.md §6).
func uniConnectError(e *Error) Disconnect {
	switch e.Code {
	case ErrorTokenExpired.Code, ErrorExpired.Code:
		return DisconnectExpired
	case ErrorTooManyRequests.Code:
		return DisconnectTooManyRequests
	case ErrorPermissionDenied.Code:
		return DisconnectPermissionDenied
	}
	return DisconnectServerError
}

// HandleEmulated processes command frames that arrived on the session over HTTP
// (the stream's request body, /emulation). Unlike HandleFrame it may be called from
// several goroutines: the session's frames are handled one at a time.
func (c *Client) HandleEmulated(payload []byte) bool {
	c.frameMu.Lock()
	defer c.frameMu.Unlock()
	return c.HandleFrame(payload)
}

// ConnectUni handles a unidirectional client's connect request: the connect push
// or a disconnect. It returns false when the session ended.
func (c *Client) ConnectUni(req *codec.ConnectRequest) bool {
	c.frameMu.Lock()
	defer c.frameMu.Unlock()
	if c.closing.Load() {
		return false
	}
	if err := c.handleConnect(1, req); err != nil {
		var d Disconnect
		if !errors.As(err, &d) {
			d = DisconnectServerError
		}
		c.Disconnect(d)
	}
	return !c.closing.Load()
}

// ConnectUniRefusal is ConnectUni for transports that answer a refused connect
// with an HTTP response (uni_sse/uni_http_stream connect_code_to_http_response):
// a refusal does not reach the transport; its code and text (the connect error's
// code and message, or the disconnect's code and reason) are returned with
// refused true, and the session is then closed without a disconnect push.
func (c *Client) ConnectUniRefusal(req *codec.ConnectRequest) (code uint32, text string, refused bool) {
	c.frameMu.Lock()
	defer c.frameMu.Unlock()
	if c.closing.Load() {
		return DisconnectShutdown.Code, DisconnectShutdown.Reason, true
	}
	c.mu.Lock()
	c.refusal = new(Error)
	c.mu.Unlock()
	err := c.handleConnect(1, req)
	c.mu.Lock()
	e := c.refusal
	c.refusal = nil
	c.mu.Unlock()
	var d Disconnect
	switch {
	case err != nil && errors.As(err, &d):
		code, text, refused = d.Code, d.Reason, true
	case err != nil:
		code, text, refused = DisconnectServerError.Code, DisconnectServerError.Reason, true
	case e.Code != 0:
		code, text, refused = e.Code, e.Message, true
	}
	if refused {
		c.Disconnect(DisconnectConnectionClosed)
	}
	return code, text, refused
}

// Emulate delivers an /emulation request: on this node to the session, on another
// node through a targeted survey over the control channel (Centrifugo's
// centrifuge_emulation op), waiting for the commands to be processed. In JSON,
// req.Data is the command text (as codec.DecodeEmulationRequest leaves it). An
// unknown session is no error (the client hears nothing, as with Centrifugo).
func (n *Node) Emulate(ctx context.Context, p codec.Protocol, req *codec.EmulationRequest) error {
	if req.Node == n.uid {
		n.emulateLocal(req.Session, req.Data, nil)
		return nil
	}
	if !n.knowsNode(req.Node) {
		return ErrNodeNotFound
	}
	// Between nodes data travels as Centrifugo's EmulationRequest carries it: JSON
	// command text still a quoted string, Protobuf commands as they are.
	fwd := codec.EmulationRequest{Node: req.Node, Session: req.Session, Data: req.Data}
	if p == codec.ProtocolJSON {
		fwd.Data = codec.AppendJSONStringBytes(nil, req.Data)
	}
	body := codec.AppendEmulationRequest(codec.ProtocolProtobuf, nil, &fwd)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.control.surveyWait)
		defer cancel()
	}
	_, err := n.surveyNode(ctx, EmulationOp, body, req.Node)
	return err
}

// knowsNode reports whether id is a node heard from recently.
func (n *Node) knowsNode(id string) bool {
	c := &n.control
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.nodes[id]
	return ok && time.Since(k.seen) <= c.maxDelay
}

// emulateLocal hands data (command text in the session's protocol) to the session;
// it returns the survey code (0, or emulationNoSession). quoted JSON data is
// unquoted first (a request forwarded by another node).
func (n *Node) emulateLocal(session string, data []byte, quoted *bool) uint32 {
	v, ok := n.emu.Load(session)
	if !ok {
		return emulationNoSession
	}
	c := v.(*Client)
	if quoted != nil && *quoted && c.proto == codec.ProtocolJSON {
		d, err := codec.UnquoteJSONString(data)
		if err != nil {
			return emulationBadRequest
		}
		data = d
	}
	c.HandleEmulated(data)
	return 0
}

// answerEmulation answers another node's emulation survey once the commands ran
// (they may wait on a proxy, so never on the control goroutine).
func (n *Node) answerEmulation(from string, id uint64, data []byte) {
	var req codec.EmulationRequest
	code := emulationBadRequest
	if err := codec.DecodeEmulationRequest(codec.ProtocolProtobuf, data, &req); err == nil {
		quoted := true
		code = n.emulateLocal(req.Session, req.Data, &quoted)
	}
	cmd := codec.ControlCommand{UID: n.uid, SurveyResponse: &codec.ControlSurveyResponse{ID: id, Code: code}}
	ctx, cancel := context.WithTimeout(n.ctx, controlPublishLimit)
	defer cancel()
	if err := n.publishControl(ctx, &cmd, from); err != nil {
		n.log.Warn("control: emulation answer failed", "to", from, "err", err)
	}
}

// surveyNode asks one other node and waits for its answer.
func (n *Node) surveyNode(ctx context.Context, op string, data []byte, to string) (surveyReply, error) {
	c := &n.control
	ch := make(chan surveyReply, 1)
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
	if err := n.publishControl(ctx, &cmd, to); err != nil {
		return surveyReply{}, fmt.Errorf("engine: survey publish: %w", err)
	}
	select {
	case r := <-ch:
		return r, nil
	case <-ctx.Done():
		return surveyReply{}, fmt.Errorf("engine: survey %q to %s: %w", op, to, ctx.Err())
	}
}

// uniRequestedSubs adds to subs the channels a unidirectional client asked for in
// its connect request that it could subscribe to itself (auth.md §6): not private,
// a valid name in an existing namespace (unknown namespace → 3501), no subscribe
// proxy, and allowed for the user, for clients, or by insecure mode. Others are
// skipped silently.
func (n *Node) uniRequestedSubs(req map[string]*codec.SubscribeRequest, user string, subs map[string]serverSub) (map[string]serverSub, error) {
	for ch := range req {
		ns, rest, ok := n.namespaceFor(ch)
		if !ok {
			return nil, DisconnectBadRequest
		}
		if strings.HasPrefix(ch, privatePrefix) || !n.validChannelName(ns, ch, rest) {
			continue
		}
		limited, users := isUserLimited(ns, ch)
		if !limited && ns.SubscribeProxyEnabled {
			continue
		}
		if !((limited && userInList(users, user)) ||
			(!limited && ns.AllowSubscribeForClient && (user != "" || ns.AllowSubscribeForAnonymous)) ||
			n.cfg.Insecure) {
			continue
		}
		if _, ok := subs[ch]; ok {
			continue
		}
		if subs == nil {
			subs = make(map[string]serverSub, len(req))
		}
		subs[ch] = serverSub{}
	}
	return subs, nil
}
