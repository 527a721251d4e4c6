package api

import (
	"time"

	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/bytedance/sonic"
	"github.com/valyala/fasthttp"

	"github.com/rotorhq/rotor/engine"
)

// The legacy endpoint POST /api (server-api.md §4.14), which gocent v3 and older
// SDKs use: a body of JSON commands {"id","method","params"} separated by optional
// white space, answered with one reply per command, newline-separated, in order.
// Centrifugo decodes the body with a json.Decoder and runs each command as soon as
// it is decoded, so a malformed command after valid ones makes the response a 400
// after the earlier commands already ran; Rotor does the same.

// legacyMethod is the legacy command's method: Centrifugo's Command_MethodType.
type legacyMethod int32

// legacyMethodNames are the upper-case method names with their legacy numbers;
// numbers outside this table (13, and PRO methods) are valid but not found.
var legacyMethodNames = map[string]legacyMethod{
	"PUBLISH": 0, "BROADCAST": 1, "UNSUBSCRIBE": 2, "DISCONNECT": 3, "PRESENCE": 4,
	"PRESENCE_STATS": 5, "HISTORY": 6, "HISTORY_REMOVE": 7, "CHANNELS": 8, "INFO": 9,
	"RPC": 10, "SUBSCRIBE": 11, "REFRESH": 12, "CONNECTIONS": 14,
	"UPDATE_USER_STATUS": 15, "GET_USER_STATUS": 16, "DELETE_USER_STATUS": 17,
	"BLOCK_USER": 18, "UNBLOCK_USER": 19, "REVOKE_TOKEN": 20, "INVALIDATE_USER_TOKENS": 21,
	"DEVICE_REGISTER": 22, "DEVICE_UPDATE": 23, "DEVICE_REMOVE": 24, "DEVICE_LIST": 25,
	"DEVICE_TOPIC_LIST": 26, "DEVICE_TOPIC_UPDATE": 27, "USER_TOPIC_LIST": 28,
	"USER_TOPIC_UPDATE": 29, "SEND_PUSH_NOTIFICATION": 30, "UPDATE_PUSH_STATUS": 31,
	"CANCEL_PUSH": 32, "MAP_PUBLISH": 33, "MAP_REMOVE": 34, "MAP_READ_STATE": 35,
	"MAP_READ_STREAM": 36, "MAP_STATS": 37, "MAP_CLEAR": 38, "SHARED_POLL_PUBLISH": 39,
}

// legacyMethods maps the legacy numbers Rotor serves to methods.
var legacyMethods = map[legacyMethod]method{
	0: methodPublish, 1: methodBroadcast, 2: methodUnsubscribe, 3: methodDisconnect,
	4: methodPresence, 5: methodPresenceStats, 6: methodHistory, 7: methodHistoryRemove,
	8: methodChannels, 9: methodInfo, 10: methodRPC, 11: methodSubscribe, 12: methodRefresh,
}

// maxLegacyName is the longest name in legacyMethodNames.
const maxLegacyName = len("INVALIDATE_USER_TOKENS")

// UnmarshalJSON decodes the method exactly as Centrifugo's CommandMethodType does:
// when the raw value is longer than two bytes, the bytes between its first and last
// (the contents of a string, unescaped escapes included) are upper-cased and looked
// up by name; otherwise, or when that fails, the raw value must parse with
// strconv.Atoi (a JSON number; the result is truncated to int32). Anything else,
// including null, true and an unknown name, is an error: the body is undecodable.
// sonic calls it for every occurrence of the key, null included, as encoding/json
// does.
func (m *legacyMethod) UnmarshalJSON(data []byte) error {
	if len(data) > 2 {
		if v, ok := lookupLegacyMethod(data[1 : len(data)-1]); ok {
			*m = v
			return nil
		}
	}
	val, err := strconv.Atoi(bodyString(data))
	if err != nil {
		return errLegacyMethod
	}
	*m = legacyMethod(int32(val))
	return nil
}

var errLegacyMethod = errors.New("api: unknown legacy command method")

// lookupLegacyMethod finds strings.ToUpper(name) in legacyMethodNames, without
// allocating for ASCII names.
func lookupLegacyMethod(name []byte) (legacyMethod, bool) {
	var buf [maxLegacyName]byte
	if len(name) <= len(buf) {
		ascii := true
		for i, c := range name {
			if c >= 0x80 {
				ascii = false
				break
			}
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			buf[i] = c
		}
		if ascii {
			v, ok := legacyMethodNames[string(buf[:len(name)])]
			return v, ok
		}
	}
	// Non-ASCII: Unicode upper-casing can map a longer byte sequence onto an ASCII
	// name (ſ → S, ı → I), so take the general path.
	v, ok := legacyMethodNames[strings.ToUpper(string(name))]
	return v, ok
}

// legacyCommand is one command of the legacy body.
type legacyCommand struct {
	ID     uint32                 `json:"id"`
	Method legacyMethod           `json:"method"`
	Params sonic.NoCopyRawMessage `json:"params"`
}

// errLegacySyntax reports a legacy body that is not a sequence of JSON objects or
// nulls (arrays, strings, numbers and booleans cannot decode into a command).
var errLegacySyntax = errors.New("api: legacy body is not a sequence of JSON commands")

// legacyDecoder splits a legacy body into commands as encoding/json's Decoder reads
// it. It keeps no state beyond the read position.
type legacyDecoder struct {
	body []byte
	pos  int
}

// next decodes the next command into cmd (reset first). It returns io.EOF when only
// white space is left, and another error when the body is undecodable from here on.
// cmd.Params aliases the body.
func (d *legacyDecoder) next(cmd *legacyCommand) error {
	*cmd = legacyCommand{}
	b := d.body
	i := d.pos
	for i < len(b) && isJSONSpace(b[i]) {
		i++
	}
	if i == len(b) {
		d.pos = i
		return io.EOF
	}
	var end int
	switch b[i] {
	case '{':
		end = jsonCompositeEnd(b, i)
		if end < 0 {
			d.pos = len(b)
			return errLegacySyntax
		}
	case 'n': // null decodes into a zero command: publish without params
		if len(b)-i < 4 || string(b[i:i+4]) != "null" {
			d.pos = len(b)
			return errLegacySyntax
		}
		d.pos = i + 4
		return nil
	default:
		d.pos = len(b)
		return errLegacySyntax
	}
	d.pos = end
	return decodeJSON(b[i:end], cmd)
}

// isJSONSpace reports the white space encoding/json skips between values.
func isJSONSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// jsonCompositeEnd returns the index just past the object or array that starts at
// b[start], found by bracket depth outside strings, or -1 when b ends first. For
// valid JSON that is exactly the value's end; for invalid JSON the span it returns
// fails to decode, as encoding/json would fail on it.
func jsonCompositeEnd(b []byte, start int) int {
	depth := 0
	inString := false
	for i := start; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}

// legacy serves POST /api. Errors of single commands go into their replies (the
// error mode does not apply); the response is 503 (empty) while the Node shuts
// down, 400 when the body is empty or stops decoding, 500 when a reply cannot be
// encoded.
func (h *Handler) legacy(ctx *fasthttp.RequestCtx) {
	if h.shutdown != nil && h.shutdown.ShuttingDown() {
		emptyStatus(ctx, fasthttp.StatusServiceUnavailable)
		return
	}
	body := ctx.PostBody()
	if len(body) == 0 {
		badRequest(ctx)
		return
	}
	b := getBuffer()
	defer putBuffer(b)
	d := legacyDecoder{body: body}
	var cmd legacyCommand
	for n := 0; ; n++ {
		err := d.next(&cmd)
		if err == io.EOF {
			break
		}
		if err != nil {
			badRequest(ctx)
			return
		}
		if n > 0 {
			b.b = append(b.b, '\n')
		}
		if b.b, err = h.appendLegacyReply(b.b, &cmd); err != nil {
			h.log.Error("api: encoding legacy reply", "error", err)
			internalServerError(ctx)
			return
		}
	}
	writeJSON(ctx, b.b)
}

// appendLegacyReply runs one legacy command and appends its reply
// {"id":N,"error":{…}} or {"id":N,"result":{…}} (id omitted when 0).
func (h *Handler) appendLegacyReply(dst []byte, c *legacyCommand) ([]byte, error) {
	dst = append(dst, '{')
	if c.ID != 0 {
		dst = append(dst, `"id":`...)
		dst = strconv.AppendUint(dst, uint64(c.ID), 10)
		dst = append(dst, ',')
	}
	out, apiErr, err := h.runLegacy(dst, c)
	if err != nil {
		return out, err
	}
	if apiErr != nil {
		out = append(out, `"error":`...)
		out = appendError(out, apiErr.Code, apiErr.Message)
	}
	return append(out, '}'), nil
}

// runLegacy decodes the command's params and runs it, appending "result":{…} to dst
// on success. On a client-visible error it returns dst's contents unchanged and
// apiErr; err is errRawJSON when the result cannot be encoded.
func (h *Handler) runLegacy(dst []byte, c *legacyCommand) (out []byte, apiErr *engine.Error, err error) {
	m, ok := legacyMethods[c.Method]
	if !ok {
		return dst, errNotFound, nil
	}
	cmd := newCommand(m)
	if m != methodInfo { // info ignores its params, even malformed or missing ones
		if err := decodeCommand(c.Params, cmd); err != nil {
			return dst, engine.ErrorBadRequest, nil
		}
	}
	mark := len(dst)
	started := time.Now()
	out, apiErr, err = cmd.run(h, append(dst, `"result":`...))
	h.m.observe(m, started)
	if apiErr != nil {
		h.m.countError(m, apiErr.Code)
		return out[:mark], apiErr, nil
	}
	return out, nil, err
}
