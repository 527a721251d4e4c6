package memory_test

import (
	"testing"

	"github.com/rotorhq/rotor/broker/brokertest"
	"github.com/rotorhq/rotor/broker/memory"
	"github.com/rotorhq/rotor/engine"
)

func TestConformance(t *testing.T) {
	brokertest.Run(t, func(t *testing.T) (engine.Broker, engine.PresenceManager) {
		b := memory.New()
		return b, b
	})
}
