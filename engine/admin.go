package engine

import "github.com/rotorhq/rotor/codec"

// ConnectionInfo describes one connection of this node for the admin UI's user page.
type ConnectionInfo struct {
	Client string
	User   string
	// Info is the connection info from the token or connect proxy (raw JSON or
	// bytes); nil when none.
	Info []byte
	// ExpireAt is the unix second the connection expires at; 0 never.
	ExpireAt int64
	// Protocol is "json" or "protobuf".
	Protocol string
	// Channels are the channels the connection is subscribed to, in subscription
	// order.
	Channels []string
}

// UserConnections lists user's connections on this node ("" = anonymous ones).
// Centrifugo OSS has no API for this; the admin UI shows it for the node it talks to.
func (n *Node) UserConnections(user string) []ConnectionInfo {
	conns := n.hub.userConns(user)
	out := make([]ConnectionInfo, 0, len(conns))
	for _, c := range conns {
		proto := "json"
		if c.proto == codec.ProtocolProtobuf {
			proto = "protobuf"
		}
		c.mu.Lock()
		if c.state != stateConnected {
			c.mu.Unlock()
			continue
		}
		ci := ConnectionInfo{
			Client:   c.id,
			User:     c.user,
			Info:     append([]byte(nil), c.info...),
			ExpireAt: c.expireAt,
			Protocol: proto,
			Channels: make([]string, 0, len(c.subs)),
		}
		for _, s := range c.subs {
			ci.Channels = append(ci.Channels, s.ch)
		}
		c.mu.Unlock()
		if len(ci.Info) == 0 {
			ci.Info = nil
		}
		out = append(out, ci)
	}
	return out
}
