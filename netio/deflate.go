package netio

import (
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
)

// permessage-deflate (RFC 7692) as Centrifugo negotiates it (gorilla/websocket,
// which centrifuge forks): any offer of permessage-deflate, whatever its
// parameters, is answered with both no_context_takeover parameters, so every
// message is compressed and decompressed on its own. That is what lets a
// broadcast compress a publication once and send the same bytes to every
// subscriber (see EnqueueShared).

// extensionDeflate is the Sec-WebSocket-Extensions value of the 101 response.
const extensionDeflate = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

// Compression levels accepted, as compress/flate defines them (HuffmanOnly to
// BestCompression); Centrifugo's default is 1.
const (
	MinCompressionLevel     = flate.HuffmanOnly
	MaxCompressionLevel     = flate.BestCompression
	DefaultCompressionLevel = 1
)

// deflateTail ends a no-context-takeover message for the inflater: the 4 bytes
// the sender strips (RFC 7692 §7.2.2) and an empty final stored block, so the
// reader sees a complete stream.
const deflateTail = "\x00\x00\xff\xff\x01\x00\x00\xff\xff"

// compressor is a pooled flate writer appending to a byte slice.
type compressor struct {
	fw  *flate.Writer
	dst []byte
}

func (c *compressor) Write(p []byte) (int, error) {
	c.dst = append(c.dst, p...)
	return len(p), nil
}

var compressors [MaxCompressionLevel - MinCompressionLevel + 1]sync.Pool

// appendDeflate appends src compressed as one permessage-deflate message (no
// context takeover: a fresh stream, sync-flushed, the trailing 00 00 ff ff
// removed) at level. It allocates nothing once the pool for level is warm.
func appendDeflate(dst, src []byte, level int) []byte {
	p := &compressors[level-MinCompressionLevel]
	c, _ := p.Get().(*compressor)
	if c == nil {
		c = &compressor{}
		fw, err := flate.NewWriter(c, level)
		if err != nil {
			panic("netio: invalid compression level") // Config.Validate checks it
		}
		c.fw = fw
	} else {
		c.fw.Reset(c)
	}
	c.dst = dst
	_, _ = c.fw.Write(src)
	_ = c.fw.Flush()
	out := c.dst
	c.dst = nil
	p.Put(c)
	// Flush ends with an empty stored block, 00 00 ff ff, which the receiver adds
	// back (RFC 7692 §7.2.1).
	if n := len(out); n-len(dst) >= 4 && string(out[n-4:]) == "\x00\x00\xff\xff" {
		out = out[:n-4]
	}
	return out
}

// inflater is a pooled flate reader over a compressed message and deflateTail.
type inflater struct {
	fr  io.ReadCloser
	src []byte
	pos int // into src, then into deflateTail
}

// Read and ReadByte serve src then deflateTail; ReadByte keeps the flate reader
// from wrapping its source in a bufio.Reader of its own.
func (f *inflater) Read(p []byte) (int, error) {
	if f.pos < len(f.src) {
		n := copy(p, f.src[f.pos:])
		f.pos += n
		return n, nil
	}
	t := f.pos - len(f.src)
	if t >= len(deflateTail) {
		return 0, io.EOF
	}
	n := copy(p, deflateTail[t:])
	f.pos += n
	return n, nil
}

func (f *inflater) ReadByte() (byte, error) {
	if f.pos < len(f.src) {
		b := f.src[f.pos]
		f.pos++
		return b, nil
	}
	t := f.pos - len(f.src)
	if t >= len(deflateTail) {
		return 0, io.EOF
	}
	f.pos++
	return deflateTail[t], nil
}

var inflaters = sync.Pool{New: func() any {
	f := &inflater{}
	f.fr = flate.NewReader(f)
	return f
}}

// inflate decompresses one permessage-deflate message into a new buffer, which
// the caller owns. More than limit bytes of output (a decompression bomb, or just
// a message over websocket's decompressed size limit) stops it with
// errMessageTooBig after at most limit+1 bytes were produced; corrupt input gives
// errBadDeflate.
func inflate(src []byte, limit int) (*obuf, error) {
	f := inflaters.Get().(*inflater)
	f.src, f.pos = src, 0
	_ = f.fr.(flate.Resetter).Reset(f, nil)
	out := getBuf(min(max(2*len(src), 256), limit+1))
	var err error
	for {
		if len(out.b) == cap(out.b) {
			if len(out.b) > limit {
				err = errMessageTooBig
				break
			}
			out = growBuf(out, min(len(out.b), limit+1-len(out.b)))
		}
		n, rerr := f.fr.Read(out.b[len(out.b):cap(out.b)])
		out.b = out.b[:len(out.b)+n]
		if len(out.b) > limit {
			err = errMessageTooBig
			break
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			err = errBadDeflate
			break
		}
	}
	f.src = nil
	inflaters.Put(f)
	if err != nil {
		putBuf(out)
		return nil, err
	}
	return out, nil
}

// offersDeflate reports whether one Sec-WebSocket-Extensions header value offers
// permessage-deflate: an element of the comma-separated list whose extension
// token is permessage-deflate, whatever its parameters (gorilla/websocket, as
// Centrifugo uses it, accepts any parameters and answers with its own). Like
// gorilla, it stops reading a value at the first malformed element.
func offersDeflate(v []byte) bool {
	for {
		tok, rest := nextToken(skipOWS(v))
		if len(tok) == 0 {
			return false
		}
		v = rest
		// Parameters: *( ";" token [ "=" ( token / quoted-string ) ] ).
		for {
			v = skipOWS(v)
			if len(v) == 0 || v[0] != ';' {
				break
			}
			var k []byte
			k, v = nextToken(skipOWS(v[1:]))
			if len(k) == 0 {
				return false
			}
			v = skipOWS(v)
			if len(v) > 0 && v[0] == '=' {
				var ok bool
				if v, ok = skipTokenOrQuoted(skipOWS(v[1:])); !ok {
					return false
				}
				v = skipOWS(v)
			}
			if len(v) > 0 && v[0] != ',' && v[0] != ';' {
				return false
			}
		}
		if len(v) > 0 && v[0] != ',' {
			return false // garbage after the element
		}
		if string(tok) == "permessage-deflate" {
			return true
		}
		if len(v) == 0 {
			return false
		}
		v = v[1:]
	}
}

func skipOWS(v []byte) []byte {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	return v
}

// isTokenChar reports whether c is an RFC 7230 tchar.
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

func nextToken(v []byte) (tok, rest []byte) {
	i := 0
	for i < len(v) && isTokenChar(v[i]) {
		i++
	}
	return v[:i], v[i:]
}

// skipTokenOrQuoted skips a token or a quoted-string (with backslash escapes).
func skipTokenOrQuoted(v []byte) ([]byte, bool) {
	if len(v) > 0 && v[0] == '"' {
		for i := 1; i < len(v); i++ {
			switch v[i] {
			case '\\':
				i++
			case '"':
				return v[i+1:], true
			}
		}
		return nil, false
	}
	tok, rest := nextToken(v)
	return rest, len(tok) > 0
}
