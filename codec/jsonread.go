package codec

import (
	"unicode/utf16"
	"unicode/utf8"
)

// jsonReader is a pull scanner over one JSON message (one line of a frame). It
// validates as it goes and allocates nothing itself: strings the caller keeps are
// converted by the caller, decoded escapes go through a reused scratch buffer.
//
// Objects are read with beginObject / key / nextMember:
//
//	more, err := r.beginObject()
//	for more && err == nil {
//		k, err := r.key() // consumes the ':' too (check err)
//		... read or skip the value ...
//		more, err = r.nextMember()
//	}
type jsonReader struct {
	b       []byte
	i       int
	depth   int
	scratch []byte // decoded strings and keys; valid until the next string is read
}

func (r *jsonReader) reset(b []byte) {
	r.b = b
	r.i = 0
	r.depth = 0
}

func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		// Most calls find a token right away: one comparison settles it.
		if c := r.b[r.i]; c > ' ' || !isJSONSpace(c) {
			return
		}
		r.i++
	}
}

// strPlain[c] is true for the bytes a string scan steps over without a second look:
// everything but '"', '\\', control bytes and non-ASCII.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// skipPlain is strPlain for skipString, which lets non-ASCII bytes through too.
var skipPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// peek skips whitespace and returns the next byte, 0 at the end.
func (r *jsonReader) peek() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// end checks that only whitespace is left.
func (r *jsonReader) end() error {
	if r.ws(); r.i != len(r.b) {
		return errJSONTrailing
	}
	return nil
}

func (r *jsonReader) enter() error {
	r.depth++
	if r.depth > maxDepth {
		return errJSONDepth
	}
	return nil
}

// beginObject consumes '{' and reports whether a member follows.
func (r *jsonReader) beginObject() (bool, error) {
	if r.peek() != '{' {
		return false, errJSONType
	}
	r.i++
	if err := r.enter(); err != nil {
		return false, err
	}
	if r.peek() == '}' {
		r.i++
		r.depth--
		return false, nil
	}
	return true, nil
}

// nextMember consumes ',' (true: another member follows) or '}' (false).
func (r *jsonReader) nextMember() (bool, error) {
	switch r.peek() {
	case ',':
		r.i++
		return true, nil
	case '}':
		r.i++
		r.depth--
		return false, nil
	}
	return false, errJSONSyntax
}

// beginArray consumes '[' and reports whether an element follows.
func (r *jsonReader) beginArray() (bool, error) {
	if r.peek() != '[' {
		return false, errJSONType
	}
	r.i++
	if err := r.enter(); err != nil {
		return false, err
	}
	if r.peek() == ']' {
		r.i++
		r.depth--
		return false, nil
	}
	return true, nil
}

// nextElement consumes ',' (true) or ']' (false).
func (r *jsonReader) nextElement() (bool, error) {
	switch r.peek() {
	case ',':
		r.i++
		return true, nil
	case ']':
		r.i++
		r.depth--
		return false, nil
	}
	return false, errJSONSyntax
}

// null consumes a null literal if one is next.
func (r *jsonReader) null() bool {
	if r.peek() == 'n' && len(r.b)-r.i >= 4 && string(r.b[r.i:r.i+4]) == "null" {
		r.i += 4
		return true
	}
	return false
}

// key reads a member name and the ':' after it. Names are matched case-insensitively in
// ASCII, as encoding/json (which Centrifugo's decoder mimics) does, so the result is
// lower-cased when needed. It is valid until the next string is read.
func (r *jsonReader) key() ([]byte, error) {
	k, err := r.rawKey()
	if err != nil {
		return nil, err
	}
	for i, c := range k {
		if 'A' <= c && c <= 'Z' {
			// Copy into scratch (a no-op copy when k already lives there) so the
			// input frame, which raw fields alias, is never modified.
			r.scratch = append(r.scratch[:0], k...)
			k = r.scratch
			for j := i; j < len(k); j++ {
				if c := k[j]; 'A' <= c && c <= 'Z' {
					k[j] = c + ('a' - 'A')
				}
			}
			break
		}
	}
	return k, nil
}

// rawKey reads a member name as is (map keys) and the ':' after it.
func (r *jsonReader) rawKey() ([]byte, error) {
	if r.peek() != '"' {
		return nil, errJSONSyntax
	}
	k, err := r.readString()
	if err != nil {
		return nil, err
	}
	if r.peek() != ':' {
		return nil, errJSONSyntax
	}
	r.i++
	return k, nil
}

// readString reads the string at r.i (which must be '"') and returns its decoded
// bytes: a sub-slice of the input when it has no escapes and is valid UTF-8, else
// r.scratch. Like encoding/json, invalid UTF-8 and lone surrogates become U+FFFD;
// raw control bytes are an error.
func (r *jsonReader) readString() ([]byte, error) {
	r.i++ // '"'
	start := r.i
	for r.i < len(r.b) {
		for r.i < len(r.b) && strPlain[r.b[r.i]] {
			r.i++
		}
		if r.i == len(r.b) {
			break
		}
		c := r.b[r.i]
		switch {
		case c == '"':
			s := r.b[start:r.i]
			r.i++
			return s, nil
		case c == '\\':
			return r.readStringSlow(start)
		case c < 0x20:
			return nil, errJSONSyntax
		case c >= utf8.RuneSelf:
			ru, size := utf8.DecodeRune(r.b[r.i:])
			if ru == utf8.RuneError && size == 1 {
				return r.readStringSlow(start)
			}
			r.i += size
		default:
			r.i++
		}
	}
	return nil, errJSONSyntax
}

func (r *jsonReader) readStringSlow(start int) ([]byte, error) {
	s := append(r.scratch[:0], r.b[start:r.i]...)
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			r.scratch = s
			return s, nil
		case c == '\\':
			if r.i+1 >= len(r.b) {
				return nil, errJSONSyntax
			}
			e := r.b[r.i+1]
			r.i += 2
			switch e {
			case '"', '\\', '/':
				s = append(s, e)
			case 'b':
				s = append(s, '\b')
			case 'f':
				s = append(s, '\f')
			case 'n':
				s = append(s, '\n')
			case 'r':
				s = append(s, '\r')
			case 't':
				s = append(s, '\t')
			case 'u':
				ru, ok := r.hex4()
				if !ok {
					return nil, errJSONSyntax
				}
				if utf16.IsSurrogate(ru) {
					// A high surrogate pairs with a following \uDC00-\uDFFF escape;
					// anything else leaves it alone and it becomes U+FFFD.
					ru2 := utf8.RuneError
					if r.i+1 < len(r.b) && r.b[r.i] == '\\' && r.b[r.i+1] == 'u' {
						save := r.i
						r.i += 2
						lo, ok := r.hex4()
						if !ok {
							return nil, errJSONSyntax
						}
						if dec := utf16.DecodeRune(ru, lo); dec != utf8.RuneError {
							ru2 = dec
						} else {
							r.i = save // lo is decoded on its own next round
						}
					}
					ru = ru2
				}
				s = utf8.AppendRune(s, ru)
			default:
				return nil, errJSONSyntax
			}
		case c < 0x20:
			return nil, errJSONSyntax
		case c >= utf8.RuneSelf:
			ru, size := utf8.DecodeRune(r.b[r.i:])
			if ru == utf8.RuneError && size == 1 {
				s = append(s, "\uFFFD"...)
			} else {
				s = append(s, r.b[r.i:r.i+size]...)
			}
			r.i += size
		default:
			s = append(s, c)
			r.i++
		}
	}
	r.scratch = s
	return nil, errJSONSyntax
}

func (r *jsonReader) hex4() (rune, bool) {
	if len(r.b)-r.i < 4 {
		return 0, false
	}
	var v rune
	for _, c := range r.b[r.i : r.i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | rune(c)
	}
	r.i += 4
	return v, true
}

// str reads a string value (null → ""). The result is a fresh copy, never an alias of
// the input: the engine keeps channel names and tokens beyond the frame's life.
func (r *jsonReader) str() (string, error) {
	c := r.peek()
	if c != '"' {
		if r.null() {
			return "", nil
		}
		return "", errJSONType
	}
	b, err := r.readString()
	return string(b), err
}

func (r *jsonReader) boolean() (bool, error) {
	if r.peek() == 't' && len(r.b)-r.i >= 4 && string(r.b[r.i:r.i+4]) == "true" {
		r.i += 4
		return true, nil
	}
	if r.peek() == 'f' && len(r.b)-r.i >= 5 && string(r.b[r.i:r.i+5]) == "false" {
		r.i += 5
		return false, nil
	}
	if r.null() {
		return false, nil
	}
	return false, errJSONType
}

// digits parses an unsigned integer literal no greater than limit. Fractions and
// exponents are rejected, like encoding/json does for integer fields.
func (r *jsonReader) digits(limit uint64) (uint64, error) {
	start := r.i
	var v uint64
	for r.i < len(r.b) && isDigit(r.b[r.i]) {
		d := uint64(r.b[r.i] - '0')
		if v > (limit-d)/10 {
			return 0, errJSONNumber
		}
		v = v*10 + d
		r.i++
	}
	n := r.i - start
	if n == 0 || (n > 1 && r.b[start] == '0') {
		return 0, errJSONSyntax
	}
	if r.i < len(r.b) {
		if c := r.b[r.i]; c == '.' || c == 'e' || c == 'E' {
			return 0, errJSONNumber
		}
	}
	return v, nil
}

func (r *jsonReader) uint(limit uint64) (uint64, error) {
	c := r.peek()
	if !isDigit(c) {
		if r.null() {
			return 0, nil
		}
		if c == '-' {
			return 0, errJSONNumber
		}
		return 0, errJSONType
	}
	return r.digits(limit)
}

func (r *jsonReader) u32() (uint32, error) {
	v, err := r.uint(1<<32 - 1)
	return uint32(v), err
}

func (r *jsonReader) u64() (uint64, error) { return r.uint(1<<64 - 1) }

// int parses a signed integer within [-(limit+1), limit].
func (r *jsonReader) int(limit uint64) (int64, error) {
	c := r.peek()
	if c == '-' {
		r.i++
		v, err := r.digits(limit + 1)
		return -int64(v), err // -int64(1<<63) wraps to MinInt64, which is the intent
	}
	if !isDigit(c) {
		if r.null() {
			return 0, nil
		}
		return 0, errJSONType
	}
	v, err := r.digits(limit)
	return int64(v), err
}

func (r *jsonReader) i64() (int64, error) { return r.int(1<<63 - 1) }

func (r *jsonReader) i32() (int32, error) {
	v, err := r.int(1<<31 - 1)
	return int32(v), err
}

// raw returns the verbatim text of the next value (null included, as the text
// "null"), after validating it. It aliases the input; its capacity is cut so an append
// by the caller can never overwrite the rest of the frame. Unlike skipped values, a raw
// payload must be valid UTF-8: it is forwarded as is into other clients' text frames,
// where invalid UTF-8 would fail their WebSocket connection.
func (r *jsonReader) raw() ([]byte, error) {
	r.ws()
	start := r.i
	if err := r.skip(); err != nil {
		return nil, err
	}
	v := r.b[start:r.i:r.i]
	if !utf8.Valid(v) {
		return nil, errJSONSyntax
	}
	return v, nil
}

// skip validates the syntax of the next value and steps over it. Bytes of strings are
// not checked for UTF-8 validity here (see raw), as encoding/json does not check them.
func (r *jsonReader) skip() error {
	switch c := r.peek(); {
	case c == '{':
		more, err := r.beginObject()
		for more && err == nil {
			if r.peek() != '"' {
				return errJSONSyntax
			}
			if err = r.skipString(); err != nil {
				return err
			}
			if r.peek() != ':' {
				return errJSONSyntax
			}
			r.i++
			if err = r.skip(); err != nil {
				return err
			}
			more, err = r.nextMember()
		}
		return err
	case c == '[':
		more, err := r.beginArray()
		for more && err == nil {
			if err = r.skip(); err != nil {
				return err
			}
			more, err = r.nextElement()
		}
		return err
	case c == '"':
		return r.skipString()
	case c == 't':
		return r.literal("true")
	case c == 'f':
		return r.literal("false")
	case c == 'n':
		return r.literal("null")
	case c == '-' || isDigit(c):
		return r.skipNumber()
	}
	return errJSONSyntax
}

func (r *jsonReader) literal(lit string) error {
	if len(r.b)-r.i >= len(lit) && string(r.b[r.i:r.i+len(lit)]) == lit {
		r.i += len(lit)
		return nil
	}
	return errJSONSyntax
}

func (r *jsonReader) skipString() error {
	r.i++ // '"'
	for r.i < len(r.b) {
		for r.i < len(r.b) && skipPlain[r.b[r.i]] {
			r.i++
		}
		if r.i == len(r.b) {
			break
		}
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return nil
		case c == '\\':
			if r.i+1 >= len(r.b) {
				return errJSONSyntax
			}
			switch r.b[r.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				r.i += 2
			case 'u':
				r.i += 2
				if _, ok := r.hex4(); !ok {
					return errJSONSyntax
				}
			default:
				return errJSONSyntax
			}
		default: // a control byte
			return errJSONSyntax
		}
	}
	return errJSONSyntax
}

// skipNumber checks the JSON number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (r *jsonReader) skipNumber() error {
	if r.b[r.i] == '-' {
		r.i++
	}
	if r.i >= len(r.b) || !isDigit(r.b[r.i]) {
		return errJSONSyntax
	}
	if r.b[r.i] == '0' {
		r.i++
	} else {
		r.skipDigits()
	}
	if r.i < len(r.b) && r.b[r.i] == '.' {
		r.i++
		if r.skipDigits() == 0 {
			return errJSONSyntax
		}
	}
	if r.i < len(r.b) && (r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		r.i++
		if r.i < len(r.b) && (r.b[r.i] == '+' || r.b[r.i] == '-') {
			r.i++
		}
		if r.skipDigits() == 0 {
			return errJSONSyntax
		}
	}
	return nil
}

func (r *jsonReader) skipDigits() int {
	start := r.i
	for r.i < len(r.b) && isDigit(r.b[r.i]) {
		r.i++
	}
	return r.i - start
}

// ValidJSON reports whether b is exactly one valid JSON value (surrounding whitespace
// allowed) whose strings are valid UTF-8: the full check for payloads entering the
// server (client publish data, server API data), which the encoders then embed as is.
// It allocates nothing.
func ValidJSON(b []byte) bool {
	r := jsonReader{b: b}
	if r.skip() != nil || r.end() != nil {
		return false
	}
	return utf8.Valid(b)
}
