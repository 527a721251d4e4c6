package engine

import (
	"context"
	"time"

	"github.com/rotorhq/rotor/codec"
)

// The interfaces below are what the engine consumes from a broker: Publication
// streams with history (Broker), presence (PresenceManager) and node-to-node
// control messages (Controller). broker/memory implements them for one node,
// broker/redis for many nodes sharing a Redis (with Centrifugo v6 nodes too).
// cmd/rotor builds the one the config names and hands it to New through Config.
//
// Common rules for every method below:
//   - Any goroutine may call any method, concurrently, unless a method says otherwise.
//   - Methods taking a context may block on I/O (never longer than the context allows,
//     and never past the broker's own I/O timeouts); memory implementations do not
//     block beyond a short mutex.
//   - An error is either an *Error the engine passes on unchanged (only
//     ErrorUnrecoverablePosition, where documented) or any other error, which means
//     the operation failed or its outcome is unknown (Redis down, timeout, context
//     ended): the engine logs it and answers API error 100 "internal server error" /
//     client error 100 "internal".
//   - Channel names are full channel names (namespace and private prefix included).

// BrokerPublishOptions describes one publication for Broker.Publish.
type BrokerPublishOptions struct {
	// HistorySize and HistoryTTL enable the channel's stream: the publication gets
	// the next offset and is kept, at most HistorySize of them, until HistoryTTL
	// after the last publication. Zero (either) publishes without history: the
	// result position is zero and nothing is stored (except a delta base, below).
	HistorySize int
	HistoryTTL  time.Duration
	// HistoryMetaTTL is how long the stream's meta (top offset, epoch) outlives the
	// last publication (channel.history_meta_ttl; Redis: the meta hash TTL).
	HistoryMetaTTL time.Duration
	// IdempotencyKey, when set, makes the publish idempotent: a second publish with
	// the same key to the same channel within IdempotentResultTTL stores and delivers
	// nothing and returns the first one's position with Suppressed set.
	IdempotencyKey      string
	IdempotentResultTTL time.Duration
	// Version, when non-zero (with history only), suppresses the publication when the
	// stream's last versioned publication has a version ≥ Version and VersionEpoch
	// is empty or equal to its epoch (Centrifugo's versioned publish; a different
	// VersionEpoch resets the comparison).
	Version      uint64
	VersionEpoch string
	// UseDelta asks for the delta base: the payload of the channel's previous
	// publication travels with this one (memory: BrokerPublishResult.PrevData; Redis:
	// the __d1 envelope, then HandlePublication's prevPub on every node).
	UseDelta bool
	// DeltaNamespace tells a broker whose delta base is not the stream's previous
	// entry (memory) to remember this publication's payload as the channel's next
	// base, history or not: the namespace allows fossil deltas, so every publication
	// in it, delta or not, is what subscribers patch against next. Redis ignores it:
	// its base is the stream's previous entry, so without history there is none.
	DeltaNamespace bool
}

// BrokerPublishResult is what Broker.Publish reports.
type BrokerPublishResult struct {
	// Position is the publication's offset and the stream epoch; zero without history.
	Position codec.StreamPosition
	// Suppressed is set when nothing was published: a repeated idempotency key
	// (Position is the first publication's) or a stale Version (Position is the
	// stream's current top).
	Suppressed bool
	// PrevData is the delta base for a local broker (Local() true) and UseDelta: the
	// previous publication's payload, nil when there was none. Read-only; valid until
	// the caller releases the channel lock. Remote brokers leave it nil (the base
	// reaches every node through HandlePublication).
	PrevData []byte
}

// HistoryFilter selects publications of a stream (history-recovery.md §2).
type HistoryFilter struct {
	// Since, when set, selects publications after Since.Offset (before it when
	// Reverse). A non-empty Since.Epoch that differs from the stream's epoch makes
	// History fail with ErrorUnrecoverablePosition.
	Since *codec.StreamPosition
	// Limit caps the number of publications: 0 returns none (position only), < 0 all.
	Limit int
	// Reverse returns newest first.
	Reverse bool
}

// HistoryOptions are Broker.History's arguments besides the channel.
type HistoryOptions struct {
	Filter HistoryFilter
	// MetaTTL extends the stream meta's life, as a publication does; a read of a
	// missing or expired stream creates it with a fresh epoch (so a position taken
	// now is the one the next publication continues).
	MetaTTL time.Duration
}

// Broker carries a node's publications to the subscribers of every node and keeps
// channel streams (history, offsets, epochs, idempotency, delta bases).
//
// Ordering: the engine serializes, per channel on one node, Publish and its local
// fan-out, and joins and leaves (see chanlock.go). A Broker keeps the order of one
// channel's publications from one node, and a remote Broker hands a channel's
// messages to HandlePublication/HandleJoin/HandleLeave one at a time, in the order
// the broker received them (per-channel ordered workers).
type Broker interface {
	// RegisterBrokerEventHandler gives the broker the node that handles messages
	// from other nodes (for a remote broker: from every node, this one included).
	// Called once, by New, before any other method; a remote broker starts its
	// Pub/Sub machinery here and returns an error when it cannot (the node does
	// not start).
	RegisterBrokerEventHandler(h BrokerEventHandler) error

	// Local reports whether the broker serves this node alone (memory). Then
	// Publish, PublishJoin and PublishLeave never call the handler: the engine fans
	// out itself, under the channel lock, right after Publish returns (and skips
	// Publish entirely when there is nothing to store). A broker that is not local
	// (Redis) delivers every publication, join and leave to every node that
	// Subscribe'd the channel, the publishing node included, through the handler;
	// the engine then never fans out a publication itself, so each reaches each
	// local subscriber once. Constant for the broker's life.
	Local() bool

	// Subscribe makes the broker deliver ch's messages to the handler from now on.
	// The engine calls it when ch gets its first local subscriber, before reading
	// the stream position it gives that subscriber, so the subscription must be in
	// effect (Redis: SUBSCRIBE confirmed) when Subscribe returns nil. Subscribe and
	// Unsubscribe of one channel are never called concurrently (the engine holds the
	// channel lock). Local brokers: no-op. May batch concurrent calls.
	Subscribe(ctx context.Context, ch string) error
	// Unsubscribe stops delivery of ch after its last local subscriber left. An
	// error is logged by the engine; the broker should retry on its own (a stale
	// subscription only costs traffic). Local brokers: no-op.
	Unsubscribe(ctx context.Context, ch string) error

	// Publish publishes pub to ch: appended to ch's stream per opts, then delivered
	// (remote broker: to every node's handler; local: the engine fans out).
	// A local broker may keep pub (and its Data, Info and Tags: the engine hands
	// over copies) and sets pub.Offset, and pub.Epoch on an epoch's first
	// publication, before storing it; the engine then fans out pub itself and never
	// modifies it. A remote broker does not keep pub or anything it points to after
	// Publish returns (the engine passes the caller's buffers uncopied). opts is
	// read during the call only.
	// Atomic per channel: the stream append and the delivery happen in one step
	// (Redis: one Lua script does the append and PUBLISH).
	Publish(ctx context.Context, ch string, pub *codec.Publication, opts *BrokerPublishOptions) (BrokerPublishResult, error)
	// PublishJoin and PublishLeave deliver a join or leave of info to ch's
	// subscribers on every node (remote broker: back to this node's handler too).
	// Local brokers: no-op (the engine pushes them itself). info is not retained.
	PublishJoin(ctx context.Context, ch string, info *codec.ClientInfo) error
	PublishLeave(ctx context.Context, ch string, info *codec.ClientInfo) error

	// History reads ch's stream per opts and returns the selected publications and
	// the stream's current top position (history-recovery.md §2). Publications are
	// read-only (a local broker returns the ones it stores); the slice is the
	// caller's. ErrorUnrecoverablePosition when opts.Filter.Since has another epoch.
	History(ctx context.Context, ch string, opts HistoryOptions) ([]*codec.Publication, codec.StreamPosition, error)
	// RemoveHistory drops ch's stored publications; its top offset and epoch stay.
	RemoveHistory(ctx context.Context, ch string) error
}

// BrokerEventHandler is implemented by *Node: a broker hands it what arrives for
// channels the node Subscribe'd. Methods are called from the broker's worker
// goroutines, one at a time per channel in arrival order; they do not block on
// I/O (they take the channel lock and enqueue to local clients) and must not be
// called while holding a lock the engine takes. An error is logged by the broker.
type BrokerEventHandler interface {
	// HandlePublication fans pub out to ch's local subscribers. sp is the
	// publication's stream position (zero without history); useDelta and prevPub
	// (nil when there is no base) come from a delta publish. pub, prevPub and
	// everything they point to are the broker's and valid only during the call:
	// the handler copies what it keeps (it keeps nothing on the fan-out path, which
	// allocates nothing).
	HandlePublication(ch string, pub *codec.Publication, sp codec.StreamPosition, useDelta bool, prevPub *codec.Publication) error
	// HandleJoin and HandleLeave push a join or leave to ch's local subscribers that
	// asked for them. info is valid only during the call.
	HandleJoin(ch string, info *codec.ClientInfo) error
	HandleLeave(ch string, info *codec.ClientInfo) error
	// HandleStreamGap tells the node that ch's publications may have been lost on
	// the way (Redis connection lost, resubscribed, worker queue full): its
	// positioned subscribers get "insufficient state" (client-side: unsubscribe push
	// 2500, the SDK resubscribes and recovers from history; server-side: disconnect
	// 3010) and the node forgets the channel's last delivered position.
	HandleStreamGap(ch string)
}

// PresenceManager keeps who is subscribed to channels with presence, across nodes.
// A remote manager expires entries that are not refreshed: the engine calls
// AddPresence again for each entry every client.presence_update_interval.
type PresenceManager interface {
	// AddPresence adds or refreshes clientID's entry in ch. The manager may keep
	// info (a local one does): the caller never modifies it afterwards.
	AddPresence(ctx context.Context, ch, clientID string, info *codec.ClientInfo) error
	// RemovePresence removes clientID's entry (userID is the entry's user, for a
	// manager that keeps per-user counts, Redis presence_user_mapping).
	RemovePresence(ctx context.Context, ch, clientID, userID string) error
	// Presence returns ch's entries keyed by client ID; the map and the infos are
	// the caller's (never nil map on success).
	Presence(ctx context.Context, ch string) (map[string]*codec.ClientInfo, error)
	// PresenceStats counts ch's clients and distinct users.
	PresenceStats(ctx context.Context, ch string) (PresenceStats, error)
}

// Controller carries opaque node control messages (history-recovery.md §5.5, the
// engine's control.go encodes them) between nodes. A local controller delivers a
// message for all nodes, or for this node's ID, to this node's handler only.
type Controller interface {
	// RegisterControlEventHandler gives the controller this node's ID (Redis
	// subscribes P.node.<nodeID> besides P.control) and its handler. Called once,
	// by New, before PublishControl.
	RegisterControlEventHandler(nodeID string, h ControlEventHandler) error
	// PublishControl sends data to every node (nodeID "", this one included) or to
	// the node nodeID. data is not retained after PublishControl returns. A local
	// controller calls the handler on the caller's goroutine, so callers hold no
	// lock that HandleControl takes.
	PublishControl(ctx context.Context, data []byte, nodeID string) error
}

// ControlEventHandler is implemented by *Node. HandleControl receives one control
// message, data valid only during the call; called from the controller's goroutine
// (or PublishControl's, for a local controller), possibly concurrently.
type ControlEventHandler interface {
	HandleControl(data []byte) error
}

// Closer is implemented by brokers, presence managers and controllers that hold
// resources; Node.Shutdown closes each distinct one once, after the sessions are
// gone.
type Closer interface {
	Close(ctx context.Context) error
}
