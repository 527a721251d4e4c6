package redis

import (
	"os"
	"testing"

	"github.com/rotorhq/rotor/broker/redis/redistest"
)

// TestMain stops the Redis Cluster the package's tests share (redistest.SharedCluster).
func TestMain(m *testing.M) {
	code := m.Run()
	redistest.CloseShared()
	os.Exit(code)
}
