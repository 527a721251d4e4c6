package codec

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// Protobuf writers, proto3 rules: zero scalars are not written, a set (non-nil)
// sub-message is always written, even when empty (so a client sees an empty
// PublishResult). Fields go in number order and maps in key order, as protobuf-go's
// deterministic mode does, so golden bytes are stable.
//
// Nested messages whose size is not known up front are written with pbBegin/pbEnd:
// one byte is reserved for the length and the body is shifted in the rare case it
// needs a longer varint. Publication and ClientInfo, which sit on the hot path, have
// exact size functions instead, so the publication push is written without any shift.

const (
	tVarint = protowire.VarintType
	tBytes  = protowire.BytesType
)

func pbStr(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, tBytes)
	return protowire.AppendString(b, s)
}

func pbBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, tBytes)
	return protowire.AppendBytes(b, v)
}

func pbU64(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, tVarint)
	return protowire.AppendVarint(b, v)
}

// pbI64 writes int64 and int32 fields: proto sign-extends negative int32 to 64 bits.
func pbI64(b []byte, num protowire.Number, v int64) []byte { return pbU64(b, num, uint64(v)) }

func pbSint64(b []byte, num protowire.Number, v int64) []byte {
	return pbU64(b, num, protowire.EncodeZigZag(v))
}

func pbBool(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	b = protowire.AppendTag(b, num, tVarint)
	return append(b, 1)
}

// pbBegin starts a length-delimited field num (num 0: no tag, only the length, as the
// frame prefix of a top-level message). Pass the result to pbEnd.
func pbBegin(b []byte, num protowire.Number) ([]byte, int) {
	if num != 0 {
		b = protowire.AppendTag(b, num, tBytes)
	}
	return append(b, 0), len(b)
}

// pbEnd writes the length of the body that follows the byte reserved at pos.
func pbEnd(b []byte, pos int) []byte {
	n := len(b) - pos - 1
	if n < 0x80 {
		b[pos] = byte(n)
		return b
	}
	k := protowire.SizeVarint(uint64(n))
	for range k - 1 {
		b = append(b, 0)
	}
	copy(b[pos+k:], b[pos+1:pos+1+n])
	protowire.AppendVarint(b[:pos], uint64(n)) // writes in place: cap(b[:pos]) covers it
	return b
}

// sizeLD is the size of a length-delimited field num with an n-byte body.
func sizeLD(num protowire.Number, n int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

func sizeStr(num protowire.Number, n int) int {
	if n == 0 {
		return 0
	}
	return sizeLD(num, n)
}

func sizeU64(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

func sizeBool(num protowire.Number, v bool) int {
	if !v {
		return 0
	}
	return protowire.SizeTag(num) + 1
}

func sizeClientInfo(ci *ClientInfo) int {
	return sizeStr(1, len(ci.User)) + sizeStr(2, len(ci.Client)) +
		sizeStr(3, len(ci.ConnInfo)) + sizeStr(4, len(ci.ChanInfo))
}

func appendPBClientInfo(b []byte, ci *ClientInfo) []byte {
	b = pbStr(b, 1, ci.User)
	b = pbStr(b, 2, ci.Client)
	b = pbBytes(b, 3, ci.ConnInfo)
	return pbBytes(b, 4, ci.ChanInfo)
}

// sizeStrEntry is the body size of a map<string,string> entry. Both key and value are
// always written inside an entry, as protobuf-go and vtproto do.
func sizeStrEntry(k, v string) int {
	return 1 + protowire.SizeBytes(len(k)) + 1 + protowire.SizeBytes(len(v))
}

// sizePublication and appendPBPublication take the tags already sorted (sortedPairs),
// so the map is walked once per encode rather than twice.
func sizePublication(p *Publication, tags []strPair) int {
	n := sizeStr(4, len(p.Data))
	if p.Info != nil {
		n += sizeLD(5, sizeClientInfo(p.Info))
	}
	n += sizeU64(6, p.Offset)
	for _, t := range tags {
		n += sizeLD(7, sizeStrEntry(t.k, t.v))
	}
	n += sizeBool(8, p.Delta) + sizeU64(9, uint64(p.Time)) + sizeStr(10, len(p.Channel)) +
		sizeStr(11, len(p.Key)) + sizeBool(12, p.Removed) + sizeU64(13, protowire.EncodeZigZag(p.Score)) +
		sizeStr(14, len(p.Epoch)) + sizeStr(15, len(p.PrevData)) + sizeU64(16, p.Version)
	return n
}

func appendPBPublication(b []byte, p *Publication, tags []strPair) []byte {
	b = pbBytes(b, 4, p.Data)
	if p.Info != nil {
		b = protowire.AppendTag(b, 5, tBytes)
		b = protowire.AppendVarint(b, uint64(sizeClientInfo(p.Info)))
		b = appendPBClientInfo(b, p.Info)
	}
	b = pbU64(b, 6, p.Offset)
	b = appendPBStrPairs(b, 7, tags)
	b = pbBool(b, 8, p.Delta)
	b = pbI64(b, 9, p.Time)
	b = pbStr(b, 10, p.Channel)
	b = pbStr(b, 11, p.Key)
	b = pbBool(b, 12, p.Removed)
	b = pbSint64(b, 13, p.Score)
	b = pbStr(b, 14, p.Epoch)
	b = pbBytes(b, 15, p.PrevData)
	return pbU64(b, 16, p.Version)
}

// appendPBPubField writes a Publication as field num (a nil one as an empty message).
func appendPBPubField(b []byte, num protowire.Number, p *Publication) []byte {
	if p == nil {
		p = &emptyPublication
	}
	var buf [sortBuf]strPair
	tags := sortedPairs(p.Tags, &buf)
	b = protowire.AppendTag(b, num, tBytes)
	b = protowire.AppendVarint(b, uint64(sizePublication(p, tags)))
	return appendPBPublication(b, p, tags)
}

// emptyPublication stands in for a nil *Publication; it is never written to.
var emptyPublication Publication

func appendPBStrMap(b []byte, num protowire.Number, m map[string]string) []byte {
	if len(m) == 0 {
		return b
	}
	var buf [sortBuf]strPair
	return appendPBStrPairs(b, num, sortedPairs(m, &buf))
}

func appendPBStrPairs(b []byte, num protowire.Number, pairs []strPair) []byte {
	for _, p := range pairs {
		b = protowire.AppendTag(b, num, tBytes)
		b = protowire.AppendVarint(b, uint64(sizeStrEntry(p.k, p.v)))
		b = protowire.AppendTag(b, 1, tBytes)
		b = protowire.AppendString(b, p.k)
		b = protowire.AppendTag(b, 2, tBytes)
		b = protowire.AppendString(b, p.v)
	}
	return b
}

func appendPBStrList(b []byte, num protowire.Number, l []string) []byte {
	for _, s := range l {
		b = protowire.AppendTag(b, num, tBytes)
		b = protowire.AppendString(b, s)
	}
	return b
}

func appendPBClientInfoField(b []byte, num protowire.Number, ci *ClientInfo) []byte {
	b = protowire.AppendTag(b, num, tBytes)
	b = protowire.AppendVarint(b, uint64(sizeClientInfo(ci)))
	return appendPBClientInfo(b, ci)
}

func appendPBPush(b []byte, p *Push) []byte {
	b = pbI64(b, 1, p.ID)
	b = pbStr(b, 2, p.Channel)
	if p.Pub != nil {
		b = appendPBPubField(b, 4, p.Pub)
	}
	if p.Join != nil {
		b = appendPBInfoWrapper(b, 5, &p.Join.Info)
	}
	if p.Leave != nil {
		b = appendPBInfoWrapper(b, 6, &p.Leave.Info)
	}
	if p.Unsubscribe != nil {
		b = appendPBUnsubscribe(b, 7, p.Unsubscribe.Code, p.Unsubscribe.Reason)
	}
	if p.Message != nil {
		var pos int
		b, pos = pbBegin(b, 8)
		b = pbBytes(b, 1, p.Message.Data)
		b = pbEnd(b, pos)
	}
	if s := p.Subscribe; s != nil {
		var pos int
		b, pos = pbBegin(b, 9)
		b = pbBool(b, 1, s.Recoverable)
		b = pbStr(b, 4, s.Epoch)
		b = pbU64(b, 5, s.Offset)
		b = pbBool(b, 6, s.Positioned)
		b = pbBytes(b, 7, s.Data)
		b = pbEnd(b, pos)
	}
	if c := p.Connect; c != nil {
		var pos int
		b, pos = pbBegin(b, 10)
		b = pbStr(b, 1, c.Client)
		b = pbStr(b, 2, c.Version)
		b = pbBytes(b, 3, c.Data)
		b = appendPBSubResults(b, 4, c.Subs)
		b = pbBool(b, 5, c.Expires)
		b = pbU64(b, 6, uint64(c.TTL))
		b = pbU64(b, 7, uint64(c.Ping))
		b = pbBool(b, 8, c.Pong)
		b = pbStr(b, 9, c.Session)
		b = pbStr(b, 10, c.Node)
		b = pbI64(b, 11, c.Time)
		b = pbEnd(b, pos)
	}
	if d := p.Disconnect; d != nil {
		var pos int
		b, pos = pbBegin(b, 11)
		b = pbU64(b, 1, uint64(d.Code))
		b = pbStr(b, 2, d.Reason)
		b = pbBool(b, 3, d.Reconnect)
		b = pbEnd(b, pos)
	}
	if r := p.Refresh; r != nil {
		var pos int
		b, pos = pbBegin(b, 12)
		b = pbBool(b, 1, r.Expires)
		b = pbU64(b, 2, uint64(r.TTL))
		b = pbEnd(b, pos)
	}
	return b
}

// appendPBInfoWrapper writes Join/Leave {info=1} as field num.
func appendPBInfoWrapper(b []byte, num protowire.Number, ci *ClientInfo) []byte {
	n := sizeClientInfo(ci)
	b = protowire.AppendTag(b, num, tBytes)
	b = protowire.AppendVarint(b, uint64(sizeLD(1, n)))
	b = protowire.AppendTag(b, 1, tBytes)
	b = protowire.AppendVarint(b, uint64(n))
	return appendPBClientInfo(b, ci)
}

func appendPBUnsubscribe(b []byte, num protowire.Number, code uint32, reason string) []byte {
	b = protowire.AppendTag(b, num, tBytes)
	b = protowire.AppendVarint(b, uint64(sizeU64(2, uint64(code))+sizeStr(3, len(reason))))
	b = pbU64(b, 2, uint64(code))
	return pbStr(b, 3, reason)
}

func appendPBSubResults(b []byte, num protowire.Number, subs map[string]*SubscribeResult) []byte {
	if len(subs) == 0 {
		return b
	}
	var buf [sortBuf]string
	for _, k := range sortedKeys(subs, &buf) {
		var entry, val int
		b, entry = pbBegin(b, num)
		b = protowire.AppendTag(b, 1, tBytes)
		b = protowire.AppendString(b, k)
		b, val = pbBegin(b, 2)
		b = appendPBSubscribeResult(b, subs[k])
		b = pbEnd(b, val)
		b = pbEnd(b, entry)
	}
	return b
}

func appendPBSubscribeResult(b []byte, r *SubscribeResult) []byte {
	if r == nil {
		return b
	}
	b = pbBool(b, 1, r.Expires)
	b = pbU64(b, 2, uint64(r.TTL))
	b = pbBool(b, 3, r.Recoverable)
	b = pbStr(b, 6, r.Epoch)
	for _, p := range r.Publications {
		b = appendPBPubField(b, 7, p)
	}
	b = pbBool(b, 8, r.Recovered)
	b = pbU64(b, 9, r.Offset)
	b = pbBool(b, 10, r.Positioned)
	b = pbBytes(b, 11, r.Data)
	b = pbBool(b, 12, r.WasRecovering)
	b = pbBool(b, 13, r.Delta)
	b = pbI64(b, 14, r.ID)
	b = pbI64(b, 15, int64(r.Type))
	b = pbI64(b, 16, int64(r.Phase))
	b = pbStr(b, 17, r.Cursor)
	for _, p := range r.State {
		b = appendPBPubField(b, 18, p)
	}
	return pbU64(b, 19, uint64(r.PublishDebounce))
}

func appendPBError(b []byte, num protowire.Number, code uint32, message string, temporary bool) []byte {
	b = protowire.AppendTag(b, num, tBytes)
	b = protowire.AppendVarint(b, uint64(sizeU64(1, uint64(code))+sizeStr(2, len(message))+sizeBool(3, temporary)))
	b = pbU64(b, 1, uint64(code))
	b = pbStr(b, 2, message)
	return pbBool(b, 3, temporary)
}

func appendPBReply(b []byte, r *Reply) []byte {
	var pos int
	b = pbU64(b, 1, uint64(r.ID))
	if e := r.Error; e != nil {
		b = appendPBError(b, 2, e.Code, e.Message, e.Temporary)
	}
	if r.Push != nil {
		b, pos = pbBegin(b, 4)
		b = appendPBPush(b, r.Push)
		b = pbEnd(b, pos)
	}
	if c := r.Connect; c != nil {
		b, pos = pbBegin(b, 5)
		b = pbStr(b, 1, c.Client)
		b = pbStr(b, 2, c.Version)
		b = pbBool(b, 3, c.Expires)
		b = pbU64(b, 4, uint64(c.TTL))
		b = pbBytes(b, 5, c.Data)
		b = appendPBSubResults(b, 6, c.Subs)
		b = pbU64(b, 7, uint64(c.Ping))
		b = pbBool(b, 8, c.Pong)
		b = pbStr(b, 9, c.Session)
		b = pbStr(b, 10, c.Node)
		b = pbI64(b, 11, c.Time)
		b = pbEnd(b, pos)
	}
	if r.Subscribe != nil {
		b, pos = pbBegin(b, 6)
		b = appendPBSubscribeResult(b, r.Subscribe)
		b = pbEnd(b, pos)
	}
	if r.Unsubscribe != nil {
		b = append(protowire.AppendTag(b, 7, tBytes), 0)
	}
	if r.Publish != nil {
		b = append(protowire.AppendTag(b, 8, tBytes), 0)
	}
	if pr := r.Presence; pr != nil {
		b, pos = pbBegin(b, 9)
		var buf [sortBuf]string
		for _, k := range sortedKeys(pr.Presence, &buf) {
			ci := pr.Presence[k]
			if ci == nil {
				ci = &ClientInfo{}
			}
			n := sizeClientInfo(ci)
			b = protowire.AppendTag(b, 1, tBytes)
			b = protowire.AppendVarint(b, uint64(sizeLD(1, len(k))+sizeLD(2, n)))
			b = protowire.AppendTag(b, 1, tBytes)
			b = protowire.AppendString(b, k)
			b = appendPBClientInfoField(b, 2, ci)
		}
		b = pbEnd(b, pos)
	}
	if ps := r.PresenceStats; ps != nil {
		b, pos = pbBegin(b, 10)
		b = pbU64(b, 1, uint64(ps.NumClients))
		b = pbU64(b, 2, uint64(ps.NumUsers))
		b = pbEnd(b, pos)
	}
	if h := r.History; h != nil {
		b, pos = pbBegin(b, 11)
		for _, p := range h.Publications {
			b = appendPBPubField(b, 1, p)
		}
		b = pbStr(b, 2, h.Epoch)
		b = pbU64(b, 3, h.Offset)
		b = pbEnd(b, pos)
	}
	if r.RPC != nil {
		b, pos = pbBegin(b, 13)
		b = pbBytes(b, 1, r.RPC.Data)
		b = pbEnd(b, pos)
	}
	if rr := r.Refresh; rr != nil {
		b, pos = pbBegin(b, 14)
		b = pbStr(b, 1, rr.Client)
		b = pbStr(b, 2, rr.Version)
		b = pbBool(b, 3, rr.Expires)
		b = pbU64(b, 4, uint64(rr.TTL))
		b = pbEnd(b, pos)
	}
	if sr := r.SubRefresh; sr != nil {
		b, pos = pbBegin(b, 15)
		b = pbBool(b, 1, sr.Expires)
		b = pbU64(b, 2, uint64(sr.TTL))
		for _, p := range sr.Items {
			b = appendPBPubField(b, 3, p)
		}
		b = pbEnd(b, pos)
	}
	return b
}

// ---- client → server ----

func appendPBCommand(b []byte, c *Command) []byte {
	var pos int
	b = pbU64(b, 1, uint64(c.ID))
	if r := c.Connect; r != nil {
		b, pos = pbBegin(b, 4)
		b = pbStr(b, 1, r.Token)
		b = pbBytes(b, 2, r.Data)
		if len(r.Subs) > 0 {
			var buf [sortBuf]string
			for _, k := range sortedKeys(r.Subs, &buf) {
				var entry, val int
				b, entry = pbBegin(b, 3)
				b = protowire.AppendTag(b, 1, tBytes)
				b = protowire.AppendString(b, k)
				b, val = pbBegin(b, 2)
				b = appendPBSubscribeRequest(b, r.Subs[k], 0)
				b = pbEnd(b, val)
				b = pbEnd(b, entry)
			}
		}
		b = pbStr(b, 4, r.Name)
		b = pbStr(b, 5, r.Version)
		b = appendPBStrMap(b, 6, r.Headers)
		b = pbI64(b, 7, r.Flag)
		b = pbEnd(b, pos)
	}
	if c.Subscribe != nil {
		b, pos = pbBegin(b, 5)
		b = appendPBSubscribeRequest(b, c.Subscribe, 0)
		b = pbEnd(b, pos)
	}
	if c.Unsubscribe != nil {
		b = appendPBChannelOnly(b, 6, c.Unsubscribe.Channel)
	}
	if r := c.Publish; r != nil {
		b, pos = pbBegin(b, 7)
		b = pbStr(b, 1, r.Channel)
		b = pbBytes(b, 2, r.Data)
		b = pbI64(b, 3, int64(r.Type))
		b = pbStr(b, 4, r.Key)
		b = pbBool(b, 5, r.Removed)
		b = pbEnd(b, pos)
	}
	if c.Presence != nil {
		b = appendPBChannelOnly(b, 8, c.Presence.Channel)
	}
	if c.PresenceStats != nil {
		b = appendPBChannelOnly(b, 9, c.PresenceStats.Channel)
	}
	if r := c.History; r != nil {
		b, pos = pbBegin(b, 10)
		b = pbStr(b, 1, r.Channel)
		b = pbI64(b, 7, int64(r.Limit))
		if r.Since != nil {
			var sp int
			b, sp = pbBegin(b, 8)
			b = pbU64(b, 1, r.Since.Offset)
			b = pbStr(b, 2, r.Since.Epoch)
			b = pbEnd(b, sp)
		}
		b = pbBool(b, 9, r.Reverse)
		b = pbEnd(b, pos)
	}
	if c.Ping != nil {
		b = append(protowire.AppendTag(b, 11, tBytes), 0)
	}
	if c.Send != nil {
		b, pos = pbBegin(b, 12)
		b = pbBytes(b, 1, c.Send.Data)
		b = pbEnd(b, pos)
	}
	if c.RPC != nil {
		b, pos = pbBegin(b, 13)
		b = pbBytes(b, 1, c.RPC.Data)
		b = pbStr(b, 2, c.RPC.Method)
		b = pbEnd(b, pos)
	}
	if c.Refresh != nil {
		b, pos = pbBegin(b, 14)
		b = pbStr(b, 1, c.Refresh.Token)
		b = pbEnd(b, pos)
	}
	if r := c.SubRefresh; r != nil {
		b, pos = pbBegin(b, 15)
		b = pbStr(b, 1, r.Channel)
		b = pbStr(b, 2, r.Token)
		b = pbI64(b, 3, int64(r.Type))
		for _, tb := range r.Track {
			var tp int
			b, tp = pbBegin(b, 4)
			if tb != nil {
				b = pbStr(b, 1, tb.Signature)
				for _, it := range tb.Items {
					var ip int
					b, ip = pbBegin(b, 2)
					if it != nil {
						b = pbStr(b, 1, it.Key)
						b = pbU64(b, 2, it.Version)
					}
					b = pbEnd(b, ip)
				}
			}
			b = pbEnd(b, tp)
		}
		b = appendPBStrList(b, 5, r.Untrack)
		b = pbEnd(b, pos)
	}
	return b
}

func appendPBChannelOnly(b []byte, num protowire.Number, ch string) []byte {
	b = protowire.AppendTag(b, num, tBytes)
	b = protowire.AppendVarint(b, uint64(sizeStr(1, len(ch))))
	return pbStr(b, 1, ch)
}

func appendPBSubscribeRequest(b []byte, r *SubscribeRequest, depth int) []byte {
	if r == nil {
		return b
	}
	b = pbStr(b, 1, r.Channel)
	b = pbStr(b, 2, r.Token)
	b = pbBool(b, 3, r.Recover)
	b = pbStr(b, 6, r.Epoch)
	b = pbU64(b, 7, r.Offset)
	b = pbBytes(b, 8, r.Data)
	b = pbBool(b, 9, r.Positioned)
	b = pbBool(b, 10, r.Recoverable)
	b = pbBool(b, 11, r.JoinLeave)
	b = pbStr(b, 12, r.Delta)
	if r.Tf != nil {
		var pos int
		b, pos = pbBegin(b, 13)
		b = appendPBFilterNode(b, r.Tf, depth)
		b = pbEnd(b, pos)
	}
	b = pbI64(b, 14, r.Flag)
	b = pbI64(b, 15, int64(r.Type))
	b = pbI64(b, 16, int64(r.Phase))
	b = pbStr(b, 17, r.Cursor)
	b = pbI64(b, 18, int64(r.Limit))
	return pbBool(b, 19, r.Asc)
}

// appendPBFilterNode writes a FilterNode body; like the JSON writer it stops at
// maxDepth instead of recursing without bound.
func appendPBFilterNode(b []byte, n *FilterNode, depth int) []byte {
	if n == nil || depth >= maxDepth {
		return b
	}
	b = pbStr(b, 1, n.Op)
	b = pbStr(b, 2, n.Key)
	b = pbStr(b, 3, n.Cmp)
	b = pbStr(b, 4, n.Val)
	b = appendPBStrList(b, 5, n.Vals)
	for _, c := range n.Nodes {
		var pos int
		b, pos = pbBegin(b, 6)
		b = appendPBFilterNode(b, c, depth+1)
		b = pbEnd(b, pos)
	}
	return b
}
