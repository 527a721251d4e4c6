// Package fossil implements the Fossil SCM delta format
// (https://fossil-scm.org/home/doc/tip/www/delta_format.wiki), the format
// Centrifugo uses for `delta: "fossil"` subscriptions and that centrifuge-js
// applies on the client side.
//
// A delta is ASCII framing around literal bytes of the target:
//
//	SIZE "\n" { COUNT "@" OFFSET "," | COUNT ":" BYTES } CHECKSUM ";"
//
// Every integer is written in the format's base-64 alphabet
// ("0-9A-Z_a-z~", most significant digit first). COUNT "@" OFFSET ","
// copies COUNT bytes of the source starting at OFFSET; COUNT ":" inserts the
// COUNT bytes that follow. CHECKSUM is the 32-bit sum of the target read as
// big-endian 32-bit words, the last partial word padded with zeros.
package fossil

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
)

// Errors returned by Apply and OutputSize for malformed or mismatching deltas.
var (
	ErrBadInteger       = errors.New("fossil: missing or out-of-range integer")
	ErrSizeTerminator   = errors.New("fossil: size integer not terminated by '\\n'")
	ErrCopyTerminator   = errors.New("fossil: copy command not terminated by ','")
	ErrCopyOutOfRange   = errors.New("fossil: copy extends past end of source")
	ErrOutputTooLarge   = errors.New("fossil: delta produces more output than its declared size")
	ErrInsertTruncated  = errors.New("fossil: insert count exceeds size of delta")
	ErrUnknownOperator  = errors.New("fossil: unknown delta operator")
	ErrBadChecksum      = errors.New("fossil: bad checksum")
	ErrSizeMismatch     = errors.New("fossil: generated size does not match declared size")
	ErrUnterminated     = errors.New("fossil: unterminated delta")
	ErrTrailingGarbage  = errors.New("fossil: data after the checksum terminator")
	errInternalMismatch = errors.New("fossil: internal error: second pass disagrees with first")
)

// digitChars is the base-64 alphabet of the delta format, in digit order.
const digitChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~"

// digitValues maps a byte to its digit value, or -1 if it is not a digit.
var digitValues = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(digitChars); i++ {
		t[digitChars[i]] = int8(i)
	}
	return t
}()

// maxInt is the largest integer the format carries: the reference
// implementations hold every integer in 32 unsigned bits.
const maxInt = math.MaxUint32

// appendInt appends v in the format's base-64 notation.
func appendInt(dst []byte, v uint64) []byte {
	if v == 0 {
		return append(dst, '0')
	}
	var tmp [11]byte // 64 bits need at most 11 six-bit digits
	i := len(tmp)
	for v > 0 {
		i--
		tmp[i] = digitChars[v&63]
		v >>= 6
	}
	return append(dst, tmp[i:]...)
}

// intLen returns how many digits appendInt writes for v.
func intLen(v int) int {
	if v <= 0 {
		return 1
	}
	return (bits.Len64(uint64(v)) + 5) / 6
}

// readInt parses an integer starting at d[i]. It returns the value and the
// index of the first byte after it. At least one digit is required and the
// value must fit the format's 32 bits.
func readInt(d []byte, i int) (uint64, int, error) {
	start := i
	var v uint64
	for i < len(d) {
		c := digitValues[d[i]]
		if c < 0 {
			break
		}
		v = v<<6 | uint64(c)
		if v > maxInt {
			return 0, i, ErrBadInteger
		}
		i++
	}
	if i == start {
		return 0, i, ErrBadInteger
	}
	return v, i, nil
}

// checksum is the format's 32-bit checksum: the wrapping sum of b read as
// big-endian 32-bit words, a trailing partial word padded with zero bytes.
func checksum(b []byte) uint32 {
	var s0, s1, s2, s3 uint32
	for len(b) >= 16 {
		s0 += binary.BigEndian.Uint32(b)
		s1 += binary.BigEndian.Uint32(b[4:])
		s2 += binary.BigEndian.Uint32(b[8:])
		s3 += binary.BigEndian.Uint32(b[12:])
		b = b[16:]
	}
	sum := s0 + s1 + s2 + s3
	for len(b) >= 4 {
		sum += binary.BigEndian.Uint32(b)
		b = b[4:]
	}
	switch len(b) {
	case 3:
		sum += uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8
	case 2:
		sum += uint32(b[0])<<24 | uint32(b[1])<<16
	case 1:
		sum += uint32(b[0]) << 24
	}
	return sum
}

// OutputSize returns the target size a delta declares in its header, without
// applying it. Callers can use it to refuse oversized targets before Apply.
func OutputSize(delta []byte) (int, error) {
	n, i, err := readInt(delta, 0)
	if err != nil {
		return 0, err
	}
	if i >= len(delta) || delta[i] != '\n' {
		return 0, ErrSizeTerminator
	}
	return int(n), nil
}

// Apply reconstructs the target from src and a delta created against src.
// It validates the delta completely — framing, every copy range and insert
// length, the declared size and the checksum — and returns an error value
// for any malformed or mismatching delta; it never panics. The result is a
// newly allocated slice of exactly the declared size.
func Apply(src, delta []byte) ([]byte, error) {
	size, err := OutputSize(delta)
	if err != nil {
		return nil, err
	}
	// First pass: validate the framing and every command without writing, so
	// that a hostile size header cannot make us allocate more than the delta
	// really produces.
	if _, _, err := run(src, delta, nil); err != nil {
		return nil, err
	}
	out := make([]byte, size)
	n, sum, err := run(src, delta, out)
	if err != nil {
		return nil, err
	}
	if n != size {
		return nil, errInternalMismatch
	}
	if sum != checksum(out) {
		return nil, ErrBadChecksum
	}
	return out, nil
}

// run walks the delta commands. With out == nil it only validates; otherwise
// it writes the target into out, which must have the declared size. It
// returns the number of bytes produced and the checksum recorded in the
// trailer, which the caller compares once the output exists.
func run(src, delta, out []byte) (int, uint32, error) {
	limit, i, err := readInt(delta, 0)
	if err != nil {
		return 0, 0, err
	}
	if i >= len(delta) || delta[i] != '\n' {
		return 0, 0, ErrSizeTerminator
	}
	i++
	var total uint64
	for i < len(delta) {
		var cnt uint64
		cnt, i, err = readInt(delta, i)
		if err != nil {
			return 0, 0, err
		}
		if i >= len(delta) {
			return 0, 0, ErrUnterminated
		}
		op := delta[i]
		i++
		switch op {
		case '@':
			var ofst uint64
			ofst, i, err = readInt(delta, i)
			if err != nil {
				return 0, 0, err
			}
			if i >= len(delta) || delta[i] != ',' {
				return 0, 0, ErrCopyTerminator
			}
			i++
			total += cnt
			if total > limit {
				return 0, 0, ErrOutputTooLarge
			}
			if ofst+cnt > uint64(len(src)) {
				return 0, 0, ErrCopyOutOfRange
			}
			if out != nil {
				copy(out[total-cnt:total], src[ofst:ofst+cnt])
			}
		case ':':
			total += cnt
			if total > limit {
				return 0, 0, ErrOutputTooLarge
			}
			if cnt > uint64(len(delta)-i) {
				return 0, 0, ErrInsertTruncated
			}
			if out != nil {
				copy(out[total-cnt:total], delta[i:i+int(cnt)])
			}
			i += int(cnt)
		case ';':
			if total != limit {
				return 0, 0, ErrSizeMismatch
			}
			if i != len(delta) {
				return 0, 0, ErrTrailingGarbage
			}
			return int(total), uint32(cnt), nil
		default:
			return 0, 0, ErrUnknownOperator
		}
	}
	return 0, 0, ErrUnterminated
}
