package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/engine"
	"github.com/rotorhq/rotor/proxy"
)

// wantTestdata is what testdata/centrifugo.{json,yaml,toml} load to.
func wantTestdata() *ServerConfig {
	return &ServerConfig{
		Address:          "127.0.0.1",
		Port:             9000,
		MaxHeaderBytes:   65536,
		LogLevel:         "debug",
		AllowedOrigins:   []string{"http://localhost:3000", "https://*.example.com"},
		MessageSizeLimit: 131072,
		WriteTimeout:     2 * time.Second,
		QueueMaxSize:     2097152,
		Engine: engine.Config{
			Name:                              "rotor-1",
			TokenHMACSecretKey:                "hmac-secret",
			Token:                             engine.TokenConfig{Audience: "rotor"},
			AllowAnonymousConnectWithoutToken: true,
			PingInterval:                      20 * time.Second,
			PongTimeout:                       5 * time.Second,
			StaleCloseDelay:                   15 * time.Second,
			ExpiredCloseDelay:                 30 * time.Second,
			ChannelLimit:                      64,
			ChannelMaxLength:                  128,
			WithoutNamespace: engine.NamespaceOptions{
				Presence:                true,
				AllowSubscribeForClient: true,
				HistorySize:             10,
				HistoryTTL:              time.Minute,
				HistoryMetaTTL:          168 * time.Hour, // channel.history_meta_ttl
			},
			Namespaces: []engine.NamespaceOptions{
				{
					Name:                       "chat",
					Presence:                   true,
					JoinLeave:                  true,
					ForcePushJoinLeave:         true,
					HistorySize:                100,
					HistoryTTL:                 300 * time.Second,
					HistoryMetaTTL:             168 * time.Hour,
					ForcePositioning:           true,
					AllowPositioning:           true,
					ForceRecovery:              true,
					AllowRecovery:              true,
					ForceRecoveryMode:          "stream",
					AllowSubscribeForClient:    true,
					AllowSubscribeForAnonymous: true,
					AllowPublishForClient:      true,
					AllowPublishForSubscriber:  true,
					AllowPublishForAnonymous:   true,
					AllowPresenceForClient:     true,
					AllowPresenceForSubscriber: true,
					AllowPresenceForAnonymous:  true,
					AllowHistoryForClient:      true,
					AllowHistoryForSubscriber:  true,
					AllowHistoryForAnonymous:   true,
					AllowUserLimitedChannels:   true,
					ChannelRegex:               "^[a-z0-9_]+$",
					DeltaPublish:               true,
				},
				{
					Name:                  "news.feed",
					HistorySize:           5,
					HistoryTTL:            time.Hour,
					HistoryMetaTTL:        24 * time.Hour,
					ForceRecoveryMode:     "cache",
					PublicationDataFormat: "json_object",
				},
			},
		},
		API:               api.Config{Key: "api-key", ErrorMode: "transport"},
		PrometheusEnabled: true,
		APIExternal:       true,
		Proxies: ProxiesConfig{Named: []NamedProxyConfig{
			{Name: "backend", HTTPConfig: proxy.HTTPConfig{Endpoint: "http://127.0.0.1:3000/proxy"}},
		}},
		Backend: defaultBackend(),
	}
}

func TestLoadConfigFormatsAgree(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"centrifugo.json", "centrifugo.yaml", "centrifugo.toml"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := Load(filepath.Join("testdata", name), nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := wantTestdata(); !sameCore(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadConfigYMLExtension(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("testdata", "centrifugo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, "config.YML", string(data))
	got, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := wantTestdata(); !sameCore(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	host, _ := os.Hostname()
	want := &ServerConfig{
		Port:             8000,
		MaxHeaderBytes:   32768,
		LogLevel:         "info",
		MessageSizeLimit: 65536,
		WriteTimeout:     time.Second,
		QueueMaxSize:     1048576,
		Engine: engine.Config{
			PingInterval:      25 * time.Second,
			PongTimeout:       8 * time.Second,
			StaleCloseDelay:   10 * time.Second,
			ExpiredCloseDelay: 25 * time.Second,
			ChannelLimit:      128,
			ChannelMaxLength:  255,
		},
		Backend: defaultBackend(),
	}
	if host != "" {
		want.Engine.Name = host + "_8000"
	}
	for _, tc := range []struct {
		name, file string
	}{
		{"no file", ""},
		{"empty json", writeFile(t, "empty.json", " \n")},
		{"empty object", writeFile(t, "obj.json", "{}")},
		{"empty yaml", writeFile(t, "empty.yaml", "# nothing\n")},
		{"empty toml", writeFile(t, "empty.toml", "")},
		{"nulls and empty sections", writeFile(t, "nulls.json", `{"client":{},"engine":null,"log":{"level":null},"channel":{"namespaces":[]}}`)},
	} {
		got, err := Load(tc.file, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !sameCore(got, want) {
			t.Fatalf("%s:\ngot  %+v\nwant %+v", tc.name, got, want)
		}
	}
}

func TestLoadConfigNodeNameFollowsPort(t *testing.T) {
	t.Parallel()
	host, err := os.Hostname()
	if err != nil || host == "" {
		t.Skip("no hostname")
	}
	got, err := Load("", []string{"CENTRIFUGO_HTTP_SERVER_PORT=9100"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Engine.Name != host+"_9100" {
		t.Fatalf("name %q", got.Engine.Name)
	}
}

func TestLoadConfigWeakTypesAndCase(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "weak.json", `{
		"HTTP_SERVER": {"Port": "9001"},
		"Log": {"LEVEL": "WARN"},
		"client": {
			"insecure": "true",
			"allow_anonymous_connect_without_token": 1,
			"ping_interval": 30000000000,
			"pong_timeout": "5000000000",
			"channel_limit": 10.0,
			"allowed_origins": "*"
		},
		"websocket": {"write_timeout": "1500ms", "message_size_limit": 0},
		"http_api": {"key": 12345},
		"channel": {"without_namespace": {"history_size": "3", "history_ttl": "2m"}}
	}`)
	got, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Port != 9001 || got.LogLevel != "warn" || !got.Engine.Insecure || !got.Engine.AllowAnonymousConnectWithoutToken ||
		got.Engine.PingInterval != 30*time.Second || got.Engine.PongTimeout != 5*time.Second || got.Engine.ChannelLimit != 10 ||
		!reflect.DeepEqual(got.AllowedOrigins, []string{"*"}) || got.WriteTimeout != 1500*time.Millisecond ||
		got.MessageSizeLimit != 65536 || got.API.Key != "12345" ||
		got.Engine.WithoutNamespace.HistorySize != 3 || got.Engine.WithoutNamespace.HistoryTTL != 2*time.Minute {
		t.Fatalf("%+v", got)
	}
	if len(got.Ignored) != 0 {
		t.Fatalf("ignored %v", got.Ignored)
	}
}

func TestLoadConfigEnv(t *testing.T) {
	t.Parallel()
	path := filepath.Join("testdata", "centrifugo.json")
	env := []string{
		"HOME=/root", // not ours
		"CENTRIFUGO_HTTP_SERVER_PORT=9100",
		"CENTRIFUGO_HTTP_API_KEY=from-centrifugo",
		"ROTOR_HTTP_API_KEY=from-rotor", // ROTOR_ wins
		"ROTOR_CLIENT_TOKEN_HMAC_SECRET_KEY=",
		"CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY=env-hmac", // empty ROTOR_ does not hide it
		"CENTRIFUGO_LOG_LEVEL=",                            // empty: ignored, the file's value stays
		"CENTRIFUGO_CLIENT_ALLOWED_ORIGINS=https://a.com  https://b.com",
		"CENTRIFUGO_CLIENT_PING_INTERVAL=30s",
		"CENTRIFUGO_CLIENT_INSECURE=true",
		"CENTRIFUGO_WEBSOCKET_WRITE_TIMEOUT=3000000000",
		"CENTRIFUGO_HTTP_SERVER_MAX_HEADER_BYTES=49152",
		"CENTRIFUGO_NODE_NAME=first",
		"CENTRIFUGO_NODE_NAME=second", // a later entry wins
		"CENTRIFUGO_CHANNEL_WITHOUT_NAMESPACE_JOIN_LEAVE=1",
		"CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_HISTORY_SIZE=7",
		"ROTOR_CHANNEL_NAMESPACES_NEWS_FEED_ALLOW_PUBLISH_FOR_CLIENT=true",
		"CENTRIFUGO_CHANNEL_NAMESPACES_NOPE_PRESENCE=true", // no such namespace
		"CENTRIFUGO_ENGINE_TYPE=redis",
		"ROTOR_SOMETHING=1",                   // not known to Rotor
		"CENTRIFUGO_VAR_TOKEN=abc",            // free substitution variable
		"CENTRIFUGO_PORT=tcp://10.0.0.1:8000", // Kubernetes service variable
		"CENTRIFUGO_SERVICE_HOST=10.0.0.1",    // Kubernetes service variable
		"MALFORMED",
	}
	got, err := Load(path, env)
	if err != nil {
		t.Fatal(err)
	}
	want := wantTestdata()
	want.Port = 9100
	want.API.Key = "from-rotor"
	want.Engine.TokenHMACSecretKey = "env-hmac"
	want.AllowedOrigins = []string{"https://a.com", "https://b.com"}
	want.Engine.PingInterval = 30 * time.Second
	want.Engine.Insecure = true
	want.WriteTimeout = 3 * time.Second
	want.MaxHeaderBytes = 49152
	want.Engine.Name = "second"
	want.Engine.WithoutNamespace.JoinLeave = true
	want.Engine.Namespaces[0].HistorySize = 7
	want.Engine.Namespaces[1].AllowPublishForClient = true
	want.Backend.EngineType = "redis"
	want.Ignored = append(want.Ignored, "CENTRIFUGO_CHANNEL_NAMESPACES_NOPE_PRESENCE", "ROTOR_SOMETHING")
	slices.Sort(want.Ignored)
	if !sameCore(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestLoadConfigEnvNamespacesJSON(t *testing.T) {
	t.Parallel()
	env := []string{
		`CENTRIFUGO_CHANNEL_NAMESPACES=[{"name":"chat","presence":true,"history_size":10,"history_ttl":"60s","subscribe_proxy_enabled":false},{"name":"a-b.c"}]`,
		"CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_JOIN_LEAVE=true",
		"CENTRIFUGO_CHANNEL_NAMESPACES_A_B_C_ALLOW_HISTORY_FOR_CLIENT=true",
	}
	// The variable replaces the file's namespaces.
	got, err := Load(filepath.Join("testdata", "centrifugo.yaml"), env)
	if err != nil {
		t.Fatal(err)
	}
	want := []engine.NamespaceOptions{
		{Name: "chat", Presence: true, JoinLeave: true, HistorySize: 10, HistoryTTL: time.Minute, HistoryMetaTTL: 168 * time.Hour},
		{Name: "a-b.c", AllowHistoryForClient: true, HistoryMetaTTL: 168 * time.Hour},
	}
	if !reflect.DeepEqual(got.Engine.Namespaces, want) {
		t.Fatalf("got  %+v\nwant %+v", got.Engine.Namespaces, want)
	}
	if slices.Contains(got.Ignored, "channel.namespaces[0].subscribe_proxy_enabled") || slices.Contains(got.Ignored, "channel.namespaces[0].delta_publish") {
		t.Fatalf("ignored %v", got.Ignored)
	}

	// ROTOR_ wins over CENTRIFUGO_ for the JSON too.
	got, err = Load("", append(env, `ROTOR_CHANNEL_NAMESPACES=[{"name":"other"}]`))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Engine.Namespaces) != 1 || got.Engine.Namespaces[0].Name != "other" {
		t.Fatalf("%+v", got.Engine.Namespaces)
	}
	if !slices.Contains(got.Ignored, "CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_JOIN_LEAVE") {
		t.Fatalf("a field of a namespace that does not exist must be reported: %v", got.Ignored)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		file string // JSON content; "" → no file
		env  []string
		want string // the error must start with this
	}{
		{"duration", `{"client":{"ping_interval":"abc"}}`, nil, `client.ping_interval: invalid duration "abc"`},
		{"duration from env", "", []string{"CENTRIFUGO_CLIENT_PING_INTERVAL=abc"}, `client.ping_interval: invalid duration "abc" (from CENTRIFUGO_CLIENT_PING_INTERVAL)`},
		{"duration from rotor env", "", []string{"ROTOR_WEBSOCKET_WRITE_TIMEOUT=1x"}, `websocket.write_timeout: invalid duration "1x" (from ROTOR_WEBSOCKET_WRITE_TIMEOUT)`},
		{"duration type", `{"client":{"stale_close_delay":true}}`, nil, `client.stale_close_delay: expected a duration, got boolean`},
		{"fractional nanoseconds", `{"client":{"pong_timeout":1.5}}`, nil, `client.pong_timeout: invalid duration 1.5`},
		{"port", `{"http_server":{"port":"http"}}`, nil, `http_server.port: invalid integer "http"`},
		{"port range", `{"http_server":{"port":70000}}`, nil, `http_server.port: 70000 is out of range 0-65535`},
		{"port negative", "", []string{"CENTRIFUGO_HTTP_SERVER_PORT=-1"}, `http_server.port: -1 is out of range`},
		{"int type", `{"client":{"channel_limit":[1]}}`, nil, `client.channel_limit: expected an integer, got list`},
		{"bool", `{"client":{"insecure":"maybe"}}`, nil, `client.insecure: invalid boolean "maybe"`},
		{"bool from env", "", []string{"CENTRIFUGO_HTTP_API_INSECURE=yes"}, `http_api.insecure: invalid boolean "yes" (from CENTRIFUGO_HTTP_API_INSECURE)`},
		{"string type", `{"http_api":{"key":{"a":1}}}`, nil, `http_api.key: expected a string, got object`},
		{"list item", `{"client":{"allowed_origins":["a",{"b":1}]}}`, nil, `client.allowed_origins: item 1: expected a string, got object`},
		{"error mode", `{"http_api":{"error_mode":"http"}}`, nil, `http_api.error_mode:`},
		{"section not object", `{"client":"x"}`, nil, `client: expected an object, got string`},
		{"namespaces not list", `{"channel":{"namespaces":{"name":"chat"}}}`, nil, `channel.namespaces: expected a list of objects, got object`},
		{"namespace not object", `{"channel":{"namespaces":["chat"]}}`, nil, `channel.namespaces[0]: expected an object, got string`},
		{"namespace option", `{"channel":{"namespaces":[{"name":"chat"},{"name":"ok","history_ttl":"long"}]}}`, nil, `channel.namespaces[1].history_ttl: invalid duration "long"`},
		{"namespace option from env", `{"channel":{"namespaces":[{"name":"chat"}]}}`, []string{"CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_PRESENCE=sure"}, `channel.namespaces[0].presence: invalid boolean "sure" (from CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_PRESENCE)`},
		{"namespace from env JSON", "", []string{`CENTRIFUGO_CHANNEL_NAMESPACES=[{"name":"chat","presence":"sure"}]`}, `channel.namespaces[0].presence: invalid boolean "sure" (from CENTRIFUGO_CHANNEL_NAMESPACES)`},
		{"namespaces env not JSON", "", []string{`CENTRIFUGO_CHANNEL_NAMESPACES=chat`}, `channel.namespaces: invalid JSON in CENTRIFUGO_CHANNEL_NAMESPACES`},
		{"namespaces env not array", "", []string{`CENTRIFUGO_CHANNEL_NAMESPACES={"name":"chat"}`}, `channel.namespaces: CENTRIFUGO_CHANNEL_NAMESPACES must hold a JSON array`},
		{"without_namespace", `{"channel":{"without_namespace":{"history_size":"ten"}}}`, nil, `channel.without_namespace.history_size: invalid integer "ten"`},
		{"without_namespace not object", `{"channel":{"without_namespace":true}}`, nil, `channel.without_namespace: expected an object, got boolean`},
		{"global data format", `{"channel":{"publication_data_format":"xml"}}`, nil, `channel.publication_data_format: "xml" is not one of`},
		{"global meta ttl", `{"channel":{"history_meta_ttl":"1500ms"}}`, nil, `channel.history_meta_ttl: 1.5s is not a whole`},
		// engine.Config.Validate, which names its keys.
		{"pong >= ping", `{"client":{"ping_interval":"5s"}}`, nil, `client.pong_timeout must be less than client.ping_interval`},
		{"negative channel limit", `{"client":{"channel_limit":-1}}`, nil, `client.channel_limit must not be negative`},
		{"namespace name", `{"channel":{"namespaces":[{"name":"c"}]}}`, nil, `channel.namespaces[0].name "c" must match`},
		{"namespace unique", `{"channel":{"namespaces":[{"name":"chat"},{"name":"chat"}]}}`, nil, `channel.namespaces[1].name "chat" is not unique`},
		{"history pair", `{"channel":{"namespaces":[{"name":"chat","history_size":10}]}}`, nil, `channel.namespaces[0] (chat): history_size and history_ttl must be set together`},
		{"regex", `{"channel":{"without_namespace":{"channel_regex":"("}}}`, nil, `channel.without_namespace: channel_regex:`},
		{"recovery mode", `{"channel":{"namespaces":[{"name":"chat","force_recovery_mode":"both"}]}}`, nil, `channel.namespaces[0] (chat): force_recovery_mode "both"`},
		{"data format", `{"channel":{"namespaces":[{"name":"chat","publication_data_format":"xml"}]}}`, nil, `channel.namespaces[0] (chat): publication_data_format "xml"`},
		// Centrifugo's history rules.
		{"ttl whole seconds", `{"channel":{"namespaces":[{"name":"chat","history_size":1,"history_ttl":"1500ms"}]}}`, nil, `channel.namespaces[0].history_ttl: 1.5s is not a whole`},
		{"meta ttl whole seconds", `{"channel":{"without_namespace":{"history_meta_ttl":"10.5s"}}}`, nil, `channel.without_namespace.history_meta_ttl: 10.5s is not a whole`},
		{"ttl above meta", `{"channel":{"namespaces":[{"name":"chat","history_size":1,"history_ttl":"2h","history_meta_ttl":"1h"}]}}`, nil, `channel.namespaces[0].history_ttl: 2h0m0s is greater than the history meta TTL 1h0m0s`},
		{"ttl above global meta", `{"channel":{"history_meta_ttl":"1h","namespaces":[{"name":"chat","history_size":1,"history_ttl":"2h"}]}}`, nil, `channel.namespaces[0].history_ttl: 2h0m0s is greater`},
		{"ttl above default meta", `{"channel":{"without_namespace":{"history_size":1,"history_ttl":"721h"}}}`, nil, `channel.without_namespace.history_ttl: 721h0m0s is greater than the history meta TTL 720h0m0s`},
		{"recovery without history", `{"channel":{"namespaces":[{"name":"chat","force_recovery":true}]}}`, nil, `channel.namespaces[0].force_recovery: needs history_size and history_ttl`},
		{"negative size", `{"websocket":{"message_size_limit":-1}}`, nil, `websocket.message_size_limit: -1 must not be negative`},
		{"small head limit", `{"http_server":{"max_header_bytes":512}}`, nil, `http_server.max_header_bytes: 512 is below 1024`},
		{"negative head limit", "", []string{"ROTOR_HTTP_SERVER_MAX_HEADER_BYTES=-1"}, `http_server.max_header_bytes: -1 is below 1024`},
		{"head limit type", `{"http_server":{"max_header_bytes":"32k"}}`, nil, `http_server.max_header_bytes: invalid integer "32k"`},
		{"negative queue", `{"client":{"queue_max_size":-5}}`, nil, `client.queue_max_size: -5 must not be negative`},
		{"negative write timeout", `{"websocket":{"write_timeout":"-1s"}}`, nil, `websocket.write_timeout: -1s must not be negative`},
		{"negative max length", `{"channel":{"max_length":-1}}`, nil, `channel.max_length: -1 must not be negative`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := ""
			if tc.file != "" {
				path = writeFile(t, "config.json", tc.file)
			}
			_, err := Load(path, tc.env)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want prefix %q", err, tc.want)
			}
		})
	}
}

func TestLoadConfigFileErrors(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nope.json")
	_, err := Load(missing, nil)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing file: %v", err)
	}
	cases := []struct {
		name, file, content, want string
	}{
		{"extension", "config.ini", "a=1", `unsupported format ".ini"`},
		{"no extension", "config", "{}", `unsupported format ""`},
		{"bad json", "c.json", `{"a":`, "unexpected EOF"},
		{"json trailing", "c.json", `{} {}`, "invalid data after the top-level JSON value"},
		{"json not object", "c.json", `[1]`, "top level must be an object, got list"},
		{"bad yaml", "c.yaml", "a: [1", "yaml:"},
		{"yaml not object", "c.yaml", "- a\n- b\n", "cannot unmarshal"},
		{"bad toml", "c.toml", "a = ", "toml:"},
	}
	for _, tc := range cases {
		path := writeFile(t, tc.file, tc.content)
		_, err := Load(path, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v, want it to name %s and contain %q", tc.name, err, path, tc.want)
		}
	}
}

func TestLoadConfigIgnoredKeys(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "config.json", `{
		"engine": {"type": "redis", "redis": {"address": ["redis://127.0.0.1:6379"], "tls": {"enabled": false}}},
		"admin": {"enabled": true},
		"client": {"ping_interval": "25s", "subscribe_to_user_personal_channel": {"enabled": true}},
		"channel": {
			"without_namespace": {"name": "x", "allowed_delta_types": ["fossil"]},
			"namespaces": [{"name": "chat", "proxy_name": "p"}, {"name": "news", "map": {"client_key": "user_id"}}],
			"proxy": {"subscribe": {"endpoint": "http://127.0.0.1/sub", "grpc_metadata": ["x"]}, "subscribe_stream": {"endpoint": "grpc://127.0.0.1:1"}}
		},
		"rpc": {"namespaces": [{"name": "admin", "extra": 1}], "namespace_boundary": ":"},
		"proxies": [{"name": "p1", "endpoint": "http://127.0.0.1/p", "http": {"tls": {"enabled": false}}}],
		"uni_sse": {},
		"swagger": {"enabled": true}
	}`)
	got, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"channel.namespaces[0].proxy_name",
		"channel.namespaces[1].map.client_key",
		"channel.proxy.subscribe.grpc_metadata",
		"channel.proxy.subscribe_stream.endpoint",
		"channel.without_namespace.name",
		"proxies[0].http.tls.enabled",
		"rpc.namespace_boundary",
		"rpc.namespaces[0].extra",
		"swagger.enabled",
	}
	if !reflect.DeepEqual(got.Ignored, want) {
		t.Fatalf("ignored\n got  %q\n want %q", got.Ignored, want)
	}
}

func TestLoadConfigLogLevels(t *testing.T) {
	t.Parallel()
	got, err := Load("", []string{"CENTRIFUGO_LOG_LEVEL=LOUD"})
	if err != nil {
		t.Fatal(err)
	}
	if got.LogLevel != "loud" {
		t.Fatalf("level %q", got.LogLevel)
	}
	for _, l := range []string{"none", "trace", "debug", "info", "warn", "error", "fatal"} {
		got, err := Load("", []string{"ROTOR_LOG_LEVEL=" + l})
		if err != nil || got.LogLevel != l {
			t.Fatalf("%s: %v %v", l, got, err)
		}
	}
}

func TestToIntRanges(t *testing.T) {
	t.Parallel()
	if strconv.IntSize != 64 {
		t.Skip("range cases assume a 64-bit int")
	}
	for _, tc := range []struct {
		in   any
		want int
		ok   bool
	}{
		{int64(5), 5, true},
		{uint64(1) << 63, 0, false},
		{1e19, 0, false},
		{-3.0, -3, true},
		{"0x10", 16, true},
		{" 42 ", 42, true},
		{"9223372036854775808", 0, false},
		{true, 1, true},
	} {
		got, err := toInt(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("toInt(%v) = %d, %v", tc.in, got, err)
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEveryNamespaceOptionIsMapped fails when engine.NamespaceOptions gains a field
// that nsOptions does not map from its Centrifugo key.
func TestEveryNamespaceOptionIsMapped(t *testing.T) {
	t.Parallel()
	var o engine.NamespaceOptions
	mapped := map[uintptr]string{}
	for _, opt := range nsOptions {
		mapped[reflect.ValueOf(opt.field(&o)).Pointer()] = opt.key
	}
	v := reflect.ValueOf(&o).Elem()
	for i := range v.NumField() {
		if _, ok := mapped[v.Field(i).Addr().Pointer()]; !ok {
			t.Errorf("engine.NamespaceOptions.%s has no Centrifugo key in nsOptions", v.Type().Field(i).Name)
		}
	}
	if len(mapped) != v.NumField() {
		t.Errorf("%d options map onto %d fields", len(mapped), v.NumField())
	}
}

// sameCore compares two loaded configs without the registered topics' structs
// (topics.go), which each topic's own tests check.
func sameCore(a, b *ServerConfig) bool {
	x, y := *a, *b
	x.ext, y.ext = nil, nil
	x.Report, y.Report = Report{}, Report{}
	return reflect.DeepEqual(x, y)
}
