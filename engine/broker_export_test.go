package engine

// NewTestBroker builds the broker of the engine's internal tests. Package engine's
// tests cannot import broker/memory (it imports engine); the external test package
// sets this in its init (broker_memory_test.go), so internal tests run against the
// real in-memory broker.
var NewTestBroker func() (Broker, PresenceManager)

// withBroker returns cfg with a fresh test broker unless it names one.
func withBroker(cfg Config) Config {
	if cfg.Broker == nil {
		if NewTestBroker == nil {
			panic("engine tests: NewTestBroker not set (broker_memory_test.go)")
		}
		cfg.Broker, cfg.PresenceManager = NewTestBroker()
	}
	return cfg
}
