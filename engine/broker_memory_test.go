package engine_test

import (
	"github.com/rotorhq/rotor/broker/memory"
	"github.com/rotorhq/rotor/engine"
)

func init() {
	engine.NewTestBroker = func() (engine.Broker, engine.PresenceManager) {
		b := memory.New()
		return b, b
	}
}
