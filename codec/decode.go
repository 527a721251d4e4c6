package codec

import (
	"bytes"
	"io"

	"google.golang.org/protobuf/encoding/protowire"
)

// frameSplitter cuts a transport frame into messages: JSON lines separated by '\n'
// (one trailing '\n' tolerated, an empty line is an error), or varint-length-prefixed
// Protobuf messages (a zero length is a valid empty message: the pong).
type frameSplitter struct {
	proto Protocol
	frame []byte
	pos   int
	done  bool
	count int   // messages returned since reset
	err   error // sticky
}

func (s *frameSplitter) reset(frame []byte) {
	s.frame, s.pos, s.done, s.count, s.err = frame, 0, len(frame) == 0, 0, nil
}

// next returns the next message; io.EOF after the last one. An empty frame is
// errEmptyFrame when emptyIsError (commands), io.EOF otherwise (replies).
func (s *frameSplitter) next(emptyIsError bool) ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.done {
		s.frame = nil // the frame is finished: do not keep it reachable
		if s.count == 0 && emptyIsError {
			s.err = errEmptyFrame
			return nil, s.err
		}
		return nil, io.EOF
	}
	rest := s.frame[s.pos:]
	var msg []byte
	if s.proto == ProtocolProtobuf {
		n, k := protowire.ConsumeVarint(rest)
		if k < 0 {
			s.err = errPBVarint
			return nil, s.err
		}
		if n > uint64(len(rest)-k) {
			s.err = errPBTruncated
			return nil, s.err
		}
		msg = rest[k : k+int(n) : k+int(n)]
		s.pos += k + int(n)
		s.done = s.pos == len(s.frame)
	} else {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			msg = rest
			s.done = true
		} else {
			msg = rest[:i:i]
			s.pos += i + 1
			s.done = s.pos == len(s.frame) // a single trailing '\n' ends the frame
		}
		if len(msg) == 0 {
			s.err = errEmptyLine
			return nil, s.err
		}
	}
	s.count++
	return msg, nil
}

// CommandDecoder decodes the commands of one transport frame, one at a time. It is
// reusable (Reset) and not safe for concurrent use: one per connection reader.
//
// Decoded []byte fields (raw payloads: data, …) alias the frame, so the frame must stay
// unmodified while a decoded command's payloads are in use (copy them to keep them
// longer). Strings are always copies and may be kept.
type CommandDecoder struct {
	split frameSplitter
	json  jsonReader
}

// NewCommandDecoder returns a decoder for protocol p.
func NewCommandDecoder(p Protocol) *CommandDecoder {
	return &CommandDecoder{split: frameSplitter{proto: p}}
}

// Reset starts decoding frame.
func (d *CommandDecoder) Reset(frame []byte) {
	d.split.reset(frame)
	d.json.b = nil
}

// Decode fills cmd (after cmd.Reset()) with the next command; io.EOF when the frame is
// exhausted. Any malformed input returns an error wrapping ErrMalformed, including a
// frame with no command at all, and the decoder then keeps returning that error; cmd
// may be partly filled in that case and must be discarded.
//
// Allocations: none for a pong ({} / 0x00); otherwise one per request struct, one per
// non-empty string, plus maps and lists when present: 2 for a typical subscribe.
func (d *CommandDecoder) Decode(cmd *Command) error {
	cmd.Reset()
	msg, err := d.split.next(true)
	if err != nil {
		return err
	}
	if d.split.proto == ProtocolProtobuf {
		err = pbCommand(msg, cmd, 0)
	} else {
		r := &d.json
		r.reset(msg)
		// A bare null line is an empty command (a pong), as in Centrifugo's decoder.
		if !r.null() {
			err = r.command(cmd)
		}
		if err == nil {
			err = r.end()
		}
		r.b = nil // do not keep the frame reachable
	}
	if err != nil {
		d.split.err = err
		d.split.frame = nil
	}
	if cap(d.json.scratch) > maxRetainedScratch {
		// A long escaped string grew the scratch buffer; a connection keeps its
		// decoder for life, so do not let one big command pin that memory.
		d.json.scratch = nil
	}
	return err
}

// maxRetainedScratch is the largest unescaping buffer a decoder keeps between commands.
const maxRetainedScratch = 1024

// ReplyDecoder decodes the replies of one server frame (client side: tests, the load
// tool). Same aliasing rules as CommandDecoder; not safe for concurrent use.
type ReplyDecoder struct {
	split frameSplitter
	json  jsonReader
}

// NewReplyDecoder returns a decoder for protocol p.
func NewReplyDecoder(p Protocol) *ReplyDecoder {
	return &ReplyDecoder{split: frameSplitter{proto: p}}
}

// Reset starts decoding frame. An empty frame simply has no reply.
func (d *ReplyDecoder) Reset(frame []byte) {
	d.split.reset(frame)
	d.json.b = nil
}

// Decode fills r (after clearing it) with the next Reply; io.EOF at the end of the
// frame. Malformed input returns an error wrapping ErrMalformed.
func (d *ReplyDecoder) Decode(r *Reply) error {
	*r = Reply{}
	return decodeNext(d, r, (*jsonReader).reply, pbReply)
}

// DecodePush is Decode for unidirectional transports, whose messages are bare Pushes.
func (d *ReplyDecoder) DecodePush(p *Push) error {
	*p = Push{}
	return decodeNext(d, p, (*jsonReader).push, pbPush)
}

func decodeNext[T any](d *ReplyDecoder, v *T, j func(*jsonReader, *T) error, pb func([]byte, *T, int) error) error {
	msg, err := d.split.next(false)
	if err != nil {
		return err
	}
	if d.split.proto == ProtocolProtobuf {
		err = pb(msg, v, 0)
	} else {
		r := &d.json
		r.reset(msg)
		if !r.null() {
			err = j(r, v)
		}
		if err == nil {
			err = r.end()
		}
		r.b = nil
	}
	if err != nil {
		d.split.err = err
		d.split.frame = nil
	}
	if cap(d.json.scratch) > maxRetainedScratch {
		d.json.scratch = nil
	}
	return err
}

// DecodeEmulationRequest decodes the body of a POST to /emulation into req (after
// clearing it). In JSON, a string data (what centrifuge-js sends) is unescaped into a
// fresh slice holding the command text; in Protobuf, Data aliases body. The body has no
// length prefix. Errors wrap ErrMalformed.
func DecodeEmulationRequest(p Protocol, body []byte, req *EmulationRequest) error {
	*req = EmulationRequest{}
	if p == ProtocolProtobuf {
		return pbEmulationRequest(body, req)
	}
	r := jsonReader{b: body}
	if err := r.emulationRequest(req); err != nil {
		return err
	}
	return r.end()
}
