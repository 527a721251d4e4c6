package netio

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/rotorhq/rotor/netio/ws"
)

// memIn is an inbound over a byte slice (what netpoll's Reader looks like to the
// frame reader).
type memIn struct{ b []byte }

var errShortTest = errors.New("memIn: not enough bytes")

func (m *memIn) Len() int { return len(m.b) }

func (m *memIn) Peek(n int) ([]byte, error) {
	if n > len(m.b) {
		return nil, errShortTest
	}
	return m.b[:n:n], nil
}

func (m *memIn) Skip(n int) error {
	if n > len(m.b) {
		return errShortTest
	}
	m.b = m.b[n:]
	return nil
}

func (m *memIn) Next(n int) ([]byte, error) {
	if n > len(m.b) {
		return nil, errShortTest
	}
	p := m.b[:n:n]
	m.b = m.b[n:]
	return p, nil
}

// cframe builds a masked client frame.
func cframe(fin bool, op ws.Opcode, payload []byte) []byte {
	return cframeKey(fin, op, payload, [4]byte{0x37, 0xfa, 0x21, 0x3d}, true)
}

func cframeKey(fin bool, op ws.Opcode, payload []byte, key [4]byte, masked bool) []byte {
	b0 := byte(op)
	if fin {
		b0 |= 0x80
	}
	var mbit byte
	if masked {
		mbit = 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n <= 125:
		out = append(out, mbit|byte(n))
	case n <= 0xFFFF:
		out = append(out, mbit|126, byte(n>>8), byte(n))
	default:
		out = append(out, mbit|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if !masked {
		return append(out, payload...)
	}
	out = append(out, key[:]...)
	start := len(out)
	out = append(out, payload...)
	ws.Unmask(out[start:], key, 0)
	return out
}

// evTooBig records errMessageTooBig in readStream results (the reader goes on).
const evTooBig frameEvent = 99

// event is one frameReader result, copied.
type event struct {
	kind    frameEvent
	op      ws.Opcode
	payload string
}

// readStream feeds data to a frameReader in the given chunk sizes (the rest in one
// final chunk) and returns the events and the first error. It checks that every
// "need" is larger than what is buffered.
func readStream(limit int, data []byte, chunks []int) ([]event, error) {
	return readStreamWith(frameReader{limit: limit}, data, chunks)
}

// readStreamWith is readStream with a configured frame reader (e.g. deflate on).
func readStreamWith(fr frameReader, data []byte, chunks []int) ([]event, error) {
	stream := append([]byte(nil), data...) // unmasking is in place
	defer fr.reset()
	src := &memIn{}
	end := 0 // stream[:end] has been delivered; src.b is its unread suffix
	var evs []event
	for {
		ev, op, p, need, err := fr.next(src)
		if err == errMessageTooBig {
			evs = append(evs, event{kind: evTooBig})
			continue
		}
		if err != nil {
			return evs, err
		}
		if ev != evNone {
			evs = append(evs, event{ev, op, string(p)})
			continue
		}
		if need != 0 && need <= src.Len() {
			return evs, errors.New("need not beyond buffered bytes")
		}
		if end == len(stream) {
			return evs, nil
		}
		n := len(stream) - end
		if len(chunks) > 0 {
			n = min(chunks[0], n)
			chunks = chunks[1:]
		}
		start := end - len(src.b)
		end += n
		src.b = stream[start:end:end]
	}
}

// stallCount reports how often c was handed to a stalled writer.
func (c *conn) stallCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stalls
}

// barrierSession closes done when its OnClose runs.
type barrierSession struct{ done chan struct{} }

func (b barrierSession) HandleFrame([]byte) bool { return true }
func (b barrierSession) OnClose()                { close(b.done) }

// syncWorkers returns once every flush worker of s has run everything queued on it
// before the call, and every OnClose those runs started has returned: a barrier
// connection (counted on a server of its own, so s's live count is untouched) goes
// through each worker's FIFO and reports back.
func (s *Server) syncWorkers(t testing.TB) {
	t.Helper()
	for _, w := range s.workers {
		done := make(chan struct{})
		b := &conn{srv: &Server{}, w: w, sess: barrierSession{done}, notify: true}
		w.push(b)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("flush worker did not reach the barrier")
		}
	}
	s.closers.Wait()
}
