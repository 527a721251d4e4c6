// Package codec encodes and decodes Centrifugo client protocol v2 messages in JSON
// and Protobuf. It imports nothing from the rest of Rotor.
//
// Plain Go types mirror client.proto (see shared/spec/client-protocol.md §13). Fields
// that carry payloads (data, info, conn_info, chan_info) are raw bytes: raw JSON text
// for the JSON protocol, opaque bytes for Protobuf.
package codec

// Protocol is the encoding of one connection, fixed for its lifetime.
type Protocol uint8

const (
	// ProtocolJSON is newline-delimited JSON (the default).
	ProtocolJSON Protocol = iota
	// ProtocolProtobuf is varint-length-delimited Protobuf.
	ProtocolProtobuf
)

// String returns "json" or "protobuf".
func (p Protocol) String() string {
	if p == ProtocolProtobuf {
		return "protobuf"
	}
	return "json"
}

// Command is one client→server message. Exactly one request pointer is expected to be
// set; the server looks at them in the order of the fields below.
type Command struct {
	ID            uint32
	Connect       *ConnectRequest
	Subscribe     *SubscribeRequest
	Unsubscribe   *UnsubscribeRequest
	Publish       *PublishRequest
	Presence      *PresenceRequest
	PresenceStats *PresenceStatsRequest
	History       *HistoryRequest
	Ping          *PingRequest
	Send          *SendRequest
	RPC           *RPCRequest
	Refresh       *RefreshRequest
	SubRefresh    *SubRefreshRequest
}

// Reset clears c for reuse.
func (c *Command) Reset() { *c = Command{} }

// Error is a reply error.
type Error struct {
	Code      uint32
	Message   string
	Temporary bool
}

// Reply is one server→client message on a bidirectional transport. An empty Reply is a
// server ping.
type Reply struct {
	ID            uint32
	Error         *Error
	Push          *Push
	Connect       *ConnectResult
	Subscribe     *SubscribeResult
	Unsubscribe   *UnsubscribeResult
	Publish       *PublishResult
	Presence      *PresenceResult
	PresenceStats *PresenceStatsResult
	History       *HistoryResult
	RPC           *RPCResult
	Refresh       *RefreshResult
	SubRefresh    *SubRefreshResult
}

// Push is an asynchronous server→client message.
type Push struct {
	ID          int64
	Channel     string
	Pub         *Publication
	Join        *Join
	Leave       *Leave
	Unsubscribe *Unsubscribe
	Message     *Message
	Subscribe   *Subscribe
	Connect     *Connect
	Disconnect  *Disconnect
	Refresh     *Refresh
}

// ClientInfo describes a connection in presence, join/leave and publications.
type ClientInfo struct {
	User     string
	Client   string
	ConnInfo []byte // raw JSON in JSON protocol
	ChanInfo []byte // raw JSON in JSON protocol
}

// Publication is one message of a channel.
type Publication struct {
	Data     []byte // raw JSON in JSON protocol
	Info     *ClientInfo
	Offset   uint64
	Tags     map[string]string
	Delta    bool
	Time     int64
	Channel  string
	Key      string
	Removed  bool
	Score    int64
	Epoch    string
	PrevData []byte
	Version  uint64
}

// StreamPosition is a position in a channel stream.
type StreamPosition struct {
	Offset uint64
	Epoch  string
}

type Join struct{ Info ClientInfo }
type Leave struct{ Info ClientInfo }

type Unsubscribe struct {
	Code   uint32
	Reason string
}

type Subscribe struct {
	Recoverable bool
	Epoch       string
	Offset      uint64
	Positioned  bool
	Data        []byte
}

type Message struct{ Data []byte }

type Connect struct {
	Client  string
	Version string
	Data    []byte
	Subs    map[string]*SubscribeResult
	Expires bool
	TTL     uint32
	Ping    uint32
	Pong    bool
	Session string
	Node    string
	Time    int64
}

type Disconnect struct {
	Code      uint32
	Reason    string
	Reconnect bool
}

type Refresh struct {
	Expires bool
	TTL     uint32
}

type ConnectRequest struct {
	Token   string
	Data    []byte
	Subs    map[string]*SubscribeRequest
	Name    string
	Version string
	Headers map[string]string
	Flag    int64
}

type ConnectResult struct {
	Client  string
	Version string
	Expires bool
	TTL     uint32
	Data    []byte
	Subs    map[string]*SubscribeResult
	Ping    uint32
	Pong    bool
	Session string
	Node    string
	Time    int64
}

type RefreshRequest struct{ Token string }

type RefreshResult struct {
	Client  string
	Version string
	Expires bool
	TTL     uint32
}

type SubscribeRequest struct {
	Channel     string
	Token       string
	Recover     bool
	Epoch       string
	Offset      uint64
	Data        []byte
	Positioned  bool
	Recoverable bool
	JoinLeave   bool
	Delta       string
	Tf          *FilterNode
	Flag        int64
	Type        int32
	Phase       int32
	Cursor      string
	Limit       int32
	Asc         bool
}

type SubscribeResult struct {
	Expires         bool
	TTL             uint32
	Recoverable     bool
	Epoch           string
	Publications    []*Publication
	Recovered       bool
	Offset          uint64
	Positioned      bool
	Data            []byte
	WasRecovering   bool
	Delta           bool
	ID              int64
	Type            int32
	Phase           int32
	Cursor          string
	State           []*Publication
	PublishDebounce uint32
}

type KeyedItem struct {
	Key     string
	Version uint64
}

type TrackBatch struct {
	Signature string
	Items     []*KeyedItem
}

type SubRefreshRequest struct {
	Channel string
	Token   string
	Type    int32
	Track   []*TrackBatch
	Untrack []string
}

type SubRefreshResult struct {
	Expires bool
	TTL     uint32
	Items   []*Publication
}

type UnsubscribeRequest struct{ Channel string }
type UnsubscribeResult struct{}

type PublishRequest struct {
	Channel string
	Data    []byte
	Type    int32
	Key     string
	Removed bool
}
type PublishResult struct{}

type PresenceRequest struct{ Channel string }
type PresenceResult struct{ Presence map[string]*ClientInfo }

type PresenceStatsRequest struct{ Channel string }
type PresenceStatsResult struct {
	NumClients uint32
	NumUsers   uint32
}

type HistoryRequest struct {
	Channel string
	Limit   int32
	Since   *StreamPosition
	Reverse bool
}

type HistoryResult struct {
	Publications []*Publication
	Epoch        string
	Offset       uint64
}

type PingRequest struct{}
type PingResult struct{}

type RPCRequest struct {
	Data   []byte
	Method string
}
type RPCResult struct{ Data []byte }

type SendRequest struct{ Data []byte }

type FilterNode struct {
	Op    string
	Key   string
	Cmp   string
	Val   string
	Vals  []string
	Nodes []*FilterNode
}

// EmulationRequest is the body of a POST to /emulation.
type EmulationRequest struct {
	Node    string
	Session string
	Data    []byte
}
