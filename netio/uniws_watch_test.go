package netio

import (
	"testing"

	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
)

// uniWatchSession records what a uni_websocket wrapper passes on.
type uniWatchSession struct {
	connects, failed, gone int
}

func (s *uniWatchSession) HandleFrame([]byte) bool               { return true }
func (s *uniWatchSession) OnClose()                              {}
func (s *uniWatchSession) ConnectUni(*codec.ConnectRequest) bool { s.connects++; return true }
func (s *uniWatchSession) WriteFailed()                          { s.failed++ }
func (s *uniWatchSession) PeerGone()                             { s.gone++ }

// TestUniSessionForwardsWatchers: the uni_websocket wrapper connects with the
// cf_connect request at once, and passes WriteFailed and PeerGone on, so a
// stalled uni_websocket client ends as 3009 as a bidirectional one does.
func TestUniSessionForwardsWatchers(t *testing.T) {
	s := &uniWatchSession{}
	u := NewUniSession(s, &codec.ConnectRequest{}, func(engine.Disconnect) { t.Fatal("closed") })
	if s.connects != 1 {
		t.Fatalf("%d connects, want 1", s.connects)
	}
	w, ok := u.(WriteWatcher)
	if !ok {
		t.Fatal("the uni_websocket session hides WriteWatcher")
	}
	w.WriteFailed()
	u.(PeerWatcher).PeerGone()
	if s.failed != 1 || s.gone != 1 {
		t.Fatalf("WriteFailed %d, PeerGone %d; want 1 each", s.failed, s.gone)
	}
	if !u.HandleFrame([]byte(`{"later":1}`)) || s.connects != 1 {
		t.Fatal("a later message was not ignored")
	}
}
