package redis

import (
	"testing"

	"github.com/rotorhq/rotor/broker/brokertest"
	"github.com/rotorhq/rotor/broker/redis/redistest"
	"github.com/rotorhq/rotor/engine"
)

// The shared conformance suite with sharded Pub/Sub in Redis Cluster
// (SSUBSCRIBE/SPUBLISH over 4 partitions; conformance_test.go runs the
// standalone and plain cluster setups).
func TestConformanceShardedPubSub(t *testing.T) {
	c := redistest.SharedCluster(t)
	brokertest.Run(t, func(t *testing.T) (engine.Broker, engine.PresenceManager) {
		b := newTestBroker(t, nil, Options{ClusterAddress: c.Addrs()[:1], ShardedPubSubPartitions: 4})
		b.ps.workers = 2
		return b, b
	})
}
