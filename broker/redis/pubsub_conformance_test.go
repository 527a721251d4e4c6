package redis

import (
	"strings"
	"testing"

	"github.com/rotorhq/rotor/broker/brokertest"
	"github.com/rotorhq/rotor/broker/redis/redistest"
	"github.com/rotorhq/rotor/engine"
)

// The shared broker conformance suite against Redis: standalone, and a
// 3-master Redis Cluster with sharded Pub/Sub (one server or cluster for all
// subtests, which use distinct channels).
func TestBrokerConformance(t *testing.T) {
	t.Run("standalone", func(t *testing.T) {
		srv := redistest.Start(t)
		brokertest.Run(t, func(t *testing.T) (engine.Broker, engine.PresenceManager) {
			b := newTestBroker(t, srv, Options{})
			b.ps.workers = 2
			return b, b
		})
	})
	t.Run("cluster-sharded-pubsub", func(t *testing.T) {
		cl := redistest.SharedCluster(t)
		addrs := strings.Join(cl.Addrs(), ",")
		brokertest.Run(t, func(t *testing.T) (engine.Broker, engine.PresenceManager) {
			b := newTestBroker(t, nil, Options{ClusterAddress: []string{addrs}, ShardedPubSubPartitions: 4})
			b.ps.workers = 2
			return b, b
		})
	})
}
