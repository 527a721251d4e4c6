package redis

import (
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// Mode is how one shard reaches Redis.
type Mode string

const (
	ModeStandalone Mode = "standalone"
	ModeCluster    Mode = "cluster"
	ModeSentinel   Mode = "sentinel"
)

// shard is one independent Redis setup (standalone server, Sentinel-managed master
// or Cluster). Channels are spread over shards with shardIndex.
type shard struct {
	client rueidis.Client
	mode   Mode
	// cluster is true when keys need hash tags: a Cluster, whether configured with
	// cluster_address, redis+cluster:// or detected from the server.
	cluster bool
	// partitions > 0: sharded PUB/SUB partitions (cluster only).
	partitions int
	addr       string
	// pipe carries the publish scripts of a standalone shard (scriptpipe.go);
	// nil for Cluster and Sentinel.
	pipe *scriptPipe
}

// shardConfig is what building one shard's client needs.
type shardConfig struct {
	opt      rueidis.ClientOption
	mode     Mode
	explicit bool // mode from config (not only detectable after connecting)
	addr     string
}

// shardIndex picks the shard of channel ch among n: Jump Consistent Hash (Lamping &
// Veach) keyed by the 64-bit FNV-1a hash of the channel name, the function
// Centrifugo uses (so a Rotor node and a Centrifugo node put a channel on the same
// shard), and the one it uses for sharded PUB/SUB partitions.
func shardIndex(ch string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(ch))
	key := h.Sum64()
	var b, j int64 = -1, 0
	for j < int64(n) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}

// baseClientOption is the rueidis configuration every shard shares: pipelined,
// without client-side caching, failing commands instead of retrying them (callers
// have no per-call deadline; the I/O timeout and the keep-alive PINGs bound them).
func (o *Options) baseClientOption() (rueidis.ClientOption, error) {
	tlsCfg, err := buildTLS(o.TLS, o.key("tls"))
	if err != nil {
		return rueidis.ClientOption{}, err
	}
	return rueidis.ClientOption{
		SelectDB:         o.DB,
		Username:         o.User,
		Password:         o.Password,
		ClientName:       o.ClientName,
		TLSConfig:        tlsCfg,
		AlwaysRESP2:      o.ForceRESP2,
		ConnWriteTimeout: o.IOTimeout,
		ShuffleInit:      true,
		DisableCache:     true,
		AlwaysPipelining: true,
		MaxFlushDelay:    100 * time.Microsecond,
		DisableRetry:     true,
		Dialer: net.Dialer{
			Timeout: o.ConnectTimeout,
			// rueidis PINGs idle connections at this interval; a stalled one fails
			// its pending commands within about 2×KeepAlive + IOTimeout.
			KeepAlive: 400 * time.Millisecond,
		},
	}, nil
}

// shardConfigs turns the options (with defaults applied) into one config per
// shard: cluster_address wins over sentinel_address, which wins over address.
func (o *Options) shardConfigs() ([]shardConfig, error) {
	if err := o.validateCommon(); err != nil {
		return nil, err
	}
	base, err := o.baseClientOption()
	if err != nil {
		return nil, err
	}
	var out []shardConfig
	switch {
	case len(o.ClusterAddress) > 0:
		for i, a := range o.ClusterAddress {
			addrs, err := splitHostPorts(a, fmt.Sprintf("%s[%d]", o.key("cluster_address"), i))
			if err != nil {
				return nil, err
			}
			opt := base
			opt.InitAddress = addrs
			out = append(out, shardConfig{opt: opt, mode: ModeCluster, explicit: true, addr: a})
		}
	case len(o.SentinelAddress) > 0:
		if o.SentinelMasterName == "" {
			return nil, fmt.Errorf("%s: must be set when %s is", o.key("sentinel_master_name"), o.key("sentinel_address"))
		}
		stls, err := buildTLS(o.SentinelTLS, o.key("sentinel_tls"))
		if err != nil {
			return nil, err
		}
		for i, a := range o.SentinelAddress {
			addrs, err := splitHostPorts(a, fmt.Sprintf("%s[%d]", o.key("sentinel_address"), i))
			if err != nil {
				return nil, err
			}
			opt := base
			opt.InitAddress = addrs
			opt.Sentinel = rueidis.SentinelOption{
				MasterSet:               o.SentinelMasterName,
				Username:                o.SentinelUser,
				Password:                o.SentinelPassword,
				ClientName:              o.SentinelClientName,
				TLSConfig:               stls,
				TopologyRefreshInterval: 5 * time.Second,
			}
			out = append(out, shardConfig{opt: opt, mode: ModeSentinel, explicit: true, addr: a})
		}
	default:
		for i, a := range o.Address {
			sc, err := parseAddress(a, base, fmt.Sprintf("%s[%d]", o.key("address"), i))
			if err != nil {
				return nil, err
			}
			out = append(out, sc)
		}
	}
	return out, nil
}

// parseAddress reads one item of address: host:port or a Redis URL. URL query
// options (Centrifugo's): addr (more seeds), sentinel_master_name, connect_timeout,
// io_timeout, tls_enabled, force_resp2, sentinel_user, sentinel_password,
// sentinel_tls_enabled, replica_client_enabled (refused).
func parseAddress(a string, base rueidis.ClientOption, key string) (shardConfig, error) {
	sc := shardConfig{opt: base, mode: ModeStandalone, addr: a}
	if !strings.Contains(a, "://") {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" || port == "" {
			return sc, fmt.Errorf("%s: malformed address %q: must be a Redis URL or host:port", key, a)
		}
		sc.opt.InitAddress = []string{a}
		return sc, nil
	}
	u, err := url.Parse(a)
	if err != nil {
		return sc, fmt.Errorf("%s: malformed Redis URL: %w", key, err)
	}
	q := u.Query()
	opt := &sc.opt
	tlsScheme := false
	switch u.Scheme {
	case "redis", "tcp":
	case "rediss":
		tlsScheme = true
	case "redis+sentinel":
		sc.mode = ModeSentinel
	case "rediss+sentinel":
		sc.mode, tlsScheme = ModeSentinel, true
	case "redis+cluster":
		sc.mode = ModeCluster
	case "unix":
		if u.Path == "" {
			return sc, fmt.Errorf("%s: unix URL %q has no socket path", key, a)
		}
		opt.InitAddress = []string{u.Path}
		opt.DialFn = func(s string, d *net.Dialer, _ *tls.Config) (net.Conn, error) {
			return d.Dial("unix", s)
		}
	default:
		return sc, fmt.Errorf("%s: unsupported URL scheme %q (redis, rediss, tcp, unix, redis+sentinel, rediss+sentinel, redis+cluster)", key, u.Scheme)
	}
	if q.Has("sentinel_master_name") {
		opt.Sentinel.MasterSet = q.Get("sentinel_master_name")
		sc.mode = ModeSentinel
	}
	sc.explicit = sc.mode != ModeStandalone
	if u.Scheme != "unix" {
		if u.Host == "" {
			return sc, fmt.Errorf("%s: URL %q has no host", key, a)
		}
		opt.InitAddress = []string{u.Host}
		if p := strings.TrimPrefix(u.Path, "/"); p != "" {
			db, err := strconv.Atoi(p)
			if err != nil || db < 0 {
				return sc, fmt.Errorf("%s: database %q in URL path is not a number", key, p)
			}
			opt.SelectDB = db
		}
	}
	if u.User != nil {
		if name := u.User.Username(); name != "" {
			opt.Username = name
		}
		if pw, ok := u.User.Password(); ok {
			opt.Password = pw
		}
	}
	opt.InitAddress = append(opt.InitAddress, q["addr"]...)
	minTLS := func() *tls.Config { return &tls.Config{MinVersion: tls.VersionTLS12} }
	if tlsScheme && opt.TLSConfig == nil {
		opt.TLSConfig = minTLS()
	}
	if tlsScheme && sc.mode == ModeSentinel && opt.Sentinel.TLSConfig == nil {
		opt.Sentinel.TLSConfig = minTLS()
	}
	boolParam := func(name string) (bool, bool, error) {
		if !q.Has(name) {
			return false, false, nil
		}
		v, err := strconv.ParseBool(q.Get(name))
		if err != nil {
			return false, true, fmt.Errorf("%s: URL option %s=%q is not a boolean", key, name, q.Get(name))
		}
		return v, true, nil
	}
	durParam := func(name string, dst *time.Duration) error {
		if !q.Has(name) {
			return nil
		}
		d, err := time.ParseDuration(q.Get(name))
		if err != nil || d < 0 {
			return fmt.Errorf("%s: URL option %s=%q is not a duration", key, name, q.Get(name))
		}
		*dst = d
		return nil
	}
	if err := durParam("connect_timeout", &opt.Dialer.Timeout); err != nil {
		return sc, err
	}
	if err := durParam("io_timeout", &opt.ConnWriteTimeout); err != nil {
		return sc, err
	}
	if v, ok, err := boolParam("tls_enabled"); err != nil {
		return sc, err
	} else if ok && v && opt.TLSConfig == nil {
		opt.TLSConfig = minTLS()
	}
	if v, ok, err := boolParam("force_resp2"); err != nil {
		return sc, err
	} else if ok {
		opt.AlwaysRESP2 = v
	}
	if q.Has("sentinel_user") {
		opt.Sentinel.Username = q.Get("sentinel_user")
	}
	if q.Has("sentinel_password") {
		opt.Sentinel.Password = q.Get("sentinel_password")
	}
	if v, ok, err := boolParam("sentinel_tls_enabled"); err != nil {
		return sc, err
	} else if ok && v && opt.Sentinel.TLSConfig == nil {
		opt.Sentinel.TLSConfig = minTLS()
	}
	if v, _, err := boolParam("replica_client_enabled"); err != nil {
		return sc, err
	} else if v {
		return sc, fmt.Errorf("%s: URL option replica_client_enabled: Rotor does not read from replicas", key)
	}
	if sc.mode == ModeSentinel {
		if opt.Sentinel.MasterSet == "" {
			return sc, fmt.Errorf("%s: a Sentinel URL needs the sentinel_master_name option", key)
		}
		opt.Sentinel.TopologyRefreshInterval = 5 * time.Second
	}
	return sc, nil
}

// newShard creates the rueidis client of one shard. rueidis connects at creation,
// so an unreachable Redis fails here.
func newShard(sc shardConfig, partitions int) (*shard, error) {
	client, err := rueidis.NewClient(sc.opt)
	if err != nil {
		return nil, err
	}
	s := &shard{client: client, mode: sc.mode, addr: sc.addr}
	// A cluster given as a plain address is detected by rueidis (CLUSTER SHARDS).
	if client.Mode() == rueidis.ClientModeCluster {
		s.mode = ModeCluster
	}
	s.cluster = s.mode == ModeCluster
	if s.mode == ModeStandalone {
		s.pipe = newScriptPipe(sc.opt, sc.opt.ConnWriteTimeout)
	}
	if partitions > 0 {
		if !s.cluster {
			client.Close()
			return nil, errors.New("sharded PUB/SUB needs Redis Cluster")
		}
		s.partitions = partitions
	}
	return s, nil
}

// errClusterChannel refuses, in Redis Cluster without sharded PUB/SUB, a channel
// whose name starts with '}': its {CH} hash tag would be empty.
var errClusterChannel = errors.New("redis: a channel name starting with '}' cannot be used with Redis Cluster")

// checkChannel reports whether ch can be stored on s.
func (s *shard) checkChannel(ch string) error {
	if s.cluster && s.partitions == 0 && strings.HasPrefix(ch, "}") {
		return errClusterChannel
	}
	return nil
}

// appendTagged appends the channel part of a key or PUB/SUB name: CH standalone,
// {CH} in a cluster, {<partition>}.CH with sharded PUB/SUB when partitioned.
func (s *shard) appendTagged(dst []byte, ch string, partitioned bool) []byte {
	if !s.cluster {
		return append(dst, ch...)
	}
	if partitioned && s.partitions > 0 {
		dst = append(dst, '{')
		dst = strconv.AppendInt(dst, int64(shardIndex(ch, s.partitions)), 10)
		dst = append(dst, "}."...)
		return append(dst, ch...)
	}
	dst = append(dst, '{')
	dst = append(dst, ch...)
	return append(dst, '}')
}
