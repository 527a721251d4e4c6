package redis

import (
	"testing"

	"github.com/rotorhq/rotor/broker/brokertest"
	"github.com/rotorhq/rotor/broker/redis/redistest"
	"github.com/rotorhq/rotor/engine"
)

// The shared conformance suite against the Redis engine on one redis-server: a
// fresh Broker (history, Pub/Sub and presence) per subtest.
// TestConformanceShardedPubSub (pubsub_conformance_test.go) covers sharded PUB/SUB.
func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	brokertest.Run(t, func(t *testing.T) (engine.Broker, engine.PresenceManager) {
		b := newTestBroker(t, srv, Options{})
		return b, b
	})
}

// The same on Redis Cluster without sharded PUB/SUB ({CH} hash tags, PUBLISH over
// the cluster bus).
func TestConformanceCluster(t *testing.T) {
	c := redistest.SharedCluster(t)
	brokertest.Run(t, func(t *testing.T) (engine.Broker, engine.PresenceManager) {
		b := newTestBroker(t, nil, Options{ClusterAddress: c.Addrs()[:1]})
		return b, b
	})
}
