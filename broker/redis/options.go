package redis

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// Defaults, as Centrifugo v6 has them (shared/spec/config.md §7).
const (
	DefaultAddress        = "redis://127.0.0.1:6379"
	DefaultPrefix         = "centrifugo"
	DefaultConnectTimeout = time.Second
	DefaultIOTimeout      = 4 * time.Second
	DefaultPresenceTTL    = 60 * time.Second
	// DefaultIdempotentResultTTL is how long an idempotent publish remembers its
	// result (§1.2).
	DefaultIdempotentResultTTL = 300 * time.Second
)

// Options configure the Redis engine: the engine.redis section of Centrifugo's
// config (or broker.redis / presence_manager.redis). The zero value of a field means
// Centrifugo's default.
type Options struct {
	// KeyPrefix is the config section the options came from ("engine.redis" when
	// empty); errors name keys below it.
	KeyPrefix string

	// Address lists standalone (or URL-described) Redis shards: host:port,
	// redis://[user[:password]@]host:port[/db][?options], rediss://…, tcp://…,
	// unix://path, redis+sentinel://…?sentinel_master_name=…, redis+cluster://….
	// Several addresses shard channels over independent Redis setups with
	// Centrifugo's channel→shard function. Default [DefaultAddress]. Ignored
	// when ClusterAddress or SentinelAddress is set.
	Address []string
	// ClusterAddress enables Redis Cluster: each item is one cluster (seed
	// addresses host:port, comma-separated); several items shard channels over
	// several clusters.
	ClusterAddress []string
	// SentinelAddress enables Sentinel: each item is one Sentinel-managed shard
	// (sentinel host:port list, comma-separated). SentinelMasterName is required.
	SentinelAddress    []string
	SentinelMasterName string
	SentinelUser       string
	SentinelPassword   string
	SentinelClientName string
	SentinelTLS        TLSOptions

	// Prefix starts every Redis key and PUB/SUB channel name; default
	// DefaultPrefix ("centrifugo").
	Prefix string

	ConnectTimeout time.Duration // default 1s
	IOTimeout      time.Duration // default 4s

	DB         int
	User       string
	Password   string
	ClientName string
	ForceRESP2 bool
	TLS        TLSOptions

	// ReplicaClient is replica_client.enabled. Rotor reads from masters only, so
	// true is refused by Validate.
	ReplicaClient bool

	// ShardedPubSubPartitions > 0 (Redis Cluster only) uses sharded PUB/SUB
	// (SPUBLISH/SSUBSCRIBE) over this many partitions: channel names and history
	// keys are tagged {partition}.CH instead of {CH}, as in centrifuge's
	// NumShardedPubSubPartitions.
	ShardedPubSubPartitions int

	// HistoryUseLists keeps history in Redis LISTs (legacy history_use_lists).
	HistoryUseLists bool

	// PresenceTTL is how long presence information lives without refresh; default
	// 60s.
	PresenceTTL time.Duration
	// PresenceHashFieldTTL uses per-field hash expiration (Redis ≥ 7.4).
	PresenceHashFieldTTL bool
	// PresenceUserMapping keeps per-user presence hashes for cheap stats.
	PresenceUserMapping bool
}

// TLSOptions are a tls section (Centrifugo's TLSConfig for a client): PEM values may
// be raw PEM, base64-encoded PEM or a file path.
type TLSOptions struct {
	Enabled            bool
	CertPEM            string
	KeyPEM             string
	ServerCAPEM        string
	ClientCAPEM        string
	InsecureSkipVerify bool
	ServerName         string
}

func (o *Options) key(k string) string {
	p := o.KeyPrefix
	if p == "" {
		p = "engine.redis"
	}
	return p + "." + k
}

// withDefaults returns o with Centrifugo's defaults in place of zero values.
func (o Options) withDefaults() Options {
	if len(o.Address) == 0 {
		o.Address = []string{DefaultAddress}
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.IOTimeout == 0 {
		o.IOTimeout = DefaultIOTimeout
	}
	if o.PresenceTTL == 0 {
		o.PresenceTTL = DefaultPresenceTTL
	}
	return o
}

// Validate checks what can be checked without connecting; an error names the key.
func (o *Options) Validate() error {
	d := o.withDefaults()
	_, err := d.shardConfigs()
	return err
}

func (o *Options) validateCommon() error {
	switch {
	case o.ConnectTimeout < 0:
		return fmt.Errorf("%s: must not be negative, got %s", o.key("connect_timeout"), o.ConnectTimeout)
	case o.IOTimeout < 0:
		return fmt.Errorf("%s: must not be negative, got %s", o.key("io_timeout"), o.IOTimeout)
	case o.DB < 0:
		return fmt.Errorf("%s: must not be negative, got %d", o.key("db"), o.DB)
	case o.PresenceTTL < time.Second || o.PresenceTTL%time.Second != 0:
		return fmt.Errorf("%s: must be a whole number of seconds, at least 1s, got %s", o.key("presence_ttl"), o.PresenceTTL)
	case o.ReplicaClient:
		return fmt.Errorf("%s: Rotor does not read from replicas; remove the key or set it to false", o.key("replica_client.enabled"))
	case o.ShardedPubSubPartitions < 0:
		return fmt.Errorf("%s: must not be negative, got %d", o.key("sharded_pubsub_partitions"), o.ShardedPubSubPartitions)
	case o.ShardedPubSubPartitions > 0 && len(o.ClusterAddress) == 0:
		// A redis+cluster:// address is checked once the client knows its mode.
		if !anyClusterURL(o.Address) || len(o.SentinelAddress) > 0 {
			return fmt.Errorf("%s: sharded PUB/SUB needs Redis Cluster (%s)", o.key("sharded_pubsub_partitions"), o.key("cluster_address"))
		}
	case o.ShardedPubSubPartitions > 0 && o.HistoryUseLists:
		return fmt.Errorf("%s: lists are not supported together with sharded PUB/SUB", o.key("history_use_lists"))
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		return fmt.Errorf("%s: %q must not contain '{' or '}' (Redis Cluster hash tags)", o.key("prefix"), o.Prefix)
	}
	return nil
}

func anyClusterURL(addrs []string) bool {
	for _, a := range addrs {
		if strings.HasPrefix(a, "redis+cluster://") {
			return true
		}
	}
	return false
}

// buildTLS turns a tls section into a *tls.Config (nil when disabled).
func buildTLS(t TLSOptions, key string) (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CertPEM != "" || t.KeyPEM != "" {
		if t.CertPEM == "" || t.KeyPEM == "" {
			return nil, fmt.Errorf("%s: cert_pem and key_pem must be set together", key)
		}
		cert, err := LoadPEM(t.CertPEM)
		if err != nil {
			return nil, fmt.Errorf("%s.cert_pem: %w", key, err)
		}
		k, err := LoadPEM(t.KeyPEM)
		if err != nil {
			return nil, fmt.Errorf("%s.key_pem: %w", key, err)
		}
		pair, err := tls.X509KeyPair(cert, k)
		if err != nil {
			return nil, fmt.Errorf("%s.cert_pem: %w", key, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if t.ServerCAPEM != "" {
		ca, err := LoadPEM(t.ServerCAPEM)
		if err != nil {
			return nil, fmt.Errorf("%s.server_ca_pem: %w", key, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("%s.server_ca_pem: no certificate found", key)
		}
		cfg.RootCAs = pool
	}
	if t.ClientCAPEM != "" {
		ca, err := LoadPEM(t.ClientCAPEM)
		if err != nil {
			return nil, fmt.Errorf("%s.client_ca_pem: %w", key, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("%s.client_ca_pem: no certificate found", key)
		}
		cfg.ClientCAs = pool
	}
	return cfg, nil
}

// LoadPEM reads a PEM value as Centrifugo does for every TLS key (Redis and the
// listeners alike): raw PEM, base64 of PEM, or a path to a PEM file, tried in that
// order.
func LoadPEM(v string) ([]byte, error) {
	if b, _ := pem.Decode([]byte(v)); b != nil {
		return []byte(v), nil
	}
	if dec, err := base64.StdEncoding.DecodeString(v); err == nil {
		if b, _ := pem.Decode(dec); b != nil {
			return dec, nil
		}
	}
	if _, err := os.Stat(v); err == nil {
		data, err := os.ReadFile(v)
		if err != nil {
			return nil, err
		}
		if b, _ := pem.Decode(data); b == nil {
			return nil, fmt.Errorf("file %q holds no PEM data", v)
		}
		return data, nil
	}
	return nil, errors.New("not raw PEM, base64-encoded PEM or a path to a PEM file")
}

// splitHostPorts splits a comma-separated address list and checks each item is
// host:port.
func splitHostPorts(v, key string) ([]string, error) {
	parts := strings.Split(v, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		parts[i] = p
		if _, _, err := net.SplitHostPort(p); err != nil {
			return nil, fmt.Errorf("%s: malformed address %q: must be host:port", key, p)
		}
	}
	return parts, nil
}
