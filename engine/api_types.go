package engine

import "github.com/rotorhq/rotor/codec"

// PublishOptions are the per-call knobs of Node.Publish.
type PublishOptions struct {
	// Tags are attached to the publication.
	Tags map[string]string
	// SkipHistory publishes without saving to history.
	SkipHistory bool
	// IdempotencyKey deduplicates publishes within a window.
	IdempotencyKey string
	// Delta allows delta encoding for subscribers that negotiated it.
	Delta bool
	// Info is the publisher's ClientInfo, set for client-side publishes.
	Info *codec.ClientInfo
}

// PublishResult is the stream position of a publication; zero when the channel keeps
// no history.
type PublishResult struct {
	Offset uint64
	Epoch  string
}

// NodeInfo is one node as the info API reports it.
type NodeInfo struct {
	UID, Name, Version                         string
	NumClients, NumUsers, NumChannels, NumSubs uint32
	Uptime                                     uint32
	// Metrics are the node's aggregated metrics when it shares them (Centrifugo
	// nodes do, once a minute); nil otherwise. Read-only.
	Metrics *NodeMetrics
}

// NodeMetrics are a node's metric values aggregated over Interval seconds.
type NodeMetrics struct {
	Interval float64
	Items    map[string]float64
}
