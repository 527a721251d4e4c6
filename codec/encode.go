package codec

import (
	"google.golang.org/protobuf/encoding/protowire"
	"unsafe"
)

// Every encoder appends exactly one self-contained message to dst and returns the
// extended slice, like the strconv.Append functions: JSON without any separator (the
// transport joins JSON messages with '\n' when it builds a frame), Protobuf with its
// varint length prefix. They never keep dst or any argument and may be called from any
// goroutine; they allocate only when dst must grow, except where noted.
//
// Raw payload fields (data, info, conn_info, chan_info, …) are embedded in JSON verbatim
// with every '\n' byte removed, so a bad payload can never break the framing of the
// messages around it; an empty raw field is omitted. In Protobuf they are opaque bytes.

// AppendReply appends r encoded in protocol p. In JSON it follows the omit/always rules
// of the spec; a nil or empty Reply is the ping {} (Protobuf 0x00). It fails only in JSON,
// with ErrInvalidJSON, when a raw field does not look like one JSON value (a cheap check
// of its first and last bytes, see ValidJSON for the full one); dst is then returned
// unchanged.
func AppendReply(p Protocol, dst []byte, r *Reply) ([]byte, error) {
	if r == nil {
		return AppendPing(p, dst), nil
	}
	if p == ProtocolProtobuf {
		b, pos := pbBegin(dst, 0)
		return pbEnd(appendPBReply(b, r), pos), nil
	}
	w := jsonWriter{b: dst}
	w.reply(r)
	if w.bad {
		return dst, ErrInvalidJSON
	}
	return w.b, nil
}

// AppendPush appends a bare Push, without the Reply wrapper, as unidirectional
// transports send it. A nil Push is written as the empty push {} (the uni ping).
// Errors as AppendReply.
func AppendPush(p Protocol, dst []byte, push *Push) ([]byte, error) {
	if push == nil {
		return AppendPing(p, dst), nil
	}
	if p == ProtocolProtobuf {
		b, pos := pbBegin(dst, 0)
		return pbEnd(appendPBPush(b, push), pos), nil
	}
	w := jsonWriter{b: dst}
	w.push(push)
	if w.bad {
		return dst, ErrInvalidJSON
	}
	return w.b, nil
}

// AppendCommand appends cmd as a client would send it (tests, the load tool). Errors as
// AppendReply.
func AppendCommand(p Protocol, dst []byte, cmd *Command) ([]byte, error) {
	if cmd == nil {
		return AppendPing(p, dst), nil
	}
	if p == ProtocolProtobuf {
		b, pos := pbBegin(dst, 0)
		return pbEnd(appendPBCommand(b, cmd), pos), nil
	}
	w := jsonWriter{b: dst}
	w.command(cmd)
	if w.bad {
		return dst, ErrInvalidJSON
	}
	return w.b, nil
}

// AppendPing appends the empty Reply, the server ping: JSON {} , Protobuf 0x00. The
// client's pong (an empty Command) and the unidirectional ping (an empty Push) are the
// same bytes.
func AppendPing(p Protocol, dst []byte) []byte {
	if p == ProtocolProtobuf {
		return append(dst, 0)
	}
	return append(dst, '{', '}')
}

// AppendErrorReply appends {"id":id,"error":{"code":…,"message":…,"temporary":true}}
// (zero fields omitted). 0 allocations.
func AppendErrorReply(p Protocol, dst []byte, id uint32, code uint32, message string, temporary bool) []byte {
	if p == ProtocolProtobuf {
		errSize := sizeU64(1, uint64(code)) + sizeStr(2, len(message)) + sizeBool(3, temporary)
		dst = protowire.AppendVarint(dst, uint64(sizeU64(1, uint64(id))+sizeLD(2, errSize)))
		dst = pbU64(dst, 1, uint64(id))
		return appendPBError(dst, 2, code, message, temporary)
	}
	w := jsonWriter{b: dst}
	start := w.open()
	w.u64(`,"id":`, uint64(id))
	w.key(`,"error":`)
	w.errorObj(code, message, temporary)
	w.close(start)
	return w.b
}

// AppendPublicationPush appends the hot publication push
// {"push":{"channel":ch,"pub":{…}}} (a Reply with only push set). 0 allocations for
// up to 16 tags (they are sorted on the stack), 1 above. It does not check raw fields:
// the engine validates payloads where they enter the server (ValidJSON), and newline
// removal still keeps a bad payload from breaking the frame. A nil pub is written as an
// empty publication.
func AppendPublicationPush(p Protocol, dst []byte, channel string, pub *Publication) []byte {
	return appendPublicationPush(p, dst, channel, pub, true)
}

// AppendBarePublicationPush is AppendPublicationPush without the Reply wrapper, for
// unidirectional transports: {"channel":ch,"pub":{…}}. Same allocation budget.
func AppendBarePublicationPush(p Protocol, dst []byte, channel string, pub *Publication) []byte {
	return appendPublicationPush(p, dst, channel, pub, false)
}

func appendPublicationPush(p Protocol, dst []byte, channel string, pub *Publication, wrap bool) []byte {
	if pub == nil {
		pub = &emptyPublication
	}
	if p == ProtocolProtobuf {
		var buf [sortBuf]strPair
		tags := sortedPairs(pub.Tags, &buf)
		pubSize := sizePublication(pub, tags)
		pushSize := sizeStr(2, len(channel)) + sizeLD(4, pubSize)
		dst = pbPushPrefix(dst, pushSize, wrap)
		dst = pbStr(dst, 2, channel)
		dst = protowire.AppendTag(dst, 4, tBytes)
		dst = protowire.AppendVarint(dst, uint64(pubSize))
		return appendPBPublication(dst, pub, tags)
	}
	w := jsonWriter{b: dst}
	outer := w.jsonPushPrefix(wrap)
	push := w.open()
	w.str(`,"channel":`, channel)
	w.key(`,"pub":`)
	w.publication(pub)
	w.close(push)
	w.jsonPushSuffix(outer, wrap)
	return w.b
}

// pbPushPrefix writes the frame length prefix and, when wrap, the Reply.push tag and
// length, for a Push body of pushSize bytes.
func pbPushPrefix(dst []byte, pushSize int, wrap bool) []byte {
	if !wrap {
		return protowire.AppendVarint(dst, uint64(pushSize))
	}
	dst = protowire.AppendVarint(dst, uint64(sizeLD(4, pushSize)))
	dst = protowire.AppendTag(dst, 4, tBytes)
	return protowire.AppendVarint(dst, uint64(pushSize))
}

func (w *jsonWriter) jsonPushPrefix(wrap bool) int {
	if !wrap {
		return 0
	}
	start := w.open()
	w.key(`,"push":`)
	return start
}

func (w *jsonWriter) jsonPushSuffix(start int, wrap bool) {
	if wrap {
		w.close(start)
	}
}

// AppendJoinPush appends {"push":{"channel":ch,"join":{"info":{…}}}}. 0 allocations.
// A nil info is written as an empty ClientInfo.
func AppendJoinPush(p Protocol, dst []byte, channel string, info *ClientInfo) []byte {
	return appendInfoPush(p, dst, channel, info, 5, `,"join":`, true)
}

// AppendLeavePush appends {"push":{"channel":ch,"leave":{"info":{…}}}}. 0 allocations.
func AppendLeavePush(p Protocol, dst []byte, channel string, info *ClientInfo) []byte {
	return appendInfoPush(p, dst, channel, info, 6, `,"leave":`, true)
}

// AppendBareJoinPush is AppendJoinPush without the Reply wrapper (unidirectional).
func AppendBareJoinPush(p Protocol, dst []byte, channel string, info *ClientInfo) []byte {
	return appendInfoPush(p, dst, channel, info, 5, `,"join":`, false)
}

// AppendBareLeavePush is AppendLeavePush without the Reply wrapper (unidirectional).
func AppendBareLeavePush(p Protocol, dst []byte, channel string, info *ClientInfo) []byte {
	return appendInfoPush(p, dst, channel, info, 6, `,"leave":`, false)
}

var emptyClientInfo ClientInfo

func appendInfoPush(p Protocol, dst []byte, channel string, info *ClientInfo, num protowire.Number, key string, wrap bool) []byte {
	if info == nil {
		info = &emptyClientInfo
	}
	if p == ProtocolProtobuf {
		pushSize := sizeStr(2, len(channel)) + sizeLD(num, sizeLD(1, sizeClientInfo(info)))
		dst = pbPushPrefix(dst, pushSize, wrap)
		dst = pbStr(dst, 2, channel)
		return appendPBInfoWrapper(dst, num, info)
	}
	w := jsonWriter{b: dst}
	outer := w.jsonPushPrefix(wrap)
	push := w.open()
	w.str(`,"channel":`, channel)
	w.key(key)
	w.infoWrapper(info)
	w.close(push)
	w.jsonPushSuffix(outer, wrap)
	return w.b
}

// AppendUnsubscribePush appends
// {"push":{"channel":ch,"unsubscribe":{"code":code,"reason":reason}}}. 0 allocations.
func AppendUnsubscribePush(p Protocol, dst []byte, channel string, code uint32, reason string) []byte {
	return appendUnsubscribePush(p, dst, channel, code, reason, true)
}

// AppendBareUnsubscribePush is AppendUnsubscribePush without the Reply wrapper.
func AppendBareUnsubscribePush(p Protocol, dst []byte, channel string, code uint32, reason string) []byte {
	return appendUnsubscribePush(p, dst, channel, code, reason, false)
}

func appendUnsubscribePush(p Protocol, dst []byte, channel string, code uint32, reason string, wrap bool) []byte {
	if p == ProtocolProtobuf {
		pushSize := sizeStr(2, len(channel)) + sizeLD(7, sizeU64(2, uint64(code))+sizeStr(3, len(reason)))
		dst = pbPushPrefix(dst, pushSize, wrap)
		dst = pbStr(dst, 2, channel)
		return appendPBUnsubscribe(dst, 7, code, reason)
	}
	w := jsonWriter{b: dst}
	outer := w.jsonPushPrefix(wrap)
	push := w.open()
	w.str(`,"channel":`, channel)
	w.key(`,"unsubscribe":`)
	w.unsubscribe(code, reason)
	w.close(push)
	w.jsonPushSuffix(outer, wrap)
	return w.b
}

// AppendEmulationRequest appends the body of a POST to /emulation (tests, the load
// tool). In JSON, req.Data (the command text) is written as a JSON string, as
// centrifuge-js does; the result has no length prefix in either protocol, since it is a
// whole HTTP body rather than a message of a stream.
func AppendEmulationRequest(p Protocol, dst []byte, req *EmulationRequest) []byte {
	if p == ProtocolProtobuf {
		dst = pbStr(dst, 1, req.Node)
		dst = pbStr(dst, 2, req.Session)
		return pbBytes(dst, 3, req.Data)
	}
	w := jsonWriter{b: dst}
	start := w.open()
	w.str(`,"node":`, req.Node)
	w.str(`,"session":`, req.Session)
	if len(req.Data) > 0 {
		w.strAlways(`,"data":`, string(req.Data))
	}
	w.close(start)
	return w.b
}

// AppendJSONStringBytes appends b as a JSON string literal. Delta-enabled
// subscriptions on the JSON protocol carry publication data (full or patch) this way
// (client-protocol.md §10). b is only read.
func AppendJSONStringBytes(dst, b []byte) []byte {
	return appendJSONString(dst, unsafe.String(unsafe.SliceData(b), len(b)))
}
