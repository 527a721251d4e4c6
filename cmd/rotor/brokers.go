package main

import (
	"fmt"
	"log/slog"

	"github.com/rotorhq/rotor/broker/memory"
	"github.com/rotorhq/rotor/broker/redis"
	"github.com/rotorhq/rotor/cmd/rotor/config"
	"github.com/rotorhq/rotor/engine"
)

// backends are the broker, presence manager and controller main hands the engine,
// and what closes them after the node shut down.
type backends struct {
	broker   engine.Broker
	presence engine.PresenceManager
	control  engine.Controller
	closers  []func()
}

// close releases the Redis clients, each once.
func (b *backends) close() {
	for _, c := range b.closers {
		c()
	}
}

// buildBackends builds what sc.Backend names (engine.type, broker.*,
// presence_manager.*; redis_config.go reads them): memory, or Redis through
// broker/redis. A Redis that does not answer fails the start, as in Centrifugo,
// with an error naming the key of the section; nothing falls back to memory (a node
// running alone would silently split the cluster).
func buildBackends(sc *config.ServerConfig, logger *slog.Logger) (*backends, error) {
	var out backends
	brokerType, brokerOpts := sc.Backend.Broker()
	presenceType, presenceOpts := sc.Backend.PresenceManager()
	brokerKey, presenceKey := "engine.type", "engine.type"
	if sc.Backend.BrokerEnabled {
		brokerKey = "broker.type"
	}
	if sc.Backend.PresenceManagerEnabled {
		presenceKey = "presence_manager.type"
	}
	var mem *memory.Broker
	memOnce := func() *memory.Broker {
		if mem == nil {
			mem = memory.New()
		}
		return mem
	}
	var brokerRedis *redis.Broker
	switch brokerType {
	case config.TypeMemory:
		m := memOnce()
		out.broker, out.control = m, m
	case config.TypeRedis:
		r, err := redis.New(brokerOpts)
		if err != nil {
			return nil, fmt.Errorf("%s: redis: %w", brokerKey, err)
		}
		out.closers = append(out.closers, r.Close)
		r.SetLogger(logger)
		brokerRedis = r
		out.broker, out.control = r, r
		logger.Info("broker: redis", "modes", r.Modes())
	default:
		return nil, fmt.Errorf("%s: %q is not supported by Rotor (memory or redis)", brokerKey, brokerType)
	}
	switch presenceType {
	case config.TypeMemory:
		out.presence = memOnce()
	case config.TypeRedis:
		r := brokerRedis
		if r == nil || sc.Backend.PresenceManagerEnabled {
			var err error
			if r, err = redis.New(presenceOpts); err != nil {
				out.close()
				return nil, fmt.Errorf("%s: redis: %w", presenceKey, err)
			}
			out.closers = append(out.closers, r.Close)
			r.SetLogger(logger)
		}
		out.presence = r
	default:
		out.close()
		return nil, fmt.Errorf("%s: %q is not supported by Rotor (memory or redis)", presenceKey, presenceType)
	}
	if mem != nil && brokerType == config.TypeRedis {
		// A memory presence manager beside a Redis broker lists only this node's
		// clients; Centrifugo allows the mix, so does Rotor, but says so.
		logger.Warn("presence is kept in memory while the broker is Redis: presence lists only this node's clients")
	}
	return &out, nil
}
