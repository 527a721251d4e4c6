package engine

import "github.com/rotorhq/rotor/codec"

// SubscribeOverride overrides namespace options for one subscription; nil fields
// keep the namespace value.
type SubscribeOverride struct {
	Presence, JoinLeave, ForcePushJoinLeave, ForcePositioning, ForceRecovery *bool
}

// ServerSubscribeRequest subscribes matching connections server-side (server API
// `subscribe`). User "" targets anonymous connections; Client/Session narrow it.
type ServerSubscribeRequest struct {
	User, Channel, Client, Session string
	Info, Data                     []byte
	ExpireAt                       int64
	RecoverSince                   *codec.StreamPosition
	Override                       *SubscribeOverride
}

// ServerUnsubscribeRequest unsubscribes matching connections (server API `unsubscribe`).
type ServerUnsubscribeRequest struct {
	User, Channel, Client, Session string
}

// ServerDisconnectRequest disconnects matching connections (server API `disconnect`).
// A nil Disconnect means 3503 "force disconnect".
type ServerDisconnectRequest struct {
	User, Client, Session string
	Whitelist             []string
	Disconnect            *Disconnect
}

// ServerRefreshRequest changes the expiry of matching connections (server API `refresh`).
type ServerRefreshRequest struct {
	User, Client, Session string
	Expired               bool
	ExpireAt              int64
	Info                  []byte
}

// HistoryRequest queries a channel's stream.
type HistoryRequest struct {
	Channel string
	// Limit 0 returns no publications (position only); -1 all.
	Limit   int
	Since   *codec.StreamPosition
	Reverse bool
}

// HistoryResult is a page of a channel's stream and its current position.
type HistoryResult struct {
	Publications []*codec.Publication
	Epoch        string
	Offset       uint64
}

// PresenceStats counts a channel's present clients and distinct users.
type PresenceStats struct {
	NumClients, NumUsers uint32
}

// ChannelInfo is one entry of the server API `channels` result.
type ChannelInfo struct {
	NumClients uint32
}
