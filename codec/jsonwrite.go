package codec

import (
	"bytes"
	"slices"
	"strconv"
	"unicode/utf8"
)

// This file holds the JSON building blocks: string escaping, raw payload embedding and a
// small writer that handles commas. Every object is written field by field with a
// leading ',' ("…,\"name\":value"); close() then turns the first comma into '{' so no
// "first field" bookkeeping is needed and an object with no field becomes "{}".

const hexDigits = "0123456789abcdef"

// jsonSafe[c] reports whether ASCII byte c goes into a JSON string unescaped.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString appends s as a JSON string. Quotes, backslashes and control bytes are
// escaped (\n, \r, \t, \b, \f in short form, the rest as \u00XX); invalid UTF-8 bytes
// become \ufffd, like encoding/json, so a text WebSocket frame always stays valid
// UTF-8. U+2028 and U+2029 are escaped because JavaScript engines before ES2019 treat
// them as line terminators. No HTML escaping is done: JSON is never embedded in HTML here.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
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
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendRaw embeds a raw JSON payload with every '\n' byte removed: '\n' separates the
// messages of a frame, and in valid JSON a raw newline can only be insignificant
// whitespace, so dropping it never changes the value.
func appendRaw(dst, raw []byte) []byte {
	for {
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			return append(dst, raw...)
		}
		dst = append(dst, raw[:i]...)
		raw = raw[i+1:]
	}
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// rawEmbeddable is the cheap check done on encode: ignoring surrounding whitespace, raw
// must look like one JSON value judging by its first and last bytes. It is O(1) (plus
// whitespace) on purpose — full validation is ValidJSON's job where payloads enter the
// server — and it catches the common mistakes: binary data, an empty or blank value, a
// bare word.
func rawEmbeddable(raw []byte) bool {
	i, j := 0, len(raw)
	for i < j && isJSONSpace(raw[i]) {
		i++
	}
	for j > i && isJSONSpace(raw[j-1]) {
		j--
	}
	if i == j {
		return false
	}
	first, last := raw[i], raw[j-1]
	switch {
	case first == '{':
		return last == '}' && j-i >= 2
	case first == '[':
		return last == ']' && j-i >= 2
	case first == '"':
		return last == '"' && j-i >= 2
	case first == '-' || isDigit(first):
		return isDigit(last)
	}
	switch string(raw[i:j]) { // a conversion in a switch does not allocate
	case "true", "false", "null":
		return true
	}
	return false
}

// jsonWriter appends one JSON message. bad records that a raw field failed
// rawEmbeddable; the caller turns it into ErrInvalidJSON (the hot paths ignore it, see
// AppendPublicationPush). It lives on the caller's stack.
type jsonWriter struct {
	b   []byte
	bad bool
}

// open starts an object; pass the result to close.
func (w *jsonWriter) open() int { return len(w.b) }

// close ends the object started at start (see the file comment).
func (w *jsonWriter) close(start int) {
	if len(w.b) == start {
		w.b = append(w.b, '{', '}')
		return
	}
	w.b[start] = '{'
	w.b = append(w.b, '}')
}

// key appends a field name given as `,"name":`.
func (w *jsonWriter) key(k string) { w.b = append(w.b, k...) }

func (w *jsonWriter) str(k, v string) {
	if v != "" {
		w.strAlways(k, v)
	}
}

func (w *jsonWriter) strAlways(k, v string) {
	w.b = append(w.b, k...)
	w.b = appendJSONString(w.b, v)
}

func (w *jsonWriter) u64(k string, v uint64) {
	if v != 0 {
		w.u64Always(k, v)
	}
}

func (w *jsonWriter) u64Always(k string, v uint64) {
	w.b = append(w.b, k...)
	w.b = strconv.AppendUint(w.b, v, 10)
}

func (w *jsonWriter) i64(k string, v int64) {
	if v != 0 {
		w.b = append(w.b, k...)
		w.b = strconv.AppendInt(w.b, v, 10)
	}
}

func (w *jsonWriter) boolean(k string, v bool) {
	if v {
		w.b = append(w.b, k...)
		w.b = append(w.b, "true"...)
	}
}

// raw writes a raw JSON payload field; an empty payload is omitted.
func (w *jsonWriter) raw(k string, v []byte) {
	if len(v) == 0 {
		return
	}
	if !rawEmbeddable(v) {
		w.bad = true
	}
	w.b = append(w.b, k...)
	w.b = appendRaw(w.b, v)
}

// sortBuf is how many map entries are sorted on the stack; bigger maps allocate one
// slice. Publication tags are the only map on a hot path and rarely have more than a few.
const sortBuf = 16

type strPair struct{ k, v string }

// sortedPairs returns the entries of m in key order, in buf when they fit.
func sortedPairs(m map[string]string, buf *[sortBuf]strPair) []strPair {
	if len(m) == 0 {
		return nil
	}
	var ps []strPair
	if len(m) <= len(buf) {
		ps = buf[:0]
	} else {
		ps = make([]strPair, 0, len(m))
	}
	for k, v := range m {
		ps = append(ps, strPair{k, v})
	}
	if len(ps) <= len(buf) {
		// Insertion sort: no allocation, and the fastest sort for a handful of entries.
		for i := 1; i < len(ps); i++ {
			for j := i; j > 0 && ps[j].k < ps[j-1].k; j-- {
				ps[j], ps[j-1] = ps[j-1], ps[j]
			}
		}
	} else {
		slices.SortFunc(ps, func(a, b strPair) int {
			switch {
			case a.k < b.k:
				return -1
			case a.k > b.k:
				return 1
			}
			return 0
		})
	}
	return ps
}

// sortedKeys returns the keys of m in ascending order, in buf when they fit. It serves
// the less hot maps (subs, presence).
func sortedKeys[V any](m map[string]V, buf *[sortBuf]string) []string {
	var ks []string
	if len(m) <= len(buf) {
		ks = buf[:0]
	} else {
		ks = make([]string, 0, len(m))
	}
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// strMap writes a map<string,string> field (tags, headers) with sorted keys; an empty
// map is omitted.
func (w *jsonWriter) strMap(k string, m map[string]string) {
	if len(m) == 0 {
		return
	}
	var buf [sortBuf]strPair
	w.b = append(w.b, k...)
	start := w.open()
	for _, p := range sortedPairs(m, &buf) {
		w.b = append(w.b, ',')
		w.b = appendJSONString(w.b, p.k)
		w.b = append(w.b, ':')
		w.b = appendJSONString(w.b, p.v)
	}
	w.close(start)
}

// strList writes a []string field; an empty list is omitted.
func (w *jsonWriter) strList(k string, l []string) {
	if len(l) == 0 {
		return
	}
	w.b = append(w.b, k...)
	w.b = append(w.b, '[')
	for i, s := range l {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = appendJSONString(w.b, s)
	}
	w.b = append(w.b, ']')
}
