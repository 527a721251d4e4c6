package api

import (
	"bytes"
	"encoding/base64"
	"errors"
	"sync"
	"unsafe"

	"github.com/bytedance/sonic"
	"github.com/bytedance/sonic/decoder"
)

// decodeOptions configure sonic for request bodies. CopyString: every decoded string
// (channel, tags, idempotency key) is copied out of the request body, because the
// engine may keep them (history, dedupe windows) after the handler returns and
// fasthttp reuses the body buffer. Raw payloads (data, b64data) are NOT copied: they
// alias the body, and Node.Publish is documented to copy what it keeps.
// ValidateString rejects raw control characters inside strings, as encoding/json (and
// so Centrifugo) does.
const decodeOptions = decoder.OptionCopyString | decoder.OptionValidateString

// decoderPool holds sonic decoders: sonic.Unmarshal allocates one per call. One
// owner: decodeJSON takes and returns it.
var decoderPool = sync.Pool{New: func() any { return new(decoder.Decoder) }}

// decodeJSON decodes the whole of body (one JSON value plus white space) into v,
// which must be a pointer. It keeps no reference to body.
func decodeJSON(body []byte, v any) error {
	dec := decoderPool.Get().(*decoder.Decoder)
	dec.Reset(bodyString(body))
	dec.SetOptions(decodeOptions)
	err := dec.Decode(v)
	if err == nil {
		err = dec.CheckTrailings()
	}
	dec.Reset("")
	decoderPool.Put(dec)
	return err
}

// errB64Type is returned when b64data is present but not a JSON string or null
// (encoding/json would fail to decode it into a string: the body is undecodable).
var errB64Type = errors.New("api: b64data is not a JSON string")

// publishFields are the fields publish and broadcast share (server-api.md §4.1, §4.2).
type publishFields struct {
	// Data is the raw JSON of "data", embedded as-is; it aliases the request body.
	Data sonic.NoCopyRawMessage `json:"data"`
	// B64Data is the raw JSON of "b64data" (a JSON string or null), kept raw so that a
	// large payload is not copied into a Go string before base64 decoding.
	B64Data        sonic.NoCopyRawMessage `json:"b64data"`
	SkipHistory    bool                   `json:"skip_history"`
	Tags           map[string]string      `json:"tags"`
	IdempotencyKey string                 `json:"idempotency_key"`
	Delta          bool                   `json:"delta"`
	// Version and VersionEpoch are decoded for type checking (a wrong type is a 400,
	// as in Centrifugo) but the engine does not support versioned publications yet.
	Version      uint64 `json:"version"`
	VersionEpoch string `json:"version_epoch"`
}

// publishRequest is the body of /api/publish.
type publishRequest struct {
	Channel string `json:"channel"`
	publishFields
}

// broadcastRequest is the body of /api/broadcast.
type broadcastRequest struct {
	Channels []string `json:"channels"`
	publishFields
}

// bodyString views the request body as a string without copying.
// Invariant: the result is used only while body is unchanged, i.e. during the
// handler call; decodeJSON copies every string it keeps (decodeOptions).
func bodyString(body []byte) string {
	if len(body) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(body), len(body))
}

// publishScratch is the pooled per-request state of publish: the decoded request and
// the buffer b64data is decoded into. One owner: the handler that took it from
// publishPool puts it back before returning.
type publishScratch struct {
	req publishRequest
	b64 []byte
}

var publishPool = sync.Pool{New: func() any { return new(publishScratch) }}

// decode resets s and decodes body into s.req.
func (s *publishScratch) decode(body []byte) error {
	s.req = publishRequest{}
	return decodeJSON(body, &s.req)
}

// broadcastScratch is the pooled per-request state of broadcast; same ownership rule
// as publishScratch.
type broadcastScratch struct {
	req      broadcastRequest
	b64      []byte
	outcomes []publishOutcome
}

var broadcastPool = sync.Pool{New: func() any { return new(broadcastScratch) }}

// maxPooledChannels bounds the slices a pooled broadcastScratch keeps, so one huge
// broadcast does not pin its memory forever.
const maxPooledChannels = 4096

// decode resets s (keeping slice capacity) and decodes body into s.req.
func (s *broadcastScratch) decode(body []byte) error {
	chs := s.req.Channels
	clear(chs[:cap(chs)]) // drop references to the previous request's strings
	if cap(chs) > maxPooledChannels {
		chs = nil
	}
	s.req = broadcastRequest{Channels: chs[:0]}
	return decodeJSON(body, &s.req)
}

// release clears what s references before it goes back to the pool.
func (s *broadcastScratch) release() {
	clear(s.outcomes)
	if cap(s.outcomes) > maxPooledChannels {
		s.outcomes = nil
	}
	s.outcomes = s.outcomes[:0]
	s.req.Tags = nil
	s.req.Data, s.req.B64Data = nil, nil
}

// check reports the decoding error encoding/json would raise for b64data: it must
// be a JSON string or null.
func (f *publishFields) check() error {
	_, err := rawJSONString(f.B64Data)
	return err
}

// payload returns the publication payload of f: the base64-decoded b64data when it is
// a non-empty string (it takes precedence over data), else the raw data. scratch is
// reused for the decoded bytes and returned grown. ok is false when b64data is not
// valid standard base64 (error 107). err is non-nil when b64data is not a JSON string
// or null: the body does not decode as the request (HTTP 400).
func (f *publishFields) payload(scratch []byte) (data, newScratch []byte, ok bool, err error) {
	b64, err := rawJSONString(f.B64Data)
	if err != nil {
		return nil, scratch, false, err
	}
	if len(b64) == 0 {
		return f.Data, scratch, true, nil
	}
	scratch, decErr := base64.StdEncoding.AppendDecode(scratch[:0], b64)
	if decErr != nil {
		return nil, scratch, false, nil
	}
	return scratch, scratch, true, nil
}

// rawJSONString returns the contents of the raw JSON string raw, unescaping only when
// raw holds escapes. Absent (nil) and null yield nil, as decoding into a Go string
// would leave it empty.
func rawJSONString(raw []byte) ([]byte, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, errB64Type
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner, nil // sonic already validated the string
	}
	var s string
	if err := decodeJSON(raw, &s); err != nil {
		return nil, err
	}
	return unsafe.Slice(unsafe.StringData(s), len(s)), nil
}
