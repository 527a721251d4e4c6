package redis

import (
	"errors"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/rotorhq/rotor/codec"
)

// The payloads a node finds on P.client.CH (history-recovery.md §5.4), as the
// Centrifugo/centrifuge Lua scripts and PUBLISH calls write them:
//
//	__p1:<offset>:<epoch>__<Publication>                              with history
//	__d1:<offset>:<epoch>:<len(prev)>:<prev>:<len(pub)>:<pub>         with history, delta
//	<Publication>                                                     no history
//	__j__<ClientInfo>                                                 join
//	__l__<ClientInfo>                                                 leave
//
// A Protobuf Publication never begins with '_' (0x5f would be field 11 with wire
// type 7, which does not exist), so the "__" prefix is unambiguous.

type envelopeKind uint8

const (
	envPublication envelopeKind = iota
	envJoin
	envLeave
)

// envelope is one parsed Pub/Sub payload. Its strings are views of the message
// (no copies).
type envelope struct {
	kind    envelopeKind
	payload string // Protobuf Publication or ClientInfo
	prev    string // previous Publication of a __d1 envelope (may be empty)
	offset  uint64
	epoch   string
	delta   bool // a __d1 envelope
}

var errEnvelope = errors.New("redis: malformed pub/sub payload")

// parseEnvelope splits msg into e. It accepts what Centrifugo writes and refuses
// (instead of panicking on) truncated or inconsistent headers.
func parseEnvelope(msg string, e *envelope) error {
	*e = envelope{}
	if len(msg) < 2 || msg[0] != '_' || msg[1] != '_' {
		e.payload = msg
		return nil
	}
	rest := msg[2:]
	if rest == "" {
		return errEnvelope
	}
	switch rest[0] {
	case 'j', 'l':
		// centrifuge reads up to the next "__"; it only ever writes "__j__"/"__l__".
		i := indexDoubleUnderscore(rest)
		if i <= 0 {
			return errEnvelope
		}
		if rest[0] == 'j' {
			e.kind = envJoin
		} else {
			e.kind = envLeave
		}
		e.payload = rest[i+2:]
		return nil
	case 'p':
		i := indexDoubleUnderscore(rest)
		if i <= 0 {
			return errEnvelope
		}
		header := rest[:i]
		if len(header) < 3 || header[:3] != "p1:" {
			return errEnvelope
		}
		header = header[3:]
		c := indexByte(header, ':')
		if c <= 0 {
			return errEnvelope
		}
		off, ok := parseUint(header[:c])
		if !ok {
			return errEnvelope
		}
		e.offset = off
		e.epoch = header[c+1:]
		e.payload = rest[i+2:]
		return nil
	case 'd':
		return parseDelta(rest, e)
	}
	return errEnvelope
}

// parseDelta parses "d1:<offset>:<epoch>:<n>:<prev>:<m>:<pub>" (bytes after "__").
func parseDelta(s string, e *envelope) error {
	if len(s) < 3 || s[:3] != "d1:" {
		return errEnvelope
	}
	s = s[3:]
	c := indexByte(s, ':')
	if c <= 0 {
		return errEnvelope
	}
	off, ok := parseUint(s[:c])
	if !ok {
		return errEnvelope
	}
	s = s[c+1:]
	c = indexByte(s, ':')
	if c < 0 {
		return errEnvelope
	}
	epoch := s[:c]
	s = s[c+1:]
	prev, s, ok := lengthPrefixed(s)
	if !ok || s == "" || s[0] != ':' {
		return errEnvelope
	}
	pub, _, ok := lengthPrefixed(s[1:])
	if !ok {
		return errEnvelope
	}
	// centrifuge ignores bytes after <pub>; so do we.
	e.kind = envPublication
	e.offset = off
	e.epoch = epoch
	e.prev = prev
	e.payload = pub
	e.delta = true
	return nil
}

// lengthPrefixed reads "<n>:<n bytes>" and returns the bytes and what follows.
func lengthPrefixed(s string) (string, string, bool) {
	c := indexByte(s, ':')
	if c <= 0 {
		return "", "", false
	}
	n, ok := parseUint(s[:c])
	s = s[c+1:]
	if !ok || n > uint64(len(s)) {
		return "", "", false
	}
	return s[:n], s[n:], true
}

func indexByte(s string, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return i
		}
	}
	return -1
}

func indexDoubleUnderscore(s string) int {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '_' && s[i+1] == '_' {
			return i
		}
	}
	return -1
}

// parseUint parses a decimal uint64 (digits only, no sign, no overflow).
func parseUint(s string) (uint64, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			return 0, false
		}
		n := v*10 + uint64(d)
		if n/10 != v {
			return 0, false
		}
		v = n
	}
	return v, true
}

// decoded holds one worker's reusable decode targets. Strings and byte slices
// in them are views of the Pub/Sub message, valid until the next decode; the
// engine's handler must not keep them after it returns.
type decoded struct {
	pub      codec.Publication
	info     codec.ClientInfo
	prev     codec.Publication
	prevInfo codec.ClientInfo
	tags     map[string]string
	prevTags map[string]string
}

var errProto = errors.New("redis: malformed protobuf in pub/sub payload")

// decodePublication decodes a Protobuf Publication (client protocol) from b into
// p, reusing info and *tags.
func decodePublication(b string, p *codec.Publication, info *codec.ClientInfo, tags *map[string]string) error {
	*p = codec.Publication{}
	if *tags != nil {
		clear(*tags)
	}
	buf := viewBytes(b)
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		if n < 0 {
			return errProto
		}
		buf = buf[n:]
		var v uint64
		var bs []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(buf)
		case protowire.BytesType:
			bs, n = protowire.ConsumeBytes(buf)
		default:
			n = protowire.ConsumeFieldValue(num, typ, buf)
			if n < 0 {
				return errProto
			}
			buf = buf[n:]
			continue
		}
		if n < 0 {
			return errProto
		}
		buf = buf[n:]
		switch {
		case typ == protowire.BytesType && num == 4:
			p.Data = nonEmpty(bs)
		case typ == protowire.BytesType && num == 5:
			if err := decodeClientInfo(viewString(bs), info); err != nil {
				return err
			}
			p.Info = info
		case typ == protowire.VarintType && num == 6:
			p.Offset = v
		case typ == protowire.BytesType && num == 7:
			if *tags == nil {
				*tags = make(map[string]string)
			}
			k, val, err := decodeMapEntry(bs)
			if err != nil {
				return err
			}
			(*tags)[k] = val
			p.Tags = *tags
		case typ == protowire.VarintType && num == 8:
			p.Delta = v != 0
		case typ == protowire.VarintType && num == 9:
			p.Time = int64(v)
		case typ == protowire.BytesType && num == 10:
			p.Channel = viewString(bs)
		case typ == protowire.BytesType && num == 11:
			p.Key = viewString(bs)
		case typ == protowire.VarintType && num == 12:
			p.Removed = v != 0
		case typ == protowire.VarintType && num == 13:
			p.Score = protowire.DecodeZigZag(v)
		case typ == protowire.BytesType && num == 14:
			p.Epoch = viewString(bs)
		case typ == protowire.BytesType && num == 15:
			p.PrevData = nonEmpty(bs)
		case typ == protowire.VarintType && num == 16:
			p.Version = v
		}
	}
	return nil
}

func decodeMapEntry(b []byte) (string, string, error) {
	var k, v string
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", "", errProto
		}
		b = b[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return "", "", errProto
			}
			b = b[n:]
			continue
		}
		bs, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return "", "", errProto
		}
		b = b[n:]
		switch num {
		case 1:
			k = viewString(bs)
		case 2:
			v = viewString(bs)
		}
	}
	return k, v, nil
}

// decodeClientInfo decodes a Protobuf ClientInfo (user 1, client 2, conn_info 3,
// chan_info 4).
func decodeClientInfo(s string, ci *codec.ClientInfo) error {
	*ci = codec.ClientInfo{}
	b := viewBytes(s)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errProto
		}
		b = b[n:]
		if typ != protowire.BytesType || num < 1 || num > 4 {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return errProto
			}
			b = b[n:]
			continue
		}
		bs, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return errProto
		}
		b = b[n:]
		switch num {
		case 1:
			ci.User = viewString(bs)
		case 2:
			ci.Client = viewString(bs)
		case 3:
			ci.ConnInfo = nonEmpty(bs)
		case 4:
			ci.ChanInfo = nonEmpty(bs)
		}
	}
	return nil
}

func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b[:len(b):len(b)]
}

// viewBytes returns the bytes of s without copying; they must not be written.
func viewBytes(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// viewString returns b as a string without copying; b must not change afterwards.
func viewString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
