package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"gopkg.in/yaml.v3"

	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/engine"
	"github.com/rotorhq/rotor/netio"
)

// This file maps Centrifugo v6 configuration (shared/spec/config.md) onto Rotor's
// options structs. It is the only place that knows Centrifugo's key names and the
// CENTRIFUGO_* / ROTOR_* environment variables.

// ServerConfig is everything the rotor binary needs, already validated.
type ServerConfig struct {
	// Address is http_server.address; "" listens on all interfaces.
	Address string
	// Port is http_server.port; default 8000. 0 (explicit) picks a free port.
	Port int
	// MaxHeaderBytes is http_server.max_header_bytes, a Rotor key (Centrifugo has
	// none: net/http's 1 MiB applies there): the largest request head, in bytes, on
	// the client port (WebSocket upgrades and HTTP requests) and the internal port;
	// default (and 0) 32768, at least 1024.
	MaxHeaderBytes int
	// LogLevel is log.level, lower-cased: none, trace, debug, info, warn, error or
	// fatal; default info. Other names are kept (the logger warns and uses info).
	LogLevel string
	// AllowedOrigins is client.allowed_origins (origin globs); empty allows only
	// requests without an Origin header.
	AllowedOrigins []string
	// MessageSizeLimit is websocket.message_size_limit in bytes; default (and 0) 65536.
	MessageSizeLimit int
	// WriteTimeout is websocket.write_timeout; default (and 0) 1s.
	WriteTimeout time.Duration
	// QueueMaxSize is client.queue_max_size in bytes; default (and 0) 1048576.
	QueueMaxSize int
	// InternalAddress and InternalPort are http_server.internal_address/internal_port:
	// when the port is set, the server API, health and metrics are served there and
	// not on the client port (unless http_api.external).
	InternalAddress string
	InternalPort    int
	// APIExternal is http_api.external: keep the API on the client port too.
	APIExternal bool
	// HealthEnabled is health.enabled: serve GET /health (Centrifugo serves it only
	// when enabled).
	HealthEnabled bool
	// PrometheusEnabled is prometheus.enabled: serve GET /metrics.
	PrometheusEnabled bool
	// UsageStatsDisabled is usage_stats.disabled. Rotor never sends usage statistics,
	// so the key is accepted and has no effect.
	UsageStatsDisabled bool
	// Engine is the engine configuration (client.*, channel.*, node.name). Version
	// and HubShards are left for main to fill.
	Engine engine.Config
	// Proxies are the configured HTTP proxies (client.proxy.*, channel.proxy.*,
	// rpc.proxy, proxies); BuildProxies turns those in use into Engine's callers.
	Proxies ProxiesConfig
	// API is the HTTP server API configuration (http_api.key, insecure, error_mode).
	API api.Config
	// Backend is engine.type, engine.redis.*, broker.* and presence_manager.*
	// (redis_config.go).
	Backend BackendConfig
	// Ignored lists, sorted, what the file and environment set that Rotor does not
	// apply (yet): dotted key paths for file keys ("engine.type", "admin.enabled",
	// "channel.namespaces[0].delta_publish") and variable names for environment
	// variables ("CENTRIFUGO_ENGINE_TYPE"). main prints them once at start.
	Ignored []string
	// Report sorts Ignored by what the operator should hear of it (report.go).
	Report Report

	// ext holds the registered topics' structs (topics.go), by type.
	ext map[reflect.Type]any
}

// Defaults of the keys Load maps (Centrifugo's defaults).
const (
	defaultPort             = 8000
	defaultMaxHeaderBytes   = netio.DefaultMaxHeaderBytes
	defaultLogLevel         = "info"
	defaultMessageSizeLimit = 65536
	defaultWriteTimeout     = time.Second
	defaultQueueMaxSize     = 1048576
	defaultPingInterval     = 25 * time.Second
	defaultPongTimeout      = 8 * time.Second
	defaultStaleCloseDelay  = 10 * time.Second
	defaultExpiredDelay     = 25 * time.Second
	defaultChannelLimit     = 128
	defaultChannelMaxLength = 255
	defaultHistoryMetaTTL   = 720 * time.Hour
)

// Environment variable prefixes. Both map onto the same keys; ROTOR_ wins when both
// are set to a non-empty value.
const (
	envPrefixRotor      = "ROTOR_"
	envPrefixCentrifugo = "CENTRIFUGO_"
)

// errNotObject is wrapped when a config section that must be an object is not.
var errNotObject = errors.New("expected an object")

// topKeys are the scalar and list keys Load maps, with the field each one fills.
// Their environment variable is the key upper-cased with '.' → '_' after a prefix.
func topKeys(c *ServerConfig) []Key {
	e := &c.Engine
	keys := []Key{
		{"http_server.address", &c.Address},
		{"http_server.port", &c.Port},
		{"http_server.max_header_bytes", &c.MaxHeaderBytes},
		{"log.level", &c.LogLevel},
		{"client.allowed_origins", &c.AllowedOrigins},
		{"client.ping_interval", &e.PingInterval},
		{"client.pong_timeout", &e.PongTimeout},
		{"client.stale_close_delay", &e.StaleCloseDelay},
		{"client.expired_close_delay", &e.ExpiredCloseDelay},
		{"client.channel_limit", &e.ChannelLimit},
		{"client.expired_sub_close_delay", &e.ExpiredSubCloseDelay},
		{"client.user_connection_limit", &e.UserConnectionLimit},
		{"client.connection_limit", &e.ConnectionLimit},
		{"client.user_id_http_header", &e.UserIDHTTPHeader},
		{"client.subscribe_to_user_personal_channel.enabled", &e.PersonalChannel.Enabled},
		{"client.subscribe_to_user_personal_channel.personal_channel_namespace", &e.PersonalChannel.Namespace},
		{"client.subscribe_to_user_personal_channel.single_connection", &e.PersonalChannel.SingleConnection},
		{"client.history_max_publication_limit", &e.HistoryMaxPublicationLimit},
		{"client.recovery_max_publication_limit", &e.RecoveryMaxPublicationLimit},
		{"client.presence_update_interval", &e.PresenceUpdateInterval},
		{"client.disallow_anonymous_connection_tokens", &e.DisallowAnonymousConnectionTokens},
		{"client.connect_include_server_time", &e.ConnectIncludeServerTime},
		{"client.queue_max_size", &c.QueueMaxSize},
		{"client.allow_anonymous_connect_without_token", &e.AllowAnonymousConnectWithoutToken},
		{"client.insecure", &e.Insecure},
		{"websocket.message_size_limit", &c.MessageSizeLimit},
		{"websocket.write_timeout", &c.WriteTimeout},
		{"http_api.key", &c.API.Key},
		{"http_api.insecure", &c.API.Insecure},
		{"http_api.error_mode", &c.API.ErrorMode},
		{"channel.max_length", &e.ChannelMaxLength},
		{"node.name", &e.Name},
		{"health.enabled", &c.HealthEnabled},
		{"http_server.internal_address", &c.InternalAddress},
		{"http_server.internal_port", &c.InternalPort},
		{"http_api.external", &c.APIExternal},
		{"usage_stats.disabled", &c.UsageStatsDisabled},
		{"prometheus.enabled", &c.PrometheusEnabled},
	}
	return append(keys, tokenKeys(e)...)
}

// tokenKeys are the JWT verification keys: client.token.*,
// client.subscription_token.* and client.insecure_skip_token_signature_verify.
// client.token.hmac_secret_key fills TokenHMACSecretKey, the key gentoken and dev
// mode use; the engine takes it when Token.HMACSecretKey is empty.
func tokenKeys(e *engine.Config) []Key {
	section := func(prefix string, t *engine.TokenConfig, hmacKey *string) []Key {
		return []Key{
			{prefix + ".hmac_secret_key", hmacKey},
			{prefix + ".hmac_previous_secret_key", &t.HMACPreviousSecretKey},
			{prefix + ".hmac_previous_secret_key_valid_until", &t.HMACPreviousSecretKeyValidUntil},
			{prefix + ".rsa_public_key", &t.RSAPublicKey},
			{prefix + ".ecdsa_public_key", &t.ECDSAPublicKey},
			{prefix + ".jwks_public_endpoint", &t.JWKSPublicEndpoint},
			{prefix + ".audience", &t.Audience},
			{prefix + ".audience_regex", &t.AudienceRegex},
			{prefix + ".issuer", &t.Issuer},
			{prefix + ".issuer_regex", &t.IssuerRegex},
			{prefix + ".user_id_claim", &t.UserIDClaim},
			{prefix + ".insecure_skip_jwks_endpoint_safety_check", &t.InsecureSkipJWKSEndpointSafetyCheck},
		}
	}
	keys := section("client.token", &e.Token, &e.TokenHMACSecretKey)
	keys = append(keys, section("client.subscription_token", &e.SubscriptionToken, &e.SubscriptionToken.HMACSecretKey)...)
	return append(keys,
		Key{"client.subscription_token.enabled", &e.SubscriptionTokenEnabled},
		Key{"client.insecure_skip_token_signature_verify", &e.InsecureSkipTokenSignatureVerify},
	)
}

// Key is one config key and the field it fills: *string, *int, *int64,
// *bool, *time.Duration or *[]string.
type Key struct {
	Path  string
	Field any
}

// nsOptions are the namespace option keys (channels-and-namespaces.md §2) that
// engine.NamespaceOptions holds, for channel.without_namespace and every
// channel.namespaces item. Options the engine does not have yet (proxies,
// delta_publish, allowed_delta_types, subscription_type, …) are reported in Ignored.
var nsOptions = []struct {
	key   string
	field func(*engine.NamespaceOptions) any
}{
	{"name", func(o *engine.NamespaceOptions) any { return &o.Name }},
	{"presence", func(o *engine.NamespaceOptions) any { return &o.Presence }},
	{"join_leave", func(o *engine.NamespaceOptions) any { return &o.JoinLeave }},
	{"force_push_join_leave", func(o *engine.NamespaceOptions) any { return &o.ForcePushJoinLeave }},
	{"history_size", func(o *engine.NamespaceOptions) any { return &o.HistorySize }},
	{"history_ttl", func(o *engine.NamespaceOptions) any { return &o.HistoryTTL }},
	{"history_meta_ttl", func(o *engine.NamespaceOptions) any { return &o.HistoryMetaTTL }},
	{"force_positioning", func(o *engine.NamespaceOptions) any { return &o.ForcePositioning }},
	{"allow_positioning", func(o *engine.NamespaceOptions) any { return &o.AllowPositioning }},
	{"force_recovery", func(o *engine.NamespaceOptions) any { return &o.ForceRecovery }},
	{"allow_recovery", func(o *engine.NamespaceOptions) any { return &o.AllowRecovery }},
	{"force_recovery_mode", func(o *engine.NamespaceOptions) any { return &o.ForceRecoveryMode }},
	{"allow_subscribe_for_client", func(o *engine.NamespaceOptions) any { return &o.AllowSubscribeForClient }},
	{"allow_subscribe_for_anonymous", func(o *engine.NamespaceOptions) any { return &o.AllowSubscribeForAnonymous }},
	{"allow_publish_for_client", func(o *engine.NamespaceOptions) any { return &o.AllowPublishForClient }},
	{"allow_publish_for_subscriber", func(o *engine.NamespaceOptions) any { return &o.AllowPublishForSubscriber }},
	{"allow_publish_for_anonymous", func(o *engine.NamespaceOptions) any { return &o.AllowPublishForAnonymous }},
	{"allow_presence_for_client", func(o *engine.NamespaceOptions) any { return &o.AllowPresenceForClient }},
	{"allow_presence_for_subscriber", func(o *engine.NamespaceOptions) any { return &o.AllowPresenceForSubscriber }},
	{"allow_presence_for_anonymous", func(o *engine.NamespaceOptions) any { return &o.AllowPresenceForAnonymous }},
	{"allow_history_for_client", func(o *engine.NamespaceOptions) any { return &o.AllowHistoryForClient }},
	{"allow_history_for_subscriber", func(o *engine.NamespaceOptions) any { return &o.AllowHistoryForSubscriber }},
	{"allow_history_for_anonymous", func(o *engine.NamespaceOptions) any { return &o.AllowHistoryForAnonymous }},
	{"allow_user_limited_channels", func(o *engine.NamespaceOptions) any { return &o.AllowUserLimitedChannels }},
	{"allow_tags_filter", func(o *engine.NamespaceOptions) any { return &o.AllowTagsFilter }},
	{"allowed_delta_types", func(o *engine.NamespaceOptions) any { return &o.AllowedDeltaTypes }},
	{"delta_publish", func(o *engine.NamespaceOptions) any { return &o.DeltaPublish }},
	{"auto_cache_recover", func(o *engine.NamespaceOptions) any { return &o.AutoCacheRecover }},
	{"channel_regex", func(o *engine.NamespaceOptions) any { return &o.ChannelRegex }},
	{"publication_data_format", func(o *engine.NamespaceOptions) any { return &o.PublicationDataFormat }},
	{"subscribe_proxy_enabled", func(o *engine.NamespaceOptions) any { return &o.SubscribeProxyEnabled }},
	{"subscribe_proxy_name", func(o *engine.NamespaceOptions) any { return &o.SubscribeProxyName }},
	{"publish_proxy_enabled", func(o *engine.NamespaceOptions) any { return &o.PublishProxyEnabled }},
	{"publish_proxy_name", func(o *engine.NamespaceOptions) any { return &o.PublishProxyName }},
	{"sub_refresh_proxy_enabled", func(o *engine.NamespaceOptions) any { return &o.SubRefreshProxyEnabled }},
	{"sub_refresh_proxy_name", func(o *engine.NamespaceOptions) any { return &o.SubRefreshProxyName }},
}

// Global channel keys that supply the namespaces' defaults.
const (
	keyHistoryMetaTTL        = "channel.history_meta_ttl"
	keyPublicationDataFormat = "channel.publication_data_format"
	keyNamespaces            = "channel.namespaces"
	keyWithoutNamespace      = "channel.without_namespace"
)

// Load reads the config file at path (format by extension: .json, .yaml/.yml,
// .toml; "" → no file, defaults only), then applies the environment env (entries
// "KEY=VALUE", as os.Environ returns them; a later entry for the same name wins, so
// main may append flag values as ROTOR_* entries to give them precedence).
//
// Environment (shared/spec/config.md §1.1): CENTRIFUGO_<KEY> and ROTOR_<KEY>, the key
// upper-cased with '.' → '_', ROTOR_ winning; empty values are ignored; lists are
// space-separated; CENTRIFUGO_CHANNEL_NAMESPACES holds the namespaces as a JSON array;
// CENTRIFUGO_CHANNEL_NAMESPACES_<NAME>_<OPTION> sets one option of an existing
// namespace (<NAME> upper-cased with '.' and '-' → '_').
//
// Values are weakly typed as in Centrifugo (viper): "8000" is a valid port and "true"
// a valid boolean. Durations are Go duration strings ("25s"); a bare number is
// nanoseconds. Keys are case-insensitive. An invalid value returns an error that names
// its dotted key (and the variable, when it came from the environment), as do the
// checks of engine.Config.Validate and api.Config.Validate. A path that does not exist
// returns an error wrapping fs.ErrNotExist (main decides whether a missing default
// config.json is fatal).
func Load(path string, env []string) (*ServerConfig, error) {
	tree := map[string]any{}
	if path != "" {
		var err error
		if tree, err = readConfigFile(path); err != nil {
			return nil, err
		}
	}
	s := &source{tree: tree, consumed: map[string]bool{}, origin: map[string]string{}}
	envs := newEnvSet(env)
	cfg := &ServerConfig{}
	if err := s.applyEnv(envs, cfg); err != nil {
		return nil, err
	}
	if err := s.extract(cfg); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ignoredKeys, unknownEnv := s.unknownKeys(), envs.unknown()
	cfg.Ignored = append(slices.Clone(ignoredKeys), unknownEnv...)
	slices.Sort(cfg.Ignored)
	cfg.Ignored = slices.Compact(cfg.Ignored)
	cfg.Report = s.report(ignoredKeys, envs, unknownEnv) // report.go
	cfg.Report.sort()
	return cfg, nil
}

// readConfigFile parses the file at path into a tree of maps with lower-cased keys.
func readConfigFile(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config file: %w", err)
	}
	var raw any
	ext := strings.ToLower(filepath.Ext(path))
	switch ext {
	case ".json":
		raw, err = parseJSON(data)
	case ".yaml", ".yml":
		var m map[string]any
		err = yaml.Unmarshal(data, &m)
		raw = m
	case ".toml":
		var m map[string]any
		err = toml.Unmarshal(data, &m)
		raw = m
	default:
		return nil, fmt.Errorf("config file %s: unsupported format %q (want .json, .yaml, .yml or .toml)", path, ext)
	}
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	switch m := normalize(raw).(type) {
	case nil:
		return map[string]any{}, nil // empty document
	case map[string]any:
		return m, nil
	default:
		return nil, fmt.Errorf("config file %s: top level must be an object, got %s", path, typeName(m))
	}
}

// parseJSON decodes one JSON document keeping numbers exact; white space only is an
// empty document.
func parseJSON(data []byte) (any, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid data after the top-level JSON value")
	}
	return v, nil
}

// normalize converts a decoded document into maps with lower-cased string keys and
// []any arrays (keys are case-insensitive, as with viper).
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[strings.ToLower(k)] = normalize(val)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[strings.ToLower(fmt.Sprint(k))] = normalize(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = normalize(val)
		}
		return out
	case []map[string]any: // TOML arrays of tables
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = normalize(val)
		}
		return out
	default:
		return v
	}
}

// source is the merged document (file, then environment) being read.
type source struct {
	tree map[string]any
	// consumed holds the dotted paths Load applied.
	consumed map[string]bool
	// origin maps a dotted path to the environment variable that set it.
	origin map[string]string
}

// applyEnv writes the values of known environment variables into the tree.
func (s *source) applyEnv(envs *envSet, cfg *ServerConfig) error {
	for _, k := range allKeys(cfg) {
		s.applyEnvKey(envs, k.Path, envName(k.Path), isList(k.Field))
	}
	var probe engine.NamespaceOptions
	for _, o := range nsOptions[1:] { // without_namespace has no name
		p := keyWithoutNamespace + "." + o.key
		s.applyEnvKey(envs, p, envName(p), isList(o.field(&probe)))
	}
	for _, p := range []string{keyHistoryMetaTTL, keyPublicationDataFormat} {
		s.applyEnvKey(envs, p, envName(p), false)
	}
	if err := s.applyProxyEnv(envs); err != nil { // proxies.go
		return err
	}
	s.applyBackendEnv(envs) // redis_config.go

	if val, name, ok := envs.lookup(envName(keyNamespaces)); ok {
		v, err := parseJSON([]byte(val))
		if err != nil {
			return fmt.Errorf("%s: invalid JSON in %s: %w", keyNamespaces, name, err)
		}
		if _, isArray := v.([]any); !isArray && v != nil {
			return fmt.Errorf("%s: %s must hold a JSON array of objects", keyNamespaces, name)
		}
		if err := s.set(keyNamespaces, normalize(v)); err != nil {
			return err
		}
		s.origin[keyNamespaces] = name
	}

	// One option of an existing namespace: CENTRIFUGO_CHANNEL_NAMESPACES_<NAME>_<OPTION>.
	parent, err := s.parentOf(keyNamespaces)
	if err != nil || parent == nil {
		return err
	}
	items, _ := parent["namespaces"].([]any)
	for i, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			continue // reported by extract
		}
		var nsName string
		if err := convert(m["name"], &nsName); err != nil || nsName == "" {
			continue
		}
		prefix := envName(keyNamespaces) + "_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(nsName)) + "_"
		for _, o := range nsOptions[1:] {
			val, name, ok := envs.lookup(prefix + strings.ToUpper(o.key))
			if !ok {
				continue
			}
			m[o.key] = envValue(val, isList(o.field(&probe)))
			s.origin[fmt.Sprintf("%s[%d].%s", keyNamespaces, i, o.key)] = name
		}
	}
	return nil
}

// applyEnvKey sets the dotted key p from its environment variable, if set.
func (s *source) applyEnvKey(envs *envSet, p, suffix string, list bool) {
	val, name, ok := envs.lookup(suffix)
	if !ok {
		return
	}
	// set fails only when a parent is not an object; the variable replaces it.
	if err := s.set(p, envValue(val, list)); err != nil {
		s.forceSet(p, envValue(val, list))
	}
	s.origin[p] = name
}

// envValue turns a variable's value into a tree value: lists are space-separated.
func envValue(val string, list bool) any {
	if !list {
		return val
	}
	fields := strings.Fields(val)
	out := make([]any, len(fields))
	for i, f := range fields {
		out[i] = f
	}
	return out
}

// envName is the variable suffix of a dotted key: client.ping_interval →
// CLIENT_PING_INTERVAL.
func envName(p string) string { return strings.ToUpper(strings.ReplaceAll(p, ".", "_")) }

func isList(field any) bool {
	_, ok := field.(*[]string)
	return ok
}

// parentOf returns the map holding the last segment of the dotted path p, or nil when
// a parent is absent. A parent that is present but not an object is an error naming it.
func (s *source) parentOf(p string) (map[string]any, error) {
	m := s.tree
	segs := strings.Split(p, ".")
	for i, seg := range segs[:len(segs)-1] {
		v, ok := m[seg]
		if !ok || v == nil {
			return nil, nil
		}
		next, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: %w, got %s", strings.Join(segs[:i+1], "."), errNotObject, typeName(v))
		}
		m = next
	}
	return m, nil
}

// object returns the object at the dotted path p, or nil when absent or null.
func (s *source) object(p string) (map[string]any, error) {
	parent, err := s.parentOf(p)
	if err != nil || parent == nil {
		return nil, err
	}
	v := parent[p[strings.LastIndexByte(p, '.')+1:]]
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: %w, got %s", p, errNotObject, typeName(v))
	}
	return m, nil
}

// set stores v at the dotted path p, creating absent parents.
func (s *source) set(p string, v any) error {
	m := s.tree
	segs := strings.Split(p, ".")
	for i, seg := range segs[:len(segs)-1] {
		next, ok := m[seg]
		if !ok || next == nil {
			created := map[string]any{}
			m[seg] = created
			m = created
			continue
		}
		nm, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %w, got %s", strings.Join(segs[:i+1], "."), errNotObject, typeName(next))
		}
		m = nm
	}
	m[segs[len(segs)-1]] = v
	return nil
}

// forceSet is set that replaces parents which are not objects.
func (s *source) forceSet(p string, v any) {
	m := s.tree
	segs := strings.Split(p, ".")
	for _, seg := range segs[:len(segs)-1] {
		nm, ok := m[seg].(map[string]any)
		if !ok {
			nm = map[string]any{}
			m[seg] = nm
		}
		m = nm
	}
	m[segs[len(segs)-1]] = v
}

// read converts the value at dotted path p into field, when present.
func (s *source) read(p string, field any) error {
	parent, err := s.parentOf(p)
	if err != nil || parent == nil {
		return err
	}
	return s.readIn(parent, p[strings.LastIndexByte(p, '.')+1:], p, field)
}

// readIn converts m[key] into field, naming the value p in errors.
func (s *source) readIn(m map[string]any, key, p string, field any) error {
	v, ok := m[key]
	if !ok {
		return nil
	}
	s.consumed[p] = true
	if v == nil {
		return nil // null leaves the default
	}
	if err := convert(v, field); err != nil {
		if name := s.originOf(p); name != "" {
			return fmt.Errorf("%s: %w (from %s)", p, err, name)
		}
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

// originOf names the environment variable that set p or one of its parents.
func (s *source) originOf(p string) string {
	for {
		if name, ok := s.origin[p]; ok {
			return name
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			return ""
		}
		p = p[:i]
	}
}

// extract fills cfg from the tree.
func (s *source) extract(cfg *ServerConfig) error {
	cfg.Port = defaultPort
	cfg.MaxHeaderBytes = defaultMaxHeaderBytes
	cfg.LogLevel = defaultLogLevel
	cfg.MessageSizeLimit = defaultMessageSizeLimit
	cfg.WriteTimeout = defaultWriteTimeout
	cfg.QueueMaxSize = defaultQueueMaxSize
	e := &cfg.Engine
	e.PingInterval = defaultPingInterval
	e.PongTimeout = defaultPongTimeout
	e.StaleCloseDelay = defaultStaleCloseDelay
	e.ExpiredCloseDelay = defaultExpiredDelay
	e.ChannelLimit = defaultChannelLimit
	e.ChannelMaxLength = defaultChannelMaxLength

	for _, k := range allKeys(cfg) {
		if err := s.read(k.Path, k.Field); err != nil {
			return err
		}
	}
	cfg.LogLevel = strings.ToLower(cfg.LogLevel)
	if cfg.LogLevel == "" {
		cfg.LogLevel = defaultLogLevel
	}
	if cfg.MessageSizeLimit == 0 {
		cfg.MessageSizeLimit = defaultMessageSizeLimit
	}
	if cfg.MaxHeaderBytes == 0 {
		cfg.MaxHeaderBytes = defaultMaxHeaderBytes
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = defaultWriteTimeout
	}
	if cfg.QueueMaxSize == 0 {
		cfg.QueueMaxSize = defaultQueueMaxSize
	}
	if e.Name == "" {
		if host, err := os.Hostname(); err == nil && host != "" {
			e.Name = host + "_" + strconv.Itoa(cfg.Port) // Centrifugo's default node name
		}
	}

	var globalMetaTTL time.Duration
	var globalFormat string
	if err := s.read(keyHistoryMetaTTL, &globalMetaTTL); err != nil {
		return err
	}
	if err := s.read(keyPublicationDataFormat, &globalFormat); err != nil {
		return err
	}
	switch globalFormat {
	case "", "json", "json_object", "binary":
	default:
		return fmt.Errorf("%s: %q is not one of \"\", json, json_object, binary", keyPublicationDataFormat, globalFormat)
	}
	if globalMetaTTL < 0 || globalMetaTTL%time.Second != 0 {
		return fmt.Errorf("%s: %s is not a whole, non-negative number of seconds", keyHistoryMetaTTL, globalMetaTTL)
	}

	without, err := s.object(keyWithoutNamespace)
	if err != nil {
		return err
	}
	if without != nil {
		if err := s.readNamespace(without, keyWithoutNamespace, &e.WithoutNamespace, false); err != nil {
			return err
		}
	}

	parent, err := s.parentOf(keyNamespaces)
	if err != nil {
		return err
	}
	if v := parent["namespaces"]; v != nil {
		items, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: expected a list of objects, got %s", keyNamespaces, typeName(v))
		}
		if len(items) > 0 {
			e.Namespaces = make([]engine.NamespaceOptions, 0, len(items))
		}
		for i, it := range items {
			p := fmt.Sprintf("%s[%d]", keyNamespaces, i)
			m, ok := it.(map[string]any)
			if !ok {
				return fmt.Errorf("%s: %w, got %s", p, errNotObject, typeName(it))
			}
			var ns engine.NamespaceOptions
			if err := s.readNamespace(m, p, &ns, true); err != nil {
				return err
			}
			e.Namespaces = append(e.Namespaces, ns)
		}
	}

	for _, ns := range cfg.allNamespaces() {
		if ns.opts.HistoryMetaTTL == 0 {
			ns.opts.HistoryMetaTTL = globalMetaTTL
		}
		if ns.opts.PublicationDataFormat == "" {
			ns.opts.PublicationDataFormat = globalFormat
		}
	}
	if err := s.extractBackend(cfg); err != nil { // redis_config.go
		return err
	}
	return s.extractProxies(cfg) // proxies.go
}

// readNamespace reads the namespace options in m (named p in errors).
func (s *source) readNamespace(m map[string]any, p string, o *engine.NamespaceOptions, withName bool) error {
	for _, opt := range nsOptions {
		if opt.key == "name" && !withName {
			continue
		}
		if err := s.readIn(m, opt.key, p+"."+opt.key, opt.field(o)); err != nil {
			return err
		}
	}
	return nil
}

// namedNamespace is a namespace's options with the dotted path naming them.
type namedNamespace struct {
	path string
	opts *engine.NamespaceOptions
}

func (c *ServerConfig) allNamespaces() []namedNamespace {
	out := []namedNamespace{{keyWithoutNamespace, &c.Engine.WithoutNamespace}}
	for i := range c.Engine.Namespaces {
		out = append(out, namedNamespace{fmt.Sprintf("%s[%d]", keyNamespaces, i), &c.Engine.Namespaces[i]})
	}
	return out
}

// validate checks the values Load owns, then the engine's and the API's rules.
func (c *ServerConfig) validate() error {
	if c.Port < 0 || c.Port > math.MaxUint16 {
		return fmt.Errorf("http_server.port: %d is out of range 0-65535", c.Port)
	}
	if c.MaxHeaderBytes < netio.MinMaxHeaderBytes {
		return fmt.Errorf("http_server.max_header_bytes: %d is below %d", c.MaxHeaderBytes, netio.MinMaxHeaderBytes)
	}
	// log.level is not checked here: as Centrifugo, an unknown level logs a warning
	// and uses info (cmd/rotor/logging.go).
	if c.MessageSizeLimit < 0 {
		return fmt.Errorf("websocket.message_size_limit: %d must not be negative", c.MessageSizeLimit)
	}
	if c.WriteTimeout < 0 {
		return fmt.Errorf("websocket.write_timeout: %s must not be negative", c.WriteTimeout)
	}
	if c.QueueMaxSize < 0 {
		return fmt.Errorf("client.queue_max_size: %d must not be negative", c.QueueMaxSize)
	}
	if c.Engine.ExpiredCloseDelay < 0 {
		return fmt.Errorf("client.expired_close_delay: %s must not be negative", c.Engine.ExpiredCloseDelay)
	}
	if c.Engine.ChannelMaxLength < 0 {
		return fmt.Errorf("channel.max_length: %d must not be negative", c.Engine.ChannelMaxLength)
	}
	if err := c.Engine.Validate(); err != nil {
		return err
	}
	if err := c.API.Validate(); err != nil {
		return err
	}
	if err := c.Backend.validate(); err != nil { // redis_config.go
		return err
	}
	// Centrifugo's history rules (channels-and-namespaces.md §2) beyond the engine's.
	for _, ns := range c.allNamespaces() {
		o := ns.opts
		for _, d := range []struct {
			key string
			val time.Duration
		}{{"history_ttl", o.HistoryTTL}, {"history_meta_ttl", o.HistoryMetaTTL}} {
			if d.val < 0 || d.val%time.Second != 0 {
				return fmt.Errorf("%s.%s: %s is not a whole, non-negative number of seconds", ns.path, d.key, d.val)
			}
		}
		meta := o.HistoryMetaTTL
		if meta == 0 {
			meta = defaultHistoryMetaTTL
		}
		if o.HistoryTTL > meta {
			return fmt.Errorf("%s.history_ttl: %s is greater than the history meta TTL %s", ns.path, o.HistoryTTL, meta)
		}
		if o.ForceRecovery && (o.HistorySize == 0 || o.HistoryTTL == 0) {
			return fmt.Errorf("%s.force_recovery: needs history_size and history_ttl", ns.path)
		}
	}
	if err := c.validateTopics(); err != nil { // topics.go
		return err
	}
	return c.validateProxies() // proxies.go
}

// unknownKeys lists the dotted paths of the tree that were not applied: leaves, and
// arrays as a whole (except channel.namespaces, proxies and rpc.namespaces, whose
// items are walked). Empty objects and nulls set nothing and are skipped.
func (s *source) unknownKeys() []string {
	var out []string
	var walk func(v any, p string)
	walk = func(v any, p string) {
		if s.consumed[p] {
			return
		}
		switch x := v.(type) {
		case nil:
		case map[string]any:
			for k, child := range x {
				if p == "" {
					walk(child, k)
				} else {
					walk(child, p+"."+k)
				}
			}
		case []any:
			if p == keyNamespaces || p == keyProxies || p == keyRPCNamespaces {
				for i, it := range x {
					walk(it, fmt.Sprintf("%s[%d]", p, i))
				}
				return
			}
			out = append(out, p)
		default:
			out = append(out, p)
		}
	}
	walk(s.tree, "")
	return out
}

// convert stores v into field (*string, *int, *int64, *bool, *time.Duration or
// *[]string), converting weakly as viper does.
func convert(v any, field any) error {
	switch f := field.(type) {
	case *string:
		s, err := toString(v)
		if err != nil {
			return err
		}
		*f = s
	case *int:
		n, err := toInt(v)
		if err != nil {
			return err
		}
		*f = n
	case *int64:
		n, err := toInt(v)
		if err != nil {
			return err
		}
		*f = int64(n)
	case *bool:
		b, err := toBool(v)
		if err != nil {
			return err
		}
		*f = b
	case *time.Duration:
		d, err := toDuration(v)
		if err != nil {
			return err
		}
		*f = d
	case *[]string:
		l, err := toStringList(v)
		if err != nil {
			return err
		}
		*f = l
	default:
		panic(fmt.Sprintf("config: unsupported field type %T", field)) // broken invariant
	}
	return nil
}

func toString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case json.Number:
		return x.String(), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case nil:
		return "", nil
	}
	return "", fmt.Errorf("expected a string, got %s", typeName(v))
}

func toInt(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case int64:
		if int64(int(x)) != x {
			return 0, fmt.Errorf("integer %d out of range", x)
		}
		return int(x), nil
	case uint64:
		if x > math.MaxInt {
			return 0, fmt.Errorf("integer %d out of range", x)
		}
		return int(x), nil
	case float64:
		if x != math.Trunc(x) || x >= 1<<63 || x < -(1<<63) {
			return 0, fmt.Errorf("invalid integer %v", x)
		}
		return int(x), nil
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 0); err == nil {
			return int(n), nil
		}
		f, err := x.Float64()
		if err != nil {
			return 0, fmt.Errorf("invalid integer %s", x)
		}
		return toInt(f)
	case string:
		if strings.TrimSpace(x) == "" {
			return 0, nil // viper's weak typing: http_server.internal_port is "" by default
		}
		n, err := strconv.ParseInt(strings.TrimSpace(x), 0, 0)
		if err != nil {
			return 0, fmt.Errorf("invalid integer %q", x)
		}
		return int(n), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("expected an integer, got %s", typeName(v))
}

func toBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		if strings.TrimSpace(x) == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(strings.TrimSpace(x))
		if err != nil {
			return false, fmt.Errorf("invalid boolean %q", x)
		}
		return b, nil
	case int, int64, uint64, float64, json.Number:
		n, err := toInt(x)
		if err != nil {
			return false, fmt.Errorf("invalid boolean %v", x)
		}
		return n != 0, nil
	}
	return false, fmt.Errorf("expected a boolean, got %s", typeName(v))
}

// toDuration accepts a Go duration string or a number of nanoseconds (as a number or
// a string of digits).
func toDuration(v any) (time.Duration, error) {
	switch x := v.(type) {
	case string:
		s := strings.TrimSpace(x)
		if d, err := time.ParseDuration(s); err == nil {
			return d, nil
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Duration(n), nil
		}
		return 0, fmt.Errorf("invalid duration %q", x)
	case int, int64, uint64, float64, json.Number:
		n, err := toInt(x)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %v", x)
		}
		return time.Duration(n), nil
	}
	return 0, fmt.Errorf("expected a duration, got %s", typeName(v))
}

// toStringList accepts an array of scalars, or one scalar as a one-item list (viper's
// weak typing).
func toStringList(v any) ([]string, error) {
	items, ok := v.([]any)
	if !ok {
		s, err := toString(v)
		if err != nil {
			return nil, fmt.Errorf("expected a list of strings, got %s", typeName(v))
		}
		return []string{s}, nil
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		s, err := toString(it)
		if err != nil || it == nil {
			return nil, fmt.Errorf("item %d: expected a string, got %s", i, typeName(it))
		}
		out = append(out, s)
	}
	return out, nil
}

// typeName names a decoded value's JSON type for error messages.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any, map[any]any:
		return "object"
	case []any, []map[string]any:
		return "list"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number, int, int64, uint64, float64:
		return "number"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// envSet is the environment given to Load, restricted to ROTOR_* and
// CENTRIFUGO_* variables, remembering which names were looked up.
type envSet struct {
	vals map[string]string
	seen map[string]bool
}

func newEnvSet(env []string) *envSet {
	e := &envSet{vals: map[string]string{}, seen: map[string]bool{}}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !(strings.HasPrefix(k, envPrefixRotor) || strings.HasPrefix(k, envPrefixCentrifugo)) {
			continue
		}
		e.vals[k] = v // a later entry wins
	}
	return e
}

// lookup returns the non-empty value of ROTOR_<suffix>, else of
// CENTRIFUGO_<suffix>, and the variable's name.
func (e *envSet) lookup(suffix string) (val, name string, ok bool) {
	for _, prefix := range []string{envPrefixRotor, envPrefixCentrifugo} {
		n := prefix + suffix
		v, present := e.vals[n]
		if !present {
			continue
		}
		e.seen[n] = true
		if v != "" && !ok {
			val, name, ok = v, n, true
		}
	}
	return val, name, ok
}

// k8sEnvRe matches the variables Kubernetes injects for a service named
// centrifugo or rotor (CENTRIFUGO_PORT, ROTOR_SERVICE_HOST, …); Centrifugo does not
// warn about them either.
var k8sEnvRe = regexp.MustCompile(`^(CENTRIFUGO|ROTOR)(_[A-Z0-9_]+)?_(PORT|SERVICE_)`)

// unknown lists the ROTOR_* and CENTRIFUGO_* variables that set nothing, except the
// free substitution variables (*_VAR_*) and Kubernetes service variables.
func (e *envSet) unknown() []string {
	var out []string
	for n := range e.vals {
		if e.seen[n] || strings.HasPrefix(n, envPrefixCentrifugo+"VAR_") || strings.HasPrefix(n, envPrefixRotor+"VAR_") || k8sEnvRe.MatchString(n) {
			continue
		}
		out = append(out, n)
	}
	return out
}
