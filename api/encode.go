package api

import (
	"encoding/json"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

// Response bodies are built by hand-written appenders into pooled buffers: the shapes
// are tiny and fixed, and encoding/json-compatible output matters (server-api.md §3).

// buffer is a pooled response buffer. One owner: the handler that takes it from
// bufPool puts it back after copying it into the fasthttp response.
type buffer struct{ b []byte }

var bufPool = sync.Pool{New: func() any { return &buffer{b: make([]byte, 0, 512)} }}

// maxPooledBuffer keeps one large broadcast response from pinning its buffer.
const maxPooledBuffer = 64 << 10

func getBuffer() *buffer { return bufPool.Get().(*buffer) }

func putBuffer(b *buffer) {
	if cap(b.b) > maxPooledBuffer {
		return
	}
	b.b = b.b[:0]
	bufPool.Put(b)
}

// appendPublishResult appends {"offset":N,"epoch":"E"} with both fields omitted when
// zero (so {} when the channel keeps no history).
func appendPublishResult(dst []byte, r engine.PublishResult) []byte {
	dst = append(dst, '{')
	if r.Offset != 0 {
		dst = append(dst, `"offset":`...)
		dst = strconv.AppendUint(dst, r.Offset, 10)
	}
	if r.Epoch != "" {
		if r.Offset != 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `"epoch":`...)
		dst = appendJSONString(dst, r.Epoch)
	}
	return append(dst, '}')
}

// appendError appends the bare error object {"code":N,"message":"..."}.
func appendError(dst []byte, code uint32, message string) []byte {
	dst = append(dst, `{"code":`...)
	dst = strconv.AppendUint(dst, uint64(code), 10)
	dst = append(dst, `,"message":`...)
	dst = appendJSONString(dst, message)
	return append(dst, '}')
}

// appendErrorResponse appends {"error":{"code":N,"message":"..."}}.
func appendErrorResponse(dst []byte, code uint32, message string) []byte {
	dst = append(dst, `{"error":`...)
	dst = appendError(dst, code, message)
	return append(dst, '}')
}

// appendNodeResult appends one NodeResult of the info method (server-api.md §4.11):
// every field always present except uptime (omitted when 0) and metrics (present when
// the node shares them, as Centrifugo nodes do); process is never filled.
func appendNodeResult(dst []byte, n engine.NodeInfo) []byte {
	dst = append(dst, `{"uid":`...)
	dst = appendJSONString(dst, n.UID)
	dst = append(dst, `,"name":`...)
	dst = appendJSONString(dst, n.Name)
	dst = append(dst, `,"version":`...)
	dst = appendJSONString(dst, n.Version)
	dst = append(dst, `,"num_clients":`...)
	dst = strconv.AppendUint(dst, uint64(n.NumClients), 10)
	dst = append(dst, `,"num_users":`...)
	dst = strconv.AppendUint(dst, uint64(n.NumUsers), 10)
	dst = append(dst, `,"num_channels":`...)
	dst = strconv.AppendUint(dst, uint64(n.NumChannels), 10)
	if n.Uptime != 0 {
		dst = append(dst, `,"uptime":`...)
		dst = strconv.AppendUint(dst, uint64(n.Uptime), 10)
	}
	if m := n.Metrics; m != nil {
		dst = appendNodeMetrics(append(dst, `,"metrics":`...), m)
	}
	dst = append(dst, `,"num_subs":`...)
	dst = strconv.AppendUint(dst, uint64(n.NumSubs), 10)
	return append(dst, '}')
}

// appendNodeMetrics appends {"interval":…,"items":{…}} as encoding/json writes
// Centrifugo's Metrics (both omitempty, item keys sorted).
func appendNodeMetrics(dst []byte, m *engine.NodeMetrics) []byte {
	dst = append(dst, '{')
	sep := false
	if m.Interval != 0 {
		dst = appendJSONFloat(append(dst, `"interval":`...), m.Interval)
		sep = true
	}
	if len(m.Items) > 0 {
		if sep {
			dst = append(dst, ',')
		}
		keys := make([]string, 0, len(m.Items))
		for k := range m.Items {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		dst = append(dst, `"items":{`...)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, k)
			dst = appendJSONFloat(append(dst, ':'), m.Items[k])
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// appendJSONFloat appends f as encoding/json writes a float64 (shortest form, 'e'
// notation below 1e-6 and from 1e21, two-digit negative exponents trimmed). NaN and
// infinities, which encoding/json refuses, are written as 0.
func appendJSONFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, '0')
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string exactly as encoding/json encodes it
// (HTML-safe: <, > and & escaped; U+2028 and U+2029 escaped; invalid UTF-8 replaced
// by U+FFFD), so responses match Centrifugo's byte for byte.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendPresenceStatsResult appends {"num_clients":N,"num_users":M}: both always
// present.
func appendPresenceStatsResult(dst []byte, s engine.PresenceStats) []byte {
	dst = append(dst, `{"num_clients":`...)
	dst = strconv.AppendUint(dst, uint64(s.NumClients), 10)
	dst = append(dst, `,"num_users":`...)
	dst = strconv.AppendUint(dst, uint64(s.NumUsers), 10)
	return append(dst, '}')
}

// appendPresenceResult appends {"presence":{"<client>":ClientInfo,…}} with the keys
// sorted, as encoding/json writes a map; "presence" is always present.
func appendPresenceResult(dst []byte, clients map[string]*codec.ClientInfo) ([]byte, error) {
	dst = append(dst, `{"presence":{`...)
	for i, k := range sortedKeys(clients) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		var err error
		if dst, err = appendClientInfo(dst, clients[k]); err != nil {
			return dst, err
		}
	}
	return append(dst, "}}"...), nil
}

// appendClientInfo appends the API ClientInfo {"user","client","conn_info",
// "chan_info"}: user and client always present, the raw infos omitted when empty.
// A nil info is null.
func appendClientInfo(dst []byte, ci *codec.ClientInfo) ([]byte, error) {
	if ci == nil {
		return append(dst, "null"...), nil
	}
	dst = append(dst, `{"user":`...)
	dst = appendJSONString(dst, ci.User)
	dst = append(dst, `,"client":`...)
	dst = appendJSONString(dst, ci.Client)
	var err error
	if len(ci.ConnInfo) > 0 {
		dst = append(dst, `,"conn_info":`...)
		if dst, err = appendRawJSON(dst, ci.ConnInfo); err != nil {
			return dst, err
		}
	}
	if len(ci.ChanInfo) > 0 {
		dst = append(dst, `,"chan_info":`...)
		if dst, err = appendRawJSON(dst, ci.ChanInfo); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// appendHistoryResult appends {"publications":[…],"epoch":"E","offset":N}: all
// three always present ([] when there are no publications).
func appendHistoryResult(dst []byte, res engine.HistoryResult) ([]byte, error) {
	dst = append(dst, `{"publications":[`...)
	for i, p := range res.Publications {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = appendPublication(dst, p); err != nil {
			return dst, err
		}
	}
	dst = append(dst, `],"epoch":`...)
	dst = appendJSONString(dst, res.Epoch)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendUint(dst, res.Offset, 10)
	return append(dst, '}'), nil
}

// appendPublication appends the API Publication: only data, info, offset and tags,
// each omitted when empty. A nil publication is null.
func appendPublication(dst []byte, p *codec.Publication) ([]byte, error) {
	if p == nil {
		return append(dst, "null"...), nil
	}
	dst = append(dst, '{')
	sep := false
	comma := func() {
		if sep {
			dst = append(dst, ',')
		}
		sep = true
	}
	var err error
	if len(p.Data) > 0 {
		comma()
		dst = append(dst, `"data":`...)
		if dst, err = appendRawJSON(dst, p.Data); err != nil {
			return dst, err
		}
	}
	if p.Info != nil {
		comma()
		dst = append(dst, `"info":`...)
		if dst, err = appendClientInfo(dst, p.Info); err != nil {
			return dst, err
		}
	}
	if p.Offset != 0 {
		comma()
		dst = append(dst, `"offset":`...)
		dst = strconv.AppendUint(dst, p.Offset, 10)
	}
	if len(p.Tags) > 0 {
		comma()
		dst = append(dst, `"tags":`...)
		dst = appendStringMap(dst, p.Tags)
	}
	return append(dst, '}'), nil
}

// appendStringMap appends m as a JSON object with sorted keys.
func appendStringMap(dst []byte, m map[string]string) []byte {
	dst = append(dst, '{')
	for i, k := range sortedKeys(m) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = appendJSONString(dst, m[k])
	}
	return append(dst, '}')
}

// appendChannelsResult appends {"channels":{"<name>":{"num_clients":N},…}} with
// sorted keys; "channels" is always present, num_clients is omitted when 0.
func appendChannelsResult(dst []byte, channels map[string]engine.ChannelInfo) []byte {
	dst = append(dst, `{"channels":{`...)
	for i, k := range sortedKeys(channels) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':', '{')
		if n := channels[k].NumClients; n != 0 {
			dst = append(dst, `"num_clients":`...)
			dst = strconv.AppendUint(dst, uint64(n), 10)
		}
		dst = append(dst, '}')
	}
	return append(dst, "}}"...)
}

// sortedKeys returns m's keys in the order encoding/json writes them.
func sortedKeys[V any](m map[string]V) []string {
	if len(m) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(m))
}

// appendRawJSON appends the raw JSON value raw as encoding/json embeds a
// json.Marshaler's output (Centrifugo's Raw type): compacted, with <, >, &, U+2028
// and U+2029 escaped inside strings. Invalid JSON (binary data published with
// b64data, say) is errRawJSON: Centrifugo's json.Marshal fails on it too.
func appendRawJSON(dst, raw []byte) ([]byte, error) {
	if !json.Valid(raw) {
		return dst, errRawJSON
	}
	inString := false
	start := 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if !inString {
			switch c {
			case ' ', '\t', '\n', '\r':
				dst = append(dst, raw[start:i]...)
				start = i + 1
			case '"':
				inString = true
			}
			continue
		}
		switch {
		case c == '\\':
			i++ // the escaped byte is ASCII in valid JSON: keep it as is
		case c == '"':
			inString = false
		case c == '<' || c == '>' || c == '&':
			dst = append(dst, raw[start:i]...)
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			start = i + 1
		case c == 0xE2 && i+2 < len(raw) && raw[i+1] == 0x80 && raw[i+2]&^1 == 0xA8:
			dst = append(dst, raw[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[raw[i+2]&0xF])
			i += 2
			start = i + 1
		}
	}
	return append(dst, raw[start:]...), nil
}
