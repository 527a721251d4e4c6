package stdws

import (
	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/engine"
	"github.com/rotorhq/rotor/netio"
)

// uni_websocket over TLS, as netio serves it on plain TCP (netio/uniws.go, spec
// transports.md §6): JSON only, no subprotocol, the ConnectRequest in cf_connect
// or as the first message (later ones ignored), pushes bare, one WebSocket
// message each (joined with '\n' with UniJoinPushMessages), and a disconnect push
// before the close frame.

// uniUpgrade is what the handshake of a uni_websocket upgrade hands to serve.
type uniUpgrade struct {
	req *codec.ConnectRequest // from cf_connect; nil: the first message
}

// uniConn is the engine.Transport of a uni_websocket session: bare pushes.
type uniConn struct{ c *conn }

var _ engine.TransportKind = (*uniConn)(nil)

func (u *uniConn) Name() string             { return "uni_websocket" }
func (u *uniConn) Emulation() bool          { return false }
func (u *uniConn) Unidirectional() bool     { return true }
func (u *uniConn) Protocol() codec.Protocol { return codec.ProtocolJSON }

// Enqueue implements engine.Transport.
func (u *uniConn) Enqueue(msg []byte) error {
	msg = netio.UnwrapPush(msg)
	// The app-level ping {} goes with a native one when pushes go one message
	// each, as on netio (Centrifugo's uni_websocket sends both).
	ping := u.c.split && len(msg) == 2 && msg[0] == '{' && msg[1] == '}'
	return u.c.enqueue(msg, ping)
}

// Close implements engine.Transport: a disconnect push (unless disabled, or the
// peer is gone) before the close frame.
func (u *uniConn) Close(d engine.Disconnect) {
	if !u.c.srv.cfg.UniDisableDisconnectPush {
		if msg := netio.UniDisconnectPush(d); msg != nil {
			_ = u.Enqueue(msg)
		}
	}
	u.c.Close(d)
}
