package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/broker/redis"
)

// defaultBackend is BackendConfig with nothing configured.
func defaultBackend() BackendConfig {
	return BackendConfig{
		EngineType:           "memory",
		EngineRedis:          redis.Options{KeyPrefix: "engine.redis"},
		BrokerType:           "memory",
		BrokerRedis:          redis.Options{KeyPrefix: "broker.redis"},
		PresenceManagerType:  "memory",
		PresenceManagerRedis: redis.Options{KeyPrefix: "presence_manager.redis"},
	}
}

func TestRedisConfigEngineKeys(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "redis.yaml", `
engine:
  type: redis
  redis:
    address: ["redis://:pw@127.0.0.1:6379/2", "127.0.0.1:6380"]
    prefix: myapp
    connect_timeout: 2s
    io_timeout: 5s
    db: 1
    user: alice
    password: secret
    client_name: rotor
    force_resp2: true
    sentinel_user: su
    sentinel_password: sp
    sentinel_master_name: mymaster
    sentinel_client_name: sc
    tls:
      enabled: true
      insecure_skip_verify: true
      server_name: redis.local
    sentinel_tls:
      enabled: true
      server_name: sentinel.local
    replica_client:
      enabled: false
    history_use_lists: true
    presence_ttl: 30s
    presence_hash_field_ttl: true
    presence_user_mapping: true
`)
	got, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := defaultBackend()
	want.EngineType = "redis"
	want.EngineRedis = redis.Options{
		KeyPrefix:            "engine.redis",
		Address:              []string{"redis://:pw@127.0.0.1:6379/2", "127.0.0.1:6380"},
		Prefix:               "myapp",
		ConnectTimeout:       2 * time.Second,
		IOTimeout:            5 * time.Second,
		DB:                   1,
		User:                 "alice",
		Password:             "secret",
		ClientName:           "rotor",
		ForceRESP2:           true,
		SentinelUser:         "su",
		SentinelPassword:     "sp",
		SentinelMasterName:   "mymaster",
		SentinelClientName:   "sc",
		TLS:                  redis.TLSOptions{Enabled: true, InsecureSkipVerify: true, ServerName: "redis.local"},
		SentinelTLS:          redis.TLSOptions{Enabled: true, ServerName: "sentinel.local"},
		HistoryUseLists:      true,
		PresenceTTL:          30 * time.Second,
		PresenceHashFieldTTL: true,
		PresenceUserMapping:  true,
	}
	if !reflect.DeepEqual(got.Backend, want) {
		t.Fatalf("got  %+v\nwant %+v", got.Backend, want)
	}
	if len(got.Ignored) != 0 {
		t.Fatalf("ignored %q", got.Ignored)
	}
	typ, o := got.Backend.Broker()
	if typ != "redis" || o.Prefix != "myapp" {
		t.Fatalf("broker %s %+v", typ, o)
	}
	typ, o = got.Backend.PresenceManager()
	if typ != "redis" || !o.PresenceUserMapping {
		t.Fatalf("presence manager %s %+v", typ, o)
	}
}

func TestRedisConfigEnv(t *testing.T) {
	t.Parallel()
	got, err := Load("", []string{
		"CENTRIFUGO_ENGINE_TYPE=redis",
		"CENTRIFUGO_ENGINE_REDIS_ADDRESS=redis://a:1 redis://b:2",
		"ROTOR_ENGINE_REDIS_PREFIX=rotor",
		"CENTRIFUGO_ENGINE_REDIS_PREFIX=cf", // ROTOR_ wins
		"CENTRIFUGO_ENGINE_REDIS_CLUSTER_ADDRESS=127.0.0.1:7000,127.0.0.1:7001 127.0.0.1:8000",
		"CENTRIFUGO_ENGINE_REDIS_TLS_ENABLED=true",
		"CENTRIFUGO_ENGINE_REDIS_TLS_SERVER_NAME=r.local",
		"CENTRIFUGO_ENGINE_REDIS_PRESENCE_TTL=90s",
		"CENTRIFUGO_ENGINE_REDIS_IO_TIMEOUT=3s",
		"CENTRIFUGO_BROKER_ENABLED=true",
		"CENTRIFUGO_BROKER_TYPE=redis",
		"CENTRIFUGO_BROKER_REDIS_ADDRESS=redis://broker:6379",
		"CENTRIFUGO_BROKER_REDIS_HISTORY_USE_LISTS=true",
		"CENTRIFUGO_PRESENCE_MANAGER_ENABLED=true",
		"CENTRIFUGO_PRESENCE_MANAGER_TYPE=memory",
		"CENTRIFUGO_PRESENCE_MANAGER_REDIS_PRESENCE_USER_MAPPING=true",
	})
	if err != nil {
		t.Fatal(err)
	}
	b := got.Backend
	if b.EngineType != "redis" || !reflect.DeepEqual(b.EngineRedis.Address, []string{"redis://a:1", "redis://b:2"}) ||
		b.EngineRedis.Prefix != "rotor" || !b.EngineRedis.TLS.Enabled || b.EngineRedis.TLS.ServerName != "r.local" ||
		b.EngineRedis.PresenceTTL != 90*time.Second || b.EngineRedis.IOTimeout != 3*time.Second ||
		!reflect.DeepEqual(b.EngineRedis.ClusterAddress, []string{"127.0.0.1:7000,127.0.0.1:7001", "127.0.0.1:8000"}) {
		t.Fatalf("engine %+v", b)
	}
	typ, o := b.Broker()
	if typ != "redis" || o.Address[0] != "redis://broker:6379" || !o.HistoryUseLists || o.KeyPrefix != "broker.redis" {
		t.Fatalf("broker %s %+v", typ, o)
	}
	typ, o = b.PresenceManager()
	if typ != "memory" || !o.PresenceUserMapping {
		t.Fatalf("presence manager %s %+v", typ, o)
	}
	if len(got.Ignored) != 0 {
		t.Fatalf("ignored %q", got.Ignored)
	}
}

func TestRedisConfigSectionsKeepTheirKeys(t *testing.T) {
	t.Parallel()
	// history_use_lists belongs to broker.redis, presence_ttl to
	// presence_manager.redis: the other section reports them unknown.
	path := writeFile(t, "s.json", `{
		"broker": {"enabled": true, "type": "redis", "redis": {"address": ["127.0.0.1:1"], "presence_ttl": "10s", "history_use_lists": true}},
		"presence_manager": {"enabled": true, "type": "redis", "redis": {"cluster_address": ["127.0.0.1:2"], "history_use_lists": true, "presence_ttl": "10s"}}
	}`)
	got, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"broker.redis.presence_ttl", "presence_manager.redis.history_use_lists"}; !reflect.DeepEqual(got.Ignored, want) {
		t.Fatalf("ignored %q, want %q", got.Ignored, want)
	}
	if _, o := got.Backend.Broker(); !o.HistoryUseLists {
		t.Fatal("broker.redis.history_use_lists not applied")
	}
	if _, o := got.Backend.PresenceManager(); o.PresenceTTL != 10*time.Second || o.ClusterAddress[0] != "127.0.0.1:2" {
		t.Fatalf("presence_manager.redis %+v", o)
	}
}

func TestRedisConfigErrorsNameKey(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file string
		env  []string
		key  string
	}{
		{`{"engine":{"type":"nats"}}`, nil, "engine.type"},
		{`{"broker":{"enabled":true,"type":"postgres"}}`, nil, "broker.type"},
		{`{"presence_manager":{"enabled":true,"type":"nats"}}`, nil, "presence_manager.type"},
		{`{"engine":{"type":"redis","redis":{"sentinel_address":["127.0.0.1:26379"]}}}`, nil, "engine.redis.sentinel_master_name"},
		{`{"engine":{"type":"redis","redis":{"replica_client":{"enabled":true}}}}`, nil, "engine.redis.replica_client.enabled"},
		{`{"engine":{"type":"redis","redis":{"address":["redis://h:1","nohost"]}}}`, nil, "engine.redis.address[1]"},
		{`{"engine":{"type":"redis","redis":{"presence_ttl":"500ms"}}}`, nil, "engine.redis.presence_ttl"},
		{`{"engine":{"type":"redis","redis":{"tls":{"enabled":true,"server_ca_pem":"garbage"}}}}`, nil, "engine.redis.tls.server_ca_pem"},
		{`{"engine":{"redis":{"db":"x"}}}`, nil, "engine.redis.db"},
		{`{"broker":{"enabled":true,"type":"redis","redis":{"cluster_address":["bad"]}}}`, nil, "broker.redis.cluster_address[0]"},
		{`{"presence_manager":{"enabled":true,"type":"redis","redis":{"address":["ftp://x:1"]}}}`, nil, "presence_manager.redis.address[0]"},
		{"", []string{"CENTRIFUGO_ENGINE_REDIS_CONNECT_TIMEOUT=soon"}, "engine.redis.connect_timeout"},
	}
	for _, c := range cases {
		path := ""
		if c.file != "" {
			path = writeFile(t, "bad.json", c.file)
		}
		_, err := Load(path, c.env)
		if err == nil {
			t.Errorf("%s %v: accepted", c.file, c.env)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.key) {
			t.Errorf("%s %v: error %q does not start with %s", c.file, c.env, err, c.key)
		}
		if c.env != nil && !strings.Contains(err.Error(), "CENTRIFUGO_ENGINE_REDIS_CONNECT_TIMEOUT") {
			t.Errorf("error %q does not name the variable", err)
		}
	}
	// A memory engine does not validate the unused Redis section.
	path := writeFile(t, "unused.json", `{"engine":{"type":"memory","redis":{"sentinel_address":["127.0.0.1:1"]}}}`)
	if _, err := Load(path, nil); err != nil {
		t.Fatalf("unused redis section refused: %v", err)
	}
}
