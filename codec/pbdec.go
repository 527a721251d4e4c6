package codec

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// Protobuf decoders for every message. As in vtproto (what Centrifugo decodes commands
// with), a known field with the wrong wire type is an error; unknown fields are skipped.
// Repeated occurrences of a sub-message merge into it, of a scalar the last one wins.
// bytes fields alias the input (capacity cut, so appends never write into the frame),
// strings are copies, empty bytes/maps/lists decode to nil.

// pbReader walks the fields of one message. Errors are sticky: after the first one
// next reports false and Decode returns r.err.
type pbReader struct {
	b   []byte
	num protowire.Number
	typ protowire.Type
	err error
}

func (r *pbReader) next() bool {
	if r.err != nil || len(r.b) == 0 {
		return false
	}
	num, typ, n := protowire.ConsumeTag(r.b)
	if n < 0 {
		r.err = errPBField
		return false
	}
	r.b = r.b[n:]
	r.num, r.typ = num, typ
	return true
}

func (r *pbReader) fail() {
	if r.err == nil {
		r.err = errPBField
	}
	r.b = nil
}

func (r *pbReader) varint() uint64 {
	if r.typ != tVarint {
		r.fail()
		return 0
	}
	v, n := protowire.ConsumeVarint(r.b)
	if n < 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *pbReader) boolean() bool { return r.varint() != 0 }

// msg returns the body of a length-delimited field (a sub-slice of the input).
func (r *pbReader) msg() []byte {
	if r.typ != tBytes {
		r.fail()
		return nil
	}
	v, n := protowire.ConsumeBytes(r.b)
	if n < 0 {
		r.fail()
		return nil
	}
	r.b = r.b[n:]
	return v
}

func (r *pbReader) bytes() []byte {
	v := r.msg()
	if len(v) == 0 {
		return nil
	}
	return v[:len(v):len(v)]
}

func (r *pbReader) str() string { return string(r.msg()) }

func (r *pbReader) skip() {
	n := protowire.ConsumeFieldValue(r.num, r.typ, r.b)
	if n < 0 {
		r.fail()
		return
	}
	r.b = r.b[n:]
}

// sub decodes a sub-message field with f, one level deeper.
func pbSub[T any](r *pbReader, v *T, depth int, f func([]byte, *T, int) error) {
	b := r.msg()
	if r.err != nil {
		return
	}
	if depth >= maxDepth {
		r.err = errPBDepth
		return
	}
	if err := f(b, v, depth+1); err != nil {
		r.err = err
	}
}

// pbOpt decodes an optional sub-message into *dst, allocating it on first use.
func pbOpt[T any](r *pbReader, dst **T, depth int, f func([]byte, *T, int) error) {
	if *dst == nil {
		if r.typ != tBytes {
			r.fail()
			return
		}
		*dst = new(T)
	}
	pbSub(r, *dst, depth, f)
}

// pbAppend decodes one element of a repeated message field.
func pbAppend[T any](r *pbReader, dst *[]*T, depth int, f func([]byte, *T, int) error) {
	v := new(T)
	pbSub(r, v, depth, f)
	if r.err == nil {
		*dst = append(*dst, v)
	}
}

// pbMsgEntry decodes one entry of a map<string, Message>.
func pbMsgEntry[T any](r *pbReader, dst *map[string]*T, depth int, f func([]byte, *T, int) error) {
	b := r.msg()
	if r.err != nil {
		return
	}
	if depth >= maxDepth {
		r.err = errPBDepth
		return
	}
	var key string
	var val *T
	e := pbReader{b: b}
	for e.next() {
		switch e.num {
		case 1:
			key = e.str()
		case 2:
			pbOpt(&e, &val, depth+1, f)
		default:
			e.skip()
		}
	}
	if e.err != nil {
		r.err = e.err
		return
	}
	if val == nil {
		val = new(T)
	}
	if *dst == nil {
		*dst = make(map[string]*T)
	}
	(*dst)[key] = val
}

// pbStrEntry decodes one entry of a map<string,string>.
func (r *pbReader) strEntry(dst *map[string]string) {
	b := r.msg()
	if r.err != nil {
		return
	}
	var key, val string
	e := pbReader{b: b}
	for e.next() {
		switch e.num {
		case 1:
			key = e.str()
		case 2:
			val = e.str()
		default:
			e.skip()
		}
	}
	if e.err != nil {
		r.err = e.err
		return
	}
	if *dst == nil {
		*dst = make(map[string]string)
	}
	(*dst)[key] = val
}

func pbEmpty[T any](b []byte, _ *T, _ int) error {
	r := pbReader{b: b}
	for r.next() {
		r.skip()
	}
	return r.err
}

// ---- client → server ----

func pbCommand(b []byte, c *Command, depth int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			c.ID = uint32(r.varint())
		case 4:
			pbOpt(&r, &c.Connect, depth, pbConnectRequest)
		case 5:
			pbOpt(&r, &c.Subscribe, depth, pbSubscribeRequest)
		case 6:
			pbOpt(&r, &c.Unsubscribe, depth, func(b []byte, v *UnsubscribeRequest, _ int) error { return pbChannelOnly(b, &v.Channel) })
		case 7:
			pbOpt(&r, &c.Publish, depth, pbPublishRequest)
		case 8:
			pbOpt(&r, &c.Presence, depth, func(b []byte, v *PresenceRequest, _ int) error { return pbChannelOnly(b, &v.Channel) })
		case 9:
			pbOpt(&r, &c.PresenceStats, depth, func(b []byte, v *PresenceStatsRequest, _ int) error { return pbChannelOnly(b, &v.Channel) })
		case 10:
			pbOpt(&r, &c.History, depth, pbHistoryRequest)
		case 11:
			pbOpt(&r, &c.Ping, depth, pbEmpty[PingRequest])
		case 12:
			pbOpt(&r, &c.Send, depth, func(b []byte, v *SendRequest, _ int) error { return pbDataOnly(b, &v.Data) })
		case 13:
			pbOpt(&r, &c.RPC, depth, pbRPCRequest)
		case 14:
			pbOpt(&r, &c.Refresh, depth, pbRefreshRequest)
		case 15:
			pbOpt(&r, &c.SubRefresh, depth, pbSubRefreshRequest)
		default:
			r.skip()
		}
	}
	return r.err
}

func pbChannelOnly(b []byte, ch *string) error {
	r := pbReader{b: b}
	for r.next() {
		if r.num == 1 {
			*ch = r.str()
		} else {
			r.skip()
		}
	}
	return r.err
}

func pbDataOnly(b []byte, data *[]byte) error {
	r := pbReader{b: b}
	for r.next() {
		if r.num == 1 {
			*data = r.bytes()
		} else {
			r.skip()
		}
	}
	return r.err
}

func pbConnectRequest(b []byte, c *ConnectRequest, depth int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			c.Token = r.str()
		case 2:
			c.Data = r.bytes()
		case 3:
			pbMsgEntry(&r, &c.Subs, depth, pbSubscribeRequest)
		case 4:
			c.Name = r.str()
		case 5:
			c.Version = r.str()
		case 6:
			r.strEntry(&c.Headers)
		case 7:
			c.Flag = int64(r.varint())
		default:
			r.skip()
		}
	}
	return r.err
}

func pbSubscribeRequest(b []byte, s *SubscribeRequest, depth int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			s.Channel = r.str()
		case 2:
			s.Token = r.str()
		case 3:
			s.Recover = r.boolean()
		case 6:
			s.Epoch = r.str()
		case 7:
			s.Offset = r.varint()
		case 8:
			s.Data = r.bytes()
		case 9:
			s.Positioned = r.boolean()
		case 10:
			s.Recoverable = r.boolean()
		case 11:
			s.JoinLeave = r.boolean()
		case 12:
			s.Delta = r.str()
		case 13:
			pbOpt(&r, &s.Tf, depth, pbFilterNode)
		case 14:
			s.Flag = int64(r.varint())
		case 15:
			s.Type = int32(r.varint())
		case 16:
			s.Phase = int32(r.varint())
		case 17:
			s.Cursor = r.str()
		case 18:
			s.Limit = int32(r.varint())
		case 19:
			s.Asc = r.boolean()
		default:
			r.skip()
		}
	}
	return r.err
}

func pbFilterNode(b []byte, n *FilterNode, depth int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			n.Op = r.str()
		case 2:
			n.Key = r.str()
		case 3:
			n.Cmp = r.str()
		case 4:
			n.Val = r.str()
		case 5:
			s := r.str()
			if r.err == nil {
				n.Vals = append(n.Vals, s)
			}
		case 6:
			pbAppend(&r, &n.Nodes, depth, pbFilterNode)
		default:
			r.skip()
		}
	}
	return r.err
}

func pbPublishRequest(b []byte, p *PublishRequest, _ int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			p.Channel = r.str()
		case 2:
			p.Data = r.bytes()
		case 3:
			p.Type = int32(r.varint())
		case 4:
			p.Key = r.str()
		case 5:
			p.Removed = r.boolean()
		default:
			r.skip()
		}
	}
	return r.err
}

func pbHistoryRequest(b []byte, h *HistoryRequest, depth int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			h.Channel = r.str()
		case 7:
			h.Limit = int32(r.varint())
		case 8:
			pbOpt(&r, &h.Since, depth, pbStreamPosition)
		case 9:
			h.Reverse = r.boolean()
		default:
			r.skip()
		}
	}
	return r.err
}

func pbStreamPosition(b []byte, sp *StreamPosition, _ int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			sp.Offset = r.varint()
		case 2:
			sp.Epoch = r.str()
		default:
			r.skip()
		}
	}
	return r.err
}

func pbRPCRequest(b []byte, v *RPCRequest, _ int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			v.Data = r.bytes()
		case 2:
			v.Method = r.str()
		default:
			r.skip()
		}
	}
	return r.err
}

func pbRefreshRequest(b []byte, v *RefreshRequest, _ int) error {
	r := pbReader{b: b}
	for r.next() {
		if r.num == 1 {
			v.Token = r.str()
		} else {
			r.skip()
		}
	}
	return r.err
}

func pbSubRefreshRequest(b []byte, v *SubRefreshRequest, depth int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			v.Channel = r.str()
		case 2:
			v.Token = r.str()
		case 3:
			v.Type = int32(r.varint())
		case 4:
			pbAppend(&r, &v.Track, depth, pbTrackBatch)
		case 5:
			s := r.str()
			if r.err == nil {
				v.Untrack = append(v.Untrack, s)
			}
		default:
			r.skip()
		}
	}
	return r.err
}

func pbTrackBatch(b []byte, v *TrackBatch, depth int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			v.Signature = r.str()
		case 2:
			pbAppend(&r, &v.Items, depth, pbKeyedItem)
		default:
			r.skip()
		}
	}
	return r.err
}

func pbKeyedItem(b []byte, v *KeyedItem, _ int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			v.Key = r.str()
		case 2:
			v.Version = r.varint()
		default:
			r.skip()
		}
	}
	return r.err
}

func pbEmulationRequest(b []byte, v *EmulationRequest) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			v.Node = r.str()
		case 2:
			v.Session = r.str()
		case 3:
			v.Data = r.bytes()
		default:
			r.skip()
		}
	}
	return r.err
}

// ---- server → client ----

func pbReply(b []byte, v *Reply, depth int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			v.ID = uint32(r.varint())
		case 2:
			pbOpt(&r, &v.Error, depth, pbError)
		case 4:
			pbOpt(&r, &v.Push, depth, pbPush)
		case 5:
			pbOpt(&r, &v.Connect, depth, pbConnectResult)
		case 6:
			pbOpt(&r, &v.Subscribe, depth, pbSubscribeResult)
		case 7:
			pbOpt(&r, &v.Unsubscribe, depth, pbEmpty[UnsubscribeResult])
		case 8:
			pbOpt(&r, &v.Publish, depth, pbEmpty[PublishResult])
		case 9:
			pbOpt(&r, &v.Presence, depth, pbPresenceResult)
		case 10:
			pbOpt(&r, &v.PresenceStats, depth, pbPresenceStatsResult)
		case 11:
			pbOpt(&r, &v.History, depth, pbHistoryResult)
		case 13:
			pbOpt(&r, &v.RPC, depth, func(b []byte, v *RPCResult, _ int) error { return pbDataOnly(b, &v.Data) })
		case 14:
			pbOpt(&r, &v.Refresh, depth, pbRefreshResult)
		case 15:
			pbOpt(&r, &v.SubRefresh, depth, pbSubRefreshResult)
		default:
			r.skip()
		}
	}
	return r.err
}

func pbError(b []byte, e *Error, _ int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			e.Code = uint32(r.varint())
		case 2:
			e.Message = r.str()
		case 3:
			e.Temporary = r.boolean()
		default:
			r.skip()
		}
	}
	return r.err
}

func pbPush(b []byte, p *Push, depth int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			p.ID = int64(r.varint())
		case 2:
			p.Channel = r.str()
		case 4:
			pbOpt(&r, &p.Pub, depth, pbPublication)
		case 5:
			pbOpt(&r, &p.Join, depth, func(b []byte, v *Join, depth int) error { return pbInfoWrapper(b, &v.Info, depth) })
		case 6:
			pbOpt(&r, &p.Leave, depth, func(b []byte, v *Leave, depth int) error { return pbInfoWrapper(b, &v.Info, depth) })
		case 7:
			pbOpt(&r, &p.Unsubscribe, depth, pbUnsubscribePush)
		case 8:
			pbOpt(&r, &p.Message, depth, func(b []byte, v *Message, _ int) error { return pbDataOnly(b, &v.Data) })
		case 9:
			pbOpt(&r, &p.Subscribe, depth, pbSubscribePush)
		case 10:
			pbOpt(&r, &p.Connect, depth, pbConnectPush)
		case 11:
			pbOpt(&r, &p.Disconnect, depth, pbDisconnectPush)
		case 12:
			pbOpt(&r, &p.Refresh, depth, pbRefreshPush)
		default:
			r.skip()
		}
	}
	return r.err
}

func pbClientInfo(b []byte, ci *ClientInfo, _ int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			ci.User = r.str()
		case 2:
			ci.Client = r.str()
		case 3:
			ci.ConnInfo = r.bytes()
		case 4:
			ci.ChanInfo = r.bytes()
		default:
			r.skip()
		}
	}
	return r.err
}

func pbInfoWrapper(b []byte, ci *ClientInfo, depth int) error {
	r := pbReader{b: b}
	for r.next() {
		if r.num == 1 {
			pbSub(&r, ci, depth, pbClientInfo)
		} else {
			r.skip()
		}
	}
	return r.err
}

func pbPublication(b []byte, p *Publication, depth int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 4:
			p.Data = r.bytes()
		case 5:
			pbOpt(&r, &p.Info, depth, pbClientInfo)
		case 6:
			p.Offset = r.varint()
		case 7:
			r.strEntry(&p.Tags)
		case 8:
			p.Delta = r.boolean()
		case 9:
			p.Time = int64(r.varint())
		case 10:
			p.Channel = r.str()
		case 11:
			p.Key = r.str()
		case 12:
			p.Removed = r.boolean()
		case 13:
			p.Score = protowire.DecodeZigZag(r.varint())
		case 14:
			p.Epoch = r.str()
		case 15:
			p.PrevData = r.bytes()
		case 16:
			p.Version = r.varint()
		default:
			r.skip()
		}
	}
	return r.err
}

func pbUnsubscribePush(b []byte, u *Unsubscribe, _ int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 2:
			u.Code = uint32(r.varint())
		case 3:
			u.Reason = r.str()
		default:
			r.skip()
		}
	}
	return r.err
}

func pbSubscribePush(b []byte, s *Subscribe, _ int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			s.Recoverable = r.boolean()
		case 4:
			s.Epoch = r.str()
		case 5:
			s.Offset = r.varint()
		case 6:
			s.Positioned = r.boolean()
		case 7:
			s.Data = r.bytes()
		default:
			r.skip()
		}
	}
	return r.err
}

func pbConnectPush(b []byte, c *Connect, depth int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			c.Client = r.str()
		case 2:
			c.Version = r.str()
		case 3:
			c.Data = r.bytes()
		case 4:
			pbMsgEntry(&r, &c.Subs, depth, pbSubscribeResult)
		case 5:
			c.Expires = r.boolean()
		case 6:
			c.TTL = uint32(r.varint())
		case 7:
			c.Ping = uint32(r.varint())
		case 8:
			c.Pong = r.boolean()
		case 9:
			c.Session = r.str()
		case 10:
			c.Node = r.str()
		case 11:
			c.Time = int64(r.varint())
		default:
			r.skip()
		}
	}
	return r.err
}

func pbConnectResult(b []byte, c *ConnectResult, depth int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			c.Client = r.str()
		case 2:
			c.Version = r.str()
		case 3:
			c.Expires = r.boolean()
		case 4:
			c.TTL = uint32(r.varint())
		case 5:
			c.Data = r.bytes()
		case 6:
			pbMsgEntry(&r, &c.Subs, depth, pbSubscribeResult)
		case 7:
			c.Ping = uint32(r.varint())
		case 8:
			c.Pong = r.boolean()
		case 9:
			c.Session = r.str()
		case 10:
			c.Node = r.str()
		case 11:
			c.Time = int64(r.varint())
		default:
			r.skip()
		}
	}
	return r.err
}

func pbDisconnectPush(b []byte, d *Disconnect, _ int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			d.Code = uint32(r.varint())
		case 2:
			d.Reason = r.str()
		case 3:
			d.Reconnect = r.boolean()
		default:
			r.skip()
		}
	}
	return r.err
}

func pbRefreshPush(b []byte, v *Refresh, _ int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			v.Expires = r.boolean()
		case 2:
			v.TTL = uint32(r.varint())
		default:
			r.skip()
		}
	}
	return r.err
}

func pbSubscribeResult(b []byte, s *SubscribeResult, depth int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			s.Expires = r.boolean()
		case 2:
			s.TTL = uint32(r.varint())
		case 3:
			s.Recoverable = r.boolean()
		case 6:
			s.Epoch = r.str()
		case 7:
			pbAppend(&r, &s.Publications, depth, pbPublication)
		case 8:
			s.Recovered = r.boolean()
		case 9:
			s.Offset = r.varint()
		case 10:
			s.Positioned = r.boolean()
		case 11:
			s.Data = r.bytes()
		case 12:
			s.WasRecovering = r.boolean()
		case 13:
			s.Delta = r.boolean()
		case 14:
			s.ID = int64(r.varint())
		case 15:
			s.Type = int32(r.varint())
		case 16:
			s.Phase = int32(r.varint())
		case 17:
			s.Cursor = r.str()
		case 18:
			pbAppend(&r, &s.State, depth, pbPublication)
		case 19:
			s.PublishDebounce = uint32(r.varint())
		default:
			r.skip()
		}
	}
	return r.err
}

func pbPresenceResult(b []byte, v *PresenceResult, depth int) error {
	r := pbReader{b: b}
	for r.next() {
		if r.num == 1 {
			pbMsgEntry(&r, &v.Presence, depth, pbClientInfo)
		} else {
			r.skip()
		}
	}
	return r.err
}

func pbPresenceStatsResult(b []byte, v *PresenceStatsResult, _ int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			v.NumClients = uint32(r.varint())
		case 2:
			v.NumUsers = uint32(r.varint())
		default:
			r.skip()
		}
	}
	return r.err
}

func pbHistoryResult(b []byte, v *HistoryResult, depth int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			pbAppend(&r, &v.Publications, depth, pbPublication)
		case 2:
			v.Epoch = r.str()
		case 3:
			v.Offset = r.varint()
		default:
			r.skip()
		}
	}
	return r.err
}

func pbRefreshResult(b []byte, v *RefreshResult, _ int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			v.Client = r.str()
		case 2:
			v.Version = r.str()
		case 3:
			v.Expires = r.boolean()
		case 4:
			v.TTL = uint32(r.varint())
		default:
			r.skip()
		}
	}
	return r.err
}

func pbSubRefreshResult(b []byte, v *SubRefreshResult, depth int) error {
	r := pbReader{b: b}
	for r.next() {
		switch r.num {
		case 1:
			v.Expires = r.boolean()
		case 2:
			v.TTL = uint32(r.varint())
		case 3:
			pbAppend(&r, &v.Items, depth, pbPublication)
		default:
			r.skip()
		}
	}
	return r.err
}
