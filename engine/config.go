package engine

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Config configures a Node. The zero value of every field is a usable default, noted
// in its comment. cmd/rotor maps Centrifugo's key names onto it.
type Config struct {
	// Version is reported in connect results and the info API; "" → "0.0.0 OSS"-style
	// default of the binary.
	Version string
	// Name is the node name in the info API; "" → hostname.
	Name string

	// TokenHMACSecretKey verifies HS256/384/512 connection and subscription JWTs
	// (client.token.hmac_secret_key); it stands in for Token.HMACSecretKey when that
	// is empty, so configs and tests that predate Token keep working.
	TokenHMACSecretKey string
	// Token configures connection JWT verification (client.token.*), and
	// subscription JWT verification unless SubscriptionTokenEnabled. See TokenConfig.
	Token TokenConfig
	// SubscriptionTokenEnabled verifies subscription JWTs with SubscriptionToken
	// instead of Token (client.subscription_token.enabled).
	SubscriptionTokenEnabled bool
	// SubscriptionToken is client.subscription_token.*, used only when
	// SubscriptionTokenEnabled.
	SubscriptionToken TokenConfig
	// InsecureSkipTokenSignatureVerify accepts connection and subscription JWTs
	// without checking their signature (client.insecure_skip_token_signature_verify).
	// Testing only.
	InsecureSkipTokenSignatureVerify bool
	// AllowAnonymousConnectWithoutToken lets a connect without token in as user "".
	AllowAnonymousConnectWithoutToken bool
	// DisallowAnonymousConnectionTokens rejects tokens with an empty sub (3507)
	// (client.disallow_anonymous_connection_tokens).
	DisallowAnonymousConnectionTokens bool
	// NodeInfoMetricsAggregateInterval is node.info_metrics_aggregate_interval: how
	// often the node snapshots its metrics for the info API and the node-control
	// announcement. Zero means 60 s.
	NodeInfoMetricsAggregateInterval time.Duration
	// ConnectionLimit caps this node's client connections (client.connection_limit);
	// 0 = no limit. Transports check Node.Admit before accepting.
	ConnectionLimit int
	// UserConnectionLimit caps one user's connections on this node (3504)
	// (client.user_connection_limit); 0 = no limit.
	UserConnectionLimit int
	// ConnectIncludeServerTime adds `time` to connect results
	// (client.connect_include_server_time).
	ConnectIncludeServerTime bool
	// PersonalChannel is client.subscribe_to_user_personal_channel: subscribe every
	// authenticated connection server-side to its user's personal channel
	// (<namespace>:#<user>, or #<user> without namespace); SingleConnection keeps one
	// connection per user by disconnecting older ones with 3504.
	PersonalChannel struct {
		Enabled          bool
		Namespace        string
		SingleConnection bool
	}
	// UserIDHTTPHeader is client.user_id_http_header: without a token or connect
	// proxy, the value of this request header becomes the user ID.
	UserIDHTTPHeader string
	// Insecure is client.insecure: anonymous connects, no expiry, all permissions.
	Insecure bool

	// PingInterval is the server ping period (client.ping_interval); 0 → 25s, <0 disables.
	PingInterval time.Duration
	// PongTimeout is how long a ping may stay unanswered (client.pong_timeout); 0 → 8s.
	PongTimeout time.Duration
	// StaleCloseDelay closes connections that sent no connect (client.stale_close_delay); 0 → 10s.
	StaleCloseDelay time.Duration
	// ExpiredCloseDelay is the grace after connection expiry before 3005
	// (client.expired_close_delay); 0 → 25s.
	ExpiredCloseDelay time.Duration
	// ExpiredSubCloseDelay is the grace after a subscription's expiry before 2501 /
	// 3006 (client.expired_sub_close_delay); 0 → 25s.
	ExpiredSubCloseDelay time.Duration
	// HistoryMaxPublicationLimit caps client history queries
	// (client.history_max_publication_limit); 0 → 300.
	HistoryMaxPublicationLimit int
	// RecoveryMaxPublicationLimit caps publications recovered on subscribe
	// (client.recovery_max_publication_limit); 0 → 300.
	RecoveryMaxPublicationLimit int
	// PresenceUpdateInterval is client.presence_update_interval. The in-memory
	// presence store keeps entries until unsubscribe or disconnect, so it needs no
	// periodic refresh; the value is kept for engines with presence TTLs.
	PresenceUpdateInterval time.Duration
	// ChannelLimit caps client subscriptions per connection (client.channel_limit); 0 → 128.
	ChannelLimit int
	// ChannelMaxLength is the max channel name length in bytes (channel.max_length); 0 → 255.
	ChannelMaxLength int

	// WithoutNamespace holds the options of channels without namespace.
	WithoutNamespace NamespaceOptions
	// Namespaces lists the configured namespaces by name.
	Namespaces []NamespaceOptions

	// ConnectProxy and RefreshProxy are client.proxy.connect / client.proxy.refresh
	// when enabled; nil otherwise.
	ConnectProxy, RefreshProxy ProxyCaller
	// ChannelProxies are the subscribe, publish and sub_refresh proxies by name
	// ("default" = channel.proxy.*, others from the top-level proxies list).
	SubscribeProxies, PublishProxies, SubRefreshProxies map[string]ProxyCaller
	// RPCProxies are RPC proxies by name ("default" = rpc.proxy).
	RPCProxies map[string]ProxyCaller

	// Broker, PresenceManager and Controller are the node's streams, presence and
	// control transport (engine/broker.go): broker/memory for one node, broker/redis
	// for many. Broker and PresenceManager are required; a nil Controller keeps
	// control messages on this node.
	Broker          Broker
	PresenceManager PresenceManager
	Controller      Controller
	// RPCWithoutNamespace and RPCNamespaces route RPC methods to proxies.
	RPCWithoutNamespace RPCNamespace
	RPCNamespaces       []RPCNamespace
	// RPCPingMethod, when not empty, is a built-in RPC method answering an empty
	// result (rpc.ping.enabled / rpc.ping.method).
	RPCPingMethod string

	// HubShards is the number of hub shards, a power of two; 0 → 64.
	HubShards int
}

// NamespaceOptions are the per-namespace channel options of
// shared/spec/channels-and-namespaces.md §2. All zero values are Centrifugo's defaults.
type NamespaceOptions struct {
	Name                       string
	Presence                   bool
	JoinLeave                  bool
	ForcePushJoinLeave         bool
	HistorySize                int
	HistoryTTL                 time.Duration
	HistoryMetaTTL             time.Duration
	ForcePositioning           bool
	AllowPositioning           bool
	ForceRecovery              bool
	AllowRecovery              bool
	ForceRecoveryMode          string
	AllowSubscribeForClient    bool
	AllowSubscribeForAnonymous bool
	AllowPublishForClient      bool
	AllowPublishForSubscriber  bool
	AllowPublishForAnonymous   bool
	AllowPresenceForClient     bool
	AllowPresenceForSubscriber bool
	AllowPresenceForAnonymous  bool
	AllowHistoryForClient      bool
	AllowHistoryForSubscriber  bool
	AllowHistoryForAnonymous   bool
	AllowUserLimitedChannels   bool
	// AllowTagsFilter lets clients subscribe with a tags filter (tf).
	AllowTagsFilter bool
	// AllowedDeltaTypes lists the delta encodings clients may negotiate ("fossil").
	AllowedDeltaTypes []string
	// AutoCacheRecover makes every subscribe of a cache-mode namespace recover, as
	// if the client sent recover:true (needs force_recovery and cache mode).
	AutoCacheRecover bool
	// DeltaPublish treats every publication of the namespace as delta-enabled.
	DeltaPublish           bool
	ChannelRegex           string
	PublicationDataFormat  string
	SubscribeProxyEnabled  bool
	SubscribeProxyName     string // "" → "default"
	PublishProxyEnabled    bool
	PublishProxyName       string
	SubRefreshProxyEnabled bool
	SubRefreshProxyName    string
}

var namespaceNameRe = regexp.MustCompile(`^[-a-zA-Z0-9_.]{2,}$`)

// Validate reports the first invalid value, naming its Centrifugo config key.
func (c *Config) Validate() error {
	ping, pong := c.pingInterval(), c.pongTimeout()
	if ping > 0 && pong >= ping {
		return errors.New("client.pong_timeout must be less than client.ping_interval")
	}
	if c.PongTimeout < 0 {
		return errors.New("client.pong_timeout must not be negative")
	}
	if c.StaleCloseDelay < 0 {
		return errors.New("client.stale_close_delay must not be negative")
	}
	if c.ChannelLimit < 0 {
		return errors.New("client.channel_limit must not be negative")
	}
	if c.HubShards != 0 && c.HubShards&(c.HubShards-1) != 0 {
		return errors.New("hub shards must be a power of two")
	}
	seen := make(map[string]bool, len(c.Namespaces))
	for i := range c.Namespaces {
		ns := &c.Namespaces[i]
		if !namespaceNameRe.MatchString(ns.Name) {
			return fmt.Errorf("channel.namespaces[%d].name %q must match %s", i, ns.Name, namespaceNameRe)
		}
		if seen[ns.Name] {
			return fmt.Errorf("channel.namespaces[%d].name %q is not unique", i, ns.Name)
		}
		seen[ns.Name] = true
		if err := ns.validate(); err != nil {
			return fmt.Errorf("channel.namespaces[%d] (%s): %w", i, ns.Name, err)
		}
	}
	if pc := c.PersonalChannel; pc.Enabled || pc.SingleConnection {
		ns := &c.WithoutNamespace
		if pc.Namespace != "" {
			ns = nil
			for i := range c.Namespaces {
				if c.Namespaces[i].Name == pc.Namespace {
					ns = &c.Namespaces[i]
				}
			}
			if ns == nil {
				return fmt.Errorf("client.subscribe_to_user_personal_channel.personal_channel_namespace: namespace %q not found", pc.Namespace)
			}
		}
		if pc.SingleConnection && !ns.Presence {
			return errors.New("client.subscribe_to_user_personal_channel.single_connection needs presence enabled in the personal channel's namespace")
		}
	}
	if err := c.WithoutNamespace.validate(); err != nil {
		return fmt.Errorf("channel.without_namespace: %w", err)
	}
	return c.validateTokens()
}

func (o *NamespaceOptions) validate() error {
	if o.HistorySize < 0 {
		return errors.New("history_size must not be negative")
	}
	if (o.HistorySize > 0) != (o.HistoryTTL > 0) {
		return errors.New("history_size and history_ttl must be set together")
	}
	if o.ChannelRegex != "" {
		if _, err := regexp.Compile(o.ChannelRegex); err != nil {
			return fmt.Errorf("channel_regex: %w", err)
		}
	}
	for _, d := range o.AllowedDeltaTypes {
		if d != "fossil" {
			return fmt.Errorf("allowed_delta_types: %q is not a delta type (only fossil)", d)
		}
	}
	switch o.PublicationDataFormat {
	case "", "json", "json_object", "binary":
	default:
		return fmt.Errorf("publication_data_format %q is not one of \"\", json, json_object, binary", o.PublicationDataFormat)
	}
	switch o.ForceRecoveryMode {
	case "", "stream", "cache":
	default:
		return fmt.Errorf("force_recovery_mode %q is not stream or cache", o.ForceRecoveryMode)
	}
	return nil
}

func (c *Config) pingInterval() time.Duration {
	if c.PingInterval == 0 {
		return 25 * time.Second
	}
	return c.PingInterval
}

func (c *Config) pongTimeout() time.Duration {
	if c.PongTimeout == 0 {
		return 8 * time.Second
	}
	return c.PongTimeout
}
