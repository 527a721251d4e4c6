package codec

import (
	"fmt"
	"math"
	"sort"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// Node-to-node control messages: Centrifugo's controlpb (centrifuge v0.40.1,
// internal/controlpb/control.proto; history-recovery.md §5.5). Nodes sharing a broker
// exchange these as the payload of the broker's control channels, so the bytes must
// be what Centrifugo's generated code writes and reads:
//
//   - fields in number order, proto3 zero values left out, a set sub-message always
//     written (an empty Shutdown is the two bytes 3a 00);
//   - map entries (Metrics.items) always carry both key and value, even when zero;
//     Centrifugo writes them in Go map order, Rotor in key order;
//   - on decode, unknown fields and known fields of an unexpected wire type are
//     skipped (protobuf-go's rule, which Centrifugo's decoder follows), strings must be
//     valid UTF-8, repeated occurrences of a sub-message merge, of a scalar the last
//     wins. bytes fields alias the input (capacity cut); strings are copies.

// ControlCommand is controlpb.Command: the sender's node ID and one of the messages
// (fields 2 and 3 were removed upstream and are skipped like any unknown field).
type ControlCommand struct {
	UID            string                 // 1
	Node           *ControlNode           // 4
	Unsubscribe    *ControlUnsubscribe    // 5
	Disconnect     *ControlDisconnect     // 6
	Shutdown       *ControlShutdown       // 7
	SurveyRequest  *ControlSurveyRequest  // 8
	SurveyResponse *ControlSurveyResponse // 9
	Subscribe      *ControlSubscribe      // 10
	Notification   *ControlNotification   // 11
	Refresh        *ControlRefresh        // 12
}

// ControlShutdown is controlpb.Shutdown (no fields): the sender is leaving.
type ControlShutdown struct{}

// ControlNode is controlpb.Node, the periodic announcement of one node.
type ControlNode struct {
	UID         string          // 1
	Name        string          // 2
	Version     string          // 3
	NumClients  uint32          // 4
	NumUsers    uint32          // 5
	NumChannels uint32          // 6
	Uptime      uint32          // 7, seconds
	Metrics     *ControlMetrics // 8
	Data        []byte          // 9
	NumSubs     uint32          // 10
}

// ControlMetrics is controlpb.Metrics: aggregated metric values over Interval seconds.
type ControlMetrics struct {
	Interval float64            // 1, double
	Items    map[string]float64 // 2, map<string, double>
}

// ControlSubscribe is controlpb.Subscribe: a server-side subscribe to apply to the
// receiving node's matching connections.
type ControlSubscribe struct {
	User          string          // 1
	Channel       string          // 2
	EmitPresence  bool            // 3
	EmitJoinLeave bool            // 4
	ExpireAt      int64           // 5
	Position      bool            // 6
	Recover       bool            // 7
	ChannelInfo   []byte          // 8
	Client        string          // 9
	Data          []byte          // 10
	RecoverSince  *StreamPosition // 11 (controlpb.StreamPosition: offset 1, epoch 2)
	Session       string          // 12
	PushJoinLeave bool            // 13
	Source        uint32          // 14
	LabelFilter   *FilterNode     // 15 (controlpb.FilterNode mirrors protocol.FilterNode)
	AllUsers      bool            // 16
}

// ControlUnsubscribe is controlpb.Unsubscribe.
type ControlUnsubscribe struct {
	Channel     string      // 1
	User        string      // 2
	Client      string      // 3
	Session     string      // 4
	Code        uint32      // 5
	Reason      string      // 6
	LabelFilter *FilterNode // 7
	AllUsers    bool        // 8
}

// ControlDisconnect is controlpb.Disconnect.
type ControlDisconnect struct {
	User        string      // 1
	Whitelist   []string    // 2
	Code        uint32      // 3
	Reason      string      // 4
	Reconnect   bool        // 5
	Client      string      // 6
	Session     string      // 7
	LabelFilter *FilterNode // 8
	AllUsers    bool        // 9
}

// ControlRefresh is controlpb.Refresh.
type ControlRefresh struct {
	User        string      // 1
	Client      string      // 2
	Expired     bool        // 3
	ExpireAt    int64       // 4
	Info        []byte      // 5
	Session     string      // 6
	LabelFilter *FilterNode // 7
	AllUsers    bool        // 8
}

// ControlSurveyRequest is controlpb.SurveyRequest.
type ControlSurveyRequest struct {
	ID   uint64 // 1
	Op   string // 2
	Data []byte // 3
}

// ControlSurveyResponse is controlpb.SurveyResponse.
type ControlSurveyResponse struct {
	ID   uint64 // 1
	Code uint32 // 2
	Data []byte // 3
}

// ControlNotification is controlpb.Notification.
type ControlNotification struct {
	Op   string // 1
	Data []byte // 2
}

// ---- encoding ----

// AppendControlCommand appends the Protobuf encoding of c to dst.
func AppendControlCommand(dst []byte, c *ControlCommand) []byte {
	b := pbStr(dst, 1, c.UID)
	var pos int
	if c.Node != nil {
		b, pos = pbBegin(b, 4)
		b = pbEnd(appendControlNode(b, c.Node), pos)
	}
	if c.Unsubscribe != nil {
		b, pos = pbBegin(b, 5)
		b = pbEnd(appendControlUnsubscribe(b, c.Unsubscribe), pos)
	}
	if c.Disconnect != nil {
		b, pos = pbBegin(b, 6)
		b = pbEnd(appendControlDisconnect(b, c.Disconnect), pos)
	}
	if c.Shutdown != nil {
		b, pos = pbBegin(b, 7)
		b = pbEnd(b, pos)
	}
	if c.SurveyRequest != nil {
		b, pos = pbBegin(b, 8)
		s := c.SurveyRequest
		b = pbU64(b, 1, s.ID)
		b = pbStr(b, 2, s.Op)
		b = pbEnd(pbBytes(b, 3, s.Data), pos)
	}
	if c.SurveyResponse != nil {
		b, pos = pbBegin(b, 9)
		s := c.SurveyResponse
		b = pbU64(b, 1, s.ID)
		b = pbU64(b, 2, uint64(s.Code))
		b = pbEnd(pbBytes(b, 3, s.Data), pos)
	}
	if c.Subscribe != nil {
		b, pos = pbBegin(b, 10)
		b = pbEnd(appendControlSubscribe(b, c.Subscribe), pos)
	}
	if c.Notification != nil {
		b, pos = pbBegin(b, 11)
		b = pbStr(b, 1, c.Notification.Op)
		b = pbEnd(pbBytes(b, 2, c.Notification.Data), pos)
	}
	if c.Refresh != nil {
		b, pos = pbBegin(b, 12)
		b = pbEnd(appendControlRefresh(b, c.Refresh), pos)
	}
	return b
}

func appendControlNode(b []byte, n *ControlNode) []byte {
	b = pbStr(b, 1, n.UID)
	b = pbStr(b, 2, n.Name)
	b = pbStr(b, 3, n.Version)
	b = pbU64(b, 4, uint64(n.NumClients))
	b = pbU64(b, 5, uint64(n.NumUsers))
	b = pbU64(b, 6, uint64(n.NumChannels))
	b = pbU64(b, 7, uint64(n.Uptime))
	if n.Metrics != nil {
		var pos int
		b, pos = pbBegin(b, 8)
		b = pbEnd(appendControlMetrics(b, n.Metrics), pos)
	}
	b = pbBytes(b, 9, n.Data)
	return pbU64(b, 10, uint64(n.NumSubs))
}

func pbDouble(b []byte, num protowire.Number, v float64) []byte {
	if v == 0 {
		return b // -0 too: Centrifugo's generated code compares with 0, unlike protobuf-go
	}
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(v))
}

func appendControlMetrics(b []byte, m *ControlMetrics) []byte {
	b = pbDouble(b, 1, m.Interval)
	if len(m.Items) == 0 {
		return b
	}
	keys := make([]string, 0, len(m.Items))
	for k := range m.Items {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		// Entry: key (1) and value (2) both always present; the value is fixed64.
		b = protowire.AppendTag(b, 2, tBytes)
		b = protowire.AppendVarint(b, uint64(sizeLD(1, len(k))+1+8))
		b = protowire.AppendTag(b, 1, tBytes)
		b = protowire.AppendString(b, k)
		b = protowire.AppendTag(b, 2, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(m.Items[k]))
	}
	return b
}

func appendControlFilter(b []byte, num protowire.Number, f *FilterNode) []byte {
	if f == nil {
		return b
	}
	var pos int
	b, pos = pbBegin(b, num)
	return pbEnd(appendPBFilterNode(b, f, 0), pos)
}

func appendControlSubscribe(b []byte, s *ControlSubscribe) []byte {
	b = pbStr(b, 1, s.User)
	b = pbStr(b, 2, s.Channel)
	b = pbBool(b, 3, s.EmitPresence)
	b = pbBool(b, 4, s.EmitJoinLeave)
	b = pbI64(b, 5, s.ExpireAt)
	b = pbBool(b, 6, s.Position)
	b = pbBool(b, 7, s.Recover)
	b = pbBytes(b, 8, s.ChannelInfo)
	b = pbStr(b, 9, s.Client)
	b = pbBytes(b, 10, s.Data)
	if s.RecoverSince != nil {
		var pos int
		b, pos = pbBegin(b, 11)
		b = pbU64(b, 1, s.RecoverSince.Offset)
		b = pbEnd(pbStr(b, 2, s.RecoverSince.Epoch), pos)
	}
	b = pbStr(b, 12, s.Session)
	b = pbBool(b, 13, s.PushJoinLeave)
	b = pbU64(b, 14, uint64(s.Source))
	b = appendControlFilter(b, 15, s.LabelFilter)
	return pbBool(b, 16, s.AllUsers)
}

func appendControlUnsubscribe(b []byte, u *ControlUnsubscribe) []byte {
	b = pbStr(b, 1, u.Channel)
	b = pbStr(b, 2, u.User)
	b = pbStr(b, 3, u.Client)
	b = pbStr(b, 4, u.Session)
	b = pbU64(b, 5, uint64(u.Code))
	b = pbStr(b, 6, u.Reason)
	b = appendControlFilter(b, 7, u.LabelFilter)
	return pbBool(b, 8, u.AllUsers)
}

func appendControlDisconnect(b []byte, d *ControlDisconnect) []byte {
	b = pbStr(b, 1, d.User)
	for _, w := range d.Whitelist {
		// Repeated strings keep empty elements.
		b = protowire.AppendTag(b, 2, tBytes)
		b = protowire.AppendString(b, w)
	}
	b = pbU64(b, 3, uint64(d.Code))
	b = pbStr(b, 4, d.Reason)
	b = pbBool(b, 5, d.Reconnect)
	b = pbStr(b, 6, d.Client)
	b = pbStr(b, 7, d.Session)
	b = appendControlFilter(b, 8, d.LabelFilter)
	return pbBool(b, 9, d.AllUsers)
}

func appendControlRefresh(b []byte, r *ControlRefresh) []byte {
	b = pbStr(b, 1, r.User)
	b = pbStr(b, 2, r.Client)
	b = pbBool(b, 3, r.Expired)
	b = pbI64(b, 4, r.ExpireAt)
	b = pbBytes(b, 5, r.Info)
	b = pbStr(b, 6, r.Session)
	b = appendControlFilter(b, 7, r.LabelFilter)
	return pbBool(b, 8, r.AllUsers)
}

// ---- decoding ----

var errControlUTF8 = fmt.Errorf("%w: string field is not valid UTF-8", ErrMalformed)

// ctlReader is a pbReader with protobuf-go's leniency: a known field whose wire type
// is not the declared one is skipped as if unknown.
type ctlReader struct{ pbReader }

// is reports whether the current field has wire type t, skipping it otherwise.
func (r *ctlReader) is(t protowire.Type) bool {
	if r.typ == t {
		return true
	}
	r.skip()
	return false
}

func (r *ctlReader) str(dst *string) {
	if !r.is(tBytes) {
		return
	}
	v := r.msg()
	if r.err != nil {
		return
	}
	if !utf8.Valid(v) {
		r.err, r.b = errControlUTF8, nil
		return
	}
	*dst = string(v)
}

func (r *ctlReader) bytes(dst *[]byte) {
	if r.is(tBytes) {
		*dst = r.pbReader.bytes()
	}
}

func (r *ctlReader) u64(dst *uint64) {
	if r.is(tVarint) {
		*dst = r.varint()
	}
}

func (r *ctlReader) u32(dst *uint32) {
	if r.is(tVarint) {
		*dst = uint32(r.varint())
	}
}

func (r *ctlReader) i64(dst *int64) {
	if r.is(tVarint) {
		*dst = int64(r.varint())
	}
}

func (r *ctlReader) flag(dst *bool) {
	if r.is(tVarint) {
		*dst = r.varint() != 0
	}
}

func (r *ctlReader) double(dst *float64) {
	if !r.is(protowire.Fixed64Type) {
		return
	}
	v, n := protowire.ConsumeFixed64(r.b)
	if n < 0 {
		r.fail()
		return
	}
	r.b = r.b[n:]
	*dst = math.Float64frombits(v)
}

// ctlSub decodes a sub-message into *dst (allocated on first use; later occurrences
// merge into it) with f, one level deeper.
func ctlSub[T any](r *ctlReader, dst **T, depth int, f func([]byte, *T, int) error) {
	if !r.is(tBytes) {
		return
	}
	b := r.msg()
	if r.err != nil {
		return
	}
	if depth >= maxDepth {
		r.err, r.b = errPBDepth, nil
		return
	}
	if *dst == nil {
		*dst = new(T)
	}
	if err := f(b, *dst, depth+1); err != nil {
		r.err, r.b = err, nil
	}
}

// DecodeControlCommand decodes a control message into c (which should be zero).
// Errors wrap ErrMalformed.
func DecodeControlCommand(b []byte, c *ControlCommand) error {
	return ctlCommand(b, c, 0)
}

func ctlCommand(b []byte, c *ControlCommand, depth int) error {
	r := ctlReader{pbReader{b: b}}
	for r.next() {
		switch r.num {
		case 1:
			r.str(&c.UID)
		case 4:
			ctlSub(&r, &c.Node, depth, ctlNode)
		case 5:
			ctlSub(&r, &c.Unsubscribe, depth, ctlUnsubscribe)
		case 6:
			ctlSub(&r, &c.Disconnect, depth, ctlDisconnect)
		case 7:
			ctlSub(&r, &c.Shutdown, depth, ctlEmpty)
		case 8:
			ctlSub(&r, &c.SurveyRequest, depth, ctlSurveyRequest)
		case 9:
			ctlSub(&r, &c.SurveyResponse, depth, ctlSurveyResponse)
		case 10:
			ctlSub(&r, &c.Subscribe, depth, ctlSubscribe)
		case 11:
			ctlSub(&r, &c.Notification, depth, ctlNotification)
		case 12:
			ctlSub(&r, &c.Refresh, depth, ctlRefresh)
		default:
			r.skip()
		}
	}
	return r.err
}

func ctlEmpty(b []byte, _ *ControlShutdown, _ int) error {
	r := pbReader{b: b}
	for r.next() {
		r.skip()
	}
	return r.err
}

func ctlNode(b []byte, n *ControlNode, depth int) error {
	r := ctlReader{pbReader{b: b}}
	for r.next() {
		switch r.num {
		case 1:
			r.str(&n.UID)
		case 2:
			r.str(&n.Name)
		case 3:
			r.str(&n.Version)
		case 4:
			r.u32(&n.NumClients)
		case 5:
			r.u32(&n.NumUsers)
		case 6:
			r.u32(&n.NumChannels)
		case 7:
			r.u32(&n.Uptime)
		case 8:
			ctlSub(&r, &n.Metrics, depth, ctlMetrics)
		case 9:
			r.bytes(&n.Data)
		case 10:
			r.u32(&n.NumSubs)
		default:
			r.skip()
		}
	}
	return r.err
}

func ctlMetrics(b []byte, m *ControlMetrics, _ int) error {
	r := ctlReader{pbReader{b: b}}
	for r.next() {
		switch r.num {
		case 1:
			r.double(&m.Interval)
		case 2:
			if !r.is(tBytes) {
				continue
			}
			e := ctlReader{pbReader{b: r.msg()}}
			if r.err != nil {
				continue
			}
			var key string
			var val float64
			for e.next() {
				switch e.num {
				case 1:
					e.str(&key)
				case 2:
					e.double(&val)
				default:
					e.skip()
				}
			}
			if e.err != nil {
				r.err, r.b = e.err, nil
				continue
			}
			if m.Items == nil {
				m.Items = make(map[string]float64)
			}
			m.Items[key] = val
		default:
			r.skip()
		}
	}
	return r.err
}

func ctlFilter(b []byte, n *FilterNode, depth int) error {
	r := ctlReader{pbReader{b: b}}
	for r.next() {
		switch r.num {
		case 1:
			r.str(&n.Op)
		case 2:
			r.str(&n.Key)
		case 3:
			r.str(&n.Cmp)
		case 4:
			r.str(&n.Val)
		case 5:
			var s string
			if r.typ == tBytes {
				r.str(&s)
				if r.err == nil {
					n.Vals = append(n.Vals, s)
				}
			} else {
				r.skip()
			}
		case 6:
			var child *FilterNode
			ctlSub(&r, &child, depth, ctlFilter)
			if child != nil && r.err == nil {
				n.Nodes = append(n.Nodes, child)
			}
		default:
			r.skip()
		}
	}
	return r.err
}

func ctlStreamPosition(b []byte, sp *StreamPosition, _ int) error {
	r := ctlReader{pbReader{b: b}}
	for r.next() {
		switch r.num {
		case 1:
			r.u64(&sp.Offset)
		case 2:
			r.str(&sp.Epoch)
		default:
			r.skip()
		}
	}
	return r.err
}

func ctlSubscribe(b []byte, s *ControlSubscribe, depth int) error {
	r := ctlReader{pbReader{b: b}}
	for r.next() {
		switch r.num {
		case 1:
			r.str(&s.User)
		case 2:
			r.str(&s.Channel)
		case 3:
			r.flag(&s.EmitPresence)
		case 4:
			r.flag(&s.EmitJoinLeave)
		case 5:
			r.i64(&s.ExpireAt)
		case 6:
			r.flag(&s.Position)
		case 7:
			r.flag(&s.Recover)
		case 8:
			r.bytes(&s.ChannelInfo)
		case 9:
			r.str(&s.Client)
		case 10:
			r.bytes(&s.Data)
		case 11:
			ctlSub(&r, &s.RecoverSince, depth, ctlStreamPosition)
		case 12:
			r.str(&s.Session)
		case 13:
			r.flag(&s.PushJoinLeave)
		case 14:
			r.u32(&s.Source)
		case 15:
			ctlSub(&r, &s.LabelFilter, depth, ctlFilter)
		case 16:
			r.flag(&s.AllUsers)
		default:
			r.skip()
		}
	}
	return r.err
}

func ctlUnsubscribe(b []byte, u *ControlUnsubscribe, depth int) error {
	r := ctlReader{pbReader{b: b}}
	for r.next() {
		switch r.num {
		case 1:
			r.str(&u.Channel)
		case 2:
			r.str(&u.User)
		case 3:
			r.str(&u.Client)
		case 4:
			r.str(&u.Session)
		case 5:
			r.u32(&u.Code)
		case 6:
			r.str(&u.Reason)
		case 7:
			ctlSub(&r, &u.LabelFilter, depth, ctlFilter)
		case 8:
			r.flag(&u.AllUsers)
		default:
			r.skip()
		}
	}
	return r.err
}

func ctlDisconnect(b []byte, d *ControlDisconnect, depth int) error {
	r := ctlReader{pbReader{b: b}}
	for r.next() {
		switch r.num {
		case 1:
			r.str(&d.User)
		case 2:
			var s string
			if r.typ == tBytes {
				r.str(&s)
				if r.err == nil {
					d.Whitelist = append(d.Whitelist, s)
				}
			} else {
				r.skip()
			}
		case 3:
			r.u32(&d.Code)
		case 4:
			r.str(&d.Reason)
		case 5:
			r.flag(&d.Reconnect)
		case 6:
			r.str(&d.Client)
		case 7:
			r.str(&d.Session)
		case 8:
			ctlSub(&r, &d.LabelFilter, depth, ctlFilter)
		case 9:
			r.flag(&d.AllUsers)
		default:
			r.skip()
		}
	}
	return r.err
}

func ctlRefresh(b []byte, v *ControlRefresh, depth int) error {
	r := ctlReader{pbReader{b: b}}
	for r.next() {
		switch r.num {
		case 1:
			r.str(&v.User)
		case 2:
			r.str(&v.Client)
		case 3:
			r.flag(&v.Expired)
		case 4:
			r.i64(&v.ExpireAt)
		case 5:
			r.bytes(&v.Info)
		case 6:
			r.str(&v.Session)
		case 7:
			ctlSub(&r, &v.LabelFilter, depth, ctlFilter)
		case 8:
			r.flag(&v.AllUsers)
		default:
			r.skip()
		}
	}
	return r.err
}

func ctlSurveyRequest(b []byte, v *ControlSurveyRequest, _ int) error {
	r := ctlReader{pbReader{b: b}}
	for r.next() {
		switch r.num {
		case 1:
			r.u64(&v.ID)
		case 2:
			r.str(&v.Op)
		case 3:
			r.bytes(&v.Data)
		default:
			r.skip()
		}
	}
	return r.err
}

func ctlSurveyResponse(b []byte, v *ControlSurveyResponse, _ int) error {
	r := ctlReader{pbReader{b: b}}
	for r.next() {
		switch r.num {
		case 1:
			r.u64(&v.ID)
		case 2:
			r.u32(&v.Code)
		case 3:
			r.bytes(&v.Data)
		default:
			r.skip()
		}
	}
	return r.err
}

func ctlNotification(b []byte, v *ControlNotification, _ int) error {
	r := ctlReader{pbReader{b: b}}
	for r.next() {
		switch r.num {
		case 1:
			r.str(&v.Op)
		case 2:
			r.bytes(&v.Data)
		default:
			r.skip()
		}
	}
	return r.err
}

// ---- the "channels" survey (Centrifugo's apiproto ChannelsRequest / ChannelsResult) ----

// Centrifugo's channels API asks every node with a survey of op "channels" whose data
// is apiproto.ChannelsRequest{pattern 1} and whose answer is apiproto.ChannelsResult
// {channels 1: map<string, ChannelInfo{num_clients 1}>}, Protobuf-encoded. A reply
// code 0 means success; Centrifugo answers 2 for a request it cannot parse (or a bad
// pattern) and 3 for an unknown op.

// AppendChannelsSurveyRequest appends apiproto.ChannelsRequest{pattern}.
func AppendChannelsSurveyRequest(dst []byte, pattern string) []byte {
	return pbStr(dst, 1, pattern)
}

// DecodeChannelsSurveyRequest decodes apiproto.ChannelsRequest and returns its pattern.
func DecodeChannelsSurveyRequest(b []byte) (string, error) {
	var pattern string
	r := ctlReader{pbReader{b: b}}
	for r.next() {
		if r.num == 1 {
			r.str(&pattern)
		} else {
			r.skip()
		}
	}
	return pattern, r.err
}

// AppendChannelsSurveyResult appends apiproto.ChannelsResult with one entry per
// channel (in key order; entries carry key and value, an all-zero ChannelInfo as an
// empty message, as protobuf-go writes map entries).
func AppendChannelsSurveyResult(dst []byte, channels map[string]uint32) []byte {
	keys := make([]string, 0, len(channels))
	for k := range channels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := dst
	for _, k := range keys {
		n := channels[k]
		info := sizeU64(1, uint64(n))
		entry := sizeLD(1, len(k)) + sizeLD(2, info)
		b = protowire.AppendTag(b, 1, tBytes)
		b = protowire.AppendVarint(b, uint64(entry))
		b = protowire.AppendTag(b, 1, tBytes)
		b = protowire.AppendString(b, k)
		b = protowire.AppendTag(b, 2, tBytes)
		b = protowire.AppendVarint(b, uint64(info))
		b = pbU64(b, 1, uint64(n))
	}
	return b
}

// DecodeChannelsSurveyResult decodes apiproto.ChannelsResult into a map of channel to
// number of clients (a repeated key: the last entry wins, as in protobuf-go).
func DecodeChannelsSurveyResult(b []byte) (map[string]uint32, error) {
	out := make(map[string]uint32)
	r := ctlReader{pbReader{b: b}}
	for r.next() {
		if r.num != 1 {
			r.skip()
			continue
		}
		if !r.is(tBytes) {
			continue
		}
		e := ctlReader{pbReader{b: r.msg()}}
		var key string
		var n uint32
		for e.next() {
			switch e.num {
			case 1:
				e.str(&key)
			case 2:
				if !e.is(tBytes) {
					continue
				}
				v := ctlReader{pbReader{b: e.msg()}}
				for v.next() {
					if v.num == 1 {
						v.u32(&n)
					} else {
						v.skip()
					}
				}
				if v.err != nil {
					e.err, e.b = v.err, nil
				}
			default:
				e.skip()
			}
		}
		if e.err != nil {
			return nil, e.err
		}
		out[key] = n
	}
	if r.err != nil {
		return nil, r.err
	}
	return out, nil
}
