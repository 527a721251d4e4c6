package redis

import (
	"testing"

	"github.com/rotorhq/rotor/broker/brokertest"
	"github.com/rotorhq/rotor/broker/redis/redistest"
	"github.com/rotorhq/rotor/engine"
)

// The shared conformance suite on Redis Cluster without sharded PUB/SUB ({CH} hash
// tags, PUBLISH over the cluster bus); TestBrokerConformance covers standalone and
// sharded PUB/SUB.
func TestConformanceCluster(t *testing.T) {
	c := redistest.SharedCluster(t)
	brokertest.Run(t, func(t *testing.T) (engine.Broker, engine.PresenceManager) {
		b := newTestBroker(t, nil, Options{ClusterAddress: c.Addrs()[:1]})
		return b, b
	})
}
