package config

import (
	"fmt"
	"strings"

	"github.com/rotorhq/rotor/broker/redis"
)

// This file maps engine.type, engine.redis.*, broker.* and presence_manager.*
// (shared/spec/config.md §7; Centrifugo's configtypes.Engine, Broker and
// PresenceManager) onto BackendConfig.

// Engine type names.
const (
	TypeMemory = "memory"
	TypeRedis  = "redis"
)

// BackendConfig says which broker and presence manager the node uses.
type BackendConfig struct {
	// EngineType is engine.type: memory (default) or redis.
	EngineType string
	// EngineRedis is engine.redis.*, used by both when EngineType is redis.
	EngineRedis redis.Options
	// BrokerEnabled is broker.enabled: the broker is configured by broker.type and
	// broker.redis.* instead of the engine section.
	BrokerEnabled bool
	BrokerType    string
	BrokerRedis   redis.Options
	// PresenceManagerEnabled is presence_manager.enabled, likewise.
	PresenceManagerEnabled bool
	PresenceManagerType    string
	PresenceManagerRedis   redis.Options
}

// Broker returns the broker type in force ("memory" or "redis") and, for redis,
// its options: broker.* when broker.enabled, else engine.*.
func (c *BackendConfig) Broker() (string, redis.Options) {
	if c.BrokerEnabled {
		return c.BrokerType, c.BrokerRedis
	}
	return c.EngineType, c.EngineRedis
}

// PresenceManager returns the presence manager type in force and its options:
// presence_manager.* when presence_manager.enabled, else engine.*.
func (c *BackendConfig) PresenceManager() (string, redis.Options) {
	if c.PresenceManagerEnabled {
		return c.PresenceManagerType, c.PresenceManagerRedis
	}
	return c.EngineType, c.EngineRedis
}

// Section prefixes.
const (
	keyEngine          = "engine"
	keyBroker          = "broker"
	keyPresenceManager = "presence_manager"
)

// redisSectionKeys are the keys of a Redis section (Centrifugo's configtypes.Redis
// and the section's own), relative to it, with the field each fills.
func redisSectionKeys(o *redis.Options, section string) []Key {
	keys := []Key{
		{"address", &o.Address},
		{"prefix", &o.Prefix},
		{"connect_timeout", &o.ConnectTimeout},
		{"io_timeout", &o.IOTimeout},
		{"db", &o.DB},
		{"user", &o.User},
		{"password", &o.Password},
		{"client_name", &o.ClientName},
		{"force_resp2", &o.ForceRESP2},
		{"cluster_address", &o.ClusterAddress},
		{"sentinel_address", &o.SentinelAddress},
		{"sentinel_user", &o.SentinelUser},
		{"sentinel_password", &o.SentinelPassword},
		{"sentinel_master_name", &o.SentinelMasterName},
		{"sentinel_client_name", &o.SentinelClientName},
		{"replica_client.enabled", &o.ReplicaClient},
	}
	keys = append(keys, tlsKeys("tls", &o.TLS)...)
	keys = append(keys, tlsKeys("sentinel_tls", &o.SentinelTLS)...)
	if section != keyPresenceManager {
		keys = append(keys, Key{"history_use_lists", &o.HistoryUseLists})
	}
	if section != keyBroker {
		keys = append(keys,
			Key{"presence_ttl", &o.PresenceTTL},
			Key{"presence_hash_field_ttl", &o.PresenceHashFieldTTL},
			Key{"presence_user_mapping", &o.PresenceUserMapping},
		)
	}
	return keys
}

func tlsKeys(p string, t *redis.TLSOptions) []Key {
	return []Key{
		{p + ".enabled", &t.Enabled},
		{p + ".cert_pem", &t.CertPEM},
		{p + ".key_pem", &t.KeyPEM},
		{p + ".server_ca_pem", &t.ServerCAPEM},
		{p + ".client_ca_pem", &t.ClientCAPEM},
		{p + ".insecure_skip_verify", &t.InsecureSkipVerify},
		{p + ".server_name", &t.ServerName},
	}
}

// backendKeys are every key of this file with its full dotted path.
func backendKeys(c *BackendConfig) []Key {
	keys := []Key{
		{keyEngine + ".type", &c.EngineType},
		{keyBroker + ".enabled", &c.BrokerEnabled},
		{keyBroker + ".type", &c.BrokerType},
		{keyPresenceManager + ".enabled", &c.PresenceManagerEnabled},
		{keyPresenceManager + ".type", &c.PresenceManagerType},
	}
	for _, sec := range []struct {
		name string
		o    *redis.Options
	}{{keyEngine, &c.EngineRedis}, {keyBroker, &c.BrokerRedis}, {keyPresenceManager, &c.PresenceManagerRedis}} {
		for _, k := range redisSectionKeys(sec.o, sec.name) {
			keys = append(keys, Key{sec.name + ".redis." + k.Path, k.Field})
		}
	}
	return keys
}

// applyBackendEnv sets the keys of this file from CENTRIFUGO_ENGINE_REDIS_ADDRESS
// and the like (lists space-separated).
func (s *source) applyBackendEnv(envs *envSet) {
	for _, k := range backendKeys(&BackendConfig{}) {
		s.applyEnvKey(envs, k.Path, envName(k.Path), isList(k.Field))
	}
}

// extractBackend fills cfg.Backend from the tree.
func (s *source) extractBackend(cfg *ServerConfig) error {
	c := &cfg.Backend
	for _, k := range backendKeys(c) {
		if err := s.read(k.Path, k.Field); err != nil {
			return err
		}
	}
	c.EngineRedis.KeyPrefix = keyEngine + ".redis"
	c.BrokerRedis.KeyPrefix = keyBroker + ".redis"
	c.PresenceManagerRedis.KeyPrefix = keyPresenceManager + ".redis"
	for _, t := range []*string{&c.EngineType, &c.BrokerType, &c.PresenceManagerType} {
		*t = strings.ToLower(strings.TrimSpace(*t))
		if *t == "" {
			*t = TypeMemory
		}
	}
	return nil
}

// validate refuses a type Rotor does not have and checks the Redis options in use;
// errors name the key.
func (c *BackendConfig) validate() error {
	for _, t := range []struct {
		key, val string
		used     bool
	}{
		{keyEngine + ".type", c.EngineType, true},
		{keyBroker + ".type", c.BrokerType, c.BrokerEnabled},
		{keyPresenceManager + ".type", c.PresenceManagerType, c.PresenceManagerEnabled},
	} {
		if !t.used {
			continue
		}
		if t.val != TypeMemory && t.val != TypeRedis {
			return fmt.Errorf("%s: %q is not supported by Rotor (memory or redis)", t.key, t.val)
		}
	}
	if typ, o := c.Broker(); typ == TypeRedis {
		if err := o.Validate(); err != nil {
			return err
		}
	}
	if typ, o := c.PresenceManager(); typ == TypeRedis {
		if err := o.Validate(); err != nil {
			return err
		}
	}
	return nil
}
