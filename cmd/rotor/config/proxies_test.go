package config

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/engine"
	"github.com/rotorhq/rotor/proxy"
)

const proxiesJSON = `{
	"client": {
		"proxy": {
			"connect": {
				"enabled": true,
				"endpoint": "http://127.0.0.1:3000/centrifugo/connect",
				"timeout": "3s",
				"http_headers": ["Cookie", "Authorization"],
				"emulated_headers": ["X-Token"],
				"binary_encoding": false,
				"http": {
					"static_headers": {"X-Static": "s1"},
					"status_to_code_transforms": [
						{"status_code": 401, "to_disconnect": {"code": 4501, "reason": "unauthorized"}},
						{"status_code": 429, "to_error": {"code": 1429, "message": "slow down", "temporary": true}}
					]
				}
			},
			"refresh": {
				"enabled": true,
				"endpoint": "https://127.0.0.1:3000/refresh",
				"include_connection_meta": true
			}
		}
	},
	"channel": {
		"proxy": {
			"subscribe": {"endpoint": "http://127.0.0.1:3000/sub", "binary_encoding": true},
			"publish": {"endpoint": "http://127.0.0.1:3000/pub", "timeout": "500ms"},
			"sub_refresh": {"endpoint": "http://127.0.0.1:3000/subrefresh"}
		},
		"without_namespace": {"subscribe_proxy_enabled": true, "publish_proxy_enabled": true, "publish_proxy_name": "default"},
		"namespaces": [
			{"name": "chat", "subscribe_proxy_enabled": true, "subscribe_proxy_name": "named-1",
			 "publish_proxy_enabled": true, "publish_proxy_name": "named-1",
			 "sub_refresh_proxy_enabled": true},
			{"name": "news", "subscribe_proxy_name": "named.2"}
		]
	},
	"rpc": {
		"proxy": {"endpoint": "http://127.0.0.1:3000/rpc"},
		"without_namespace": {"proxy_enabled": true},
		"namespaces": [
			{"name": "admin", "proxy_enabled": true, "proxy_name": "named.2"},
			{"name": "off", "proxy_enabled": false}
		],
		"ping": {"enabled": true}
	},
	"proxies": [
		{"name": "named-1", "endpoint": "http://127.0.0.1:4000/proxy", "include_connection_meta": true,
		 "http": {"static_headers": [{"key": "X-Api-Key", "value": "k-${CENTRIFUGO_VAR_SECRET}"}]}},
		{"name": "named.2", "endpoint": "http://127.0.0.1:5000/proxy", "timeout": "2s", "emulated_headers": "X-One"}
	]
}`

func wantProxies() ProxiesConfig {
	return ProxiesConfig{
		Connect: ClientProxyConfig{Enabled: true, HTTPConfig: proxy.HTTPConfig{
			Endpoint:        "http://127.0.0.1:3000/centrifugo/connect",
			Timeout:         3 * time.Second,
			HTTPHeaders:     []string{"Cookie", "Authorization"},
			EmulatedHeaders: []string{"X-Token"},
			StaticHeaders:   map[string]string{"x-static": "s1"},
			StatusToCodeTransforms: []proxy.StatusTransform{
				{StatusCode: 401, ToDisconnect: engine.Disconnect{Code: 4501, Reason: "unauthorized"}},
				{StatusCode: 429, ToError: engine.Error{Code: 1429, Message: "slow down", Temporary: true}},
			},
		}},
		Refresh:    ClientProxyConfig{Enabled: true, HTTPConfig: proxy.HTTPConfig{Endpoint: "https://127.0.0.1:3000/refresh", IncludeConnectionMeta: true}},
		Subscribe:  proxy.HTTPConfig{Endpoint: "http://127.0.0.1:3000/sub", BinaryEncoding: true},
		Publish:    proxy.HTTPConfig{Endpoint: "http://127.0.0.1:3000/pub", Timeout: 500 * time.Millisecond},
		SubRefresh: proxy.HTTPConfig{Endpoint: "http://127.0.0.1:3000/subrefresh"},
		RPC:        proxy.HTTPConfig{Endpoint: "http://127.0.0.1:3000/rpc"},
		Named: []NamedProxyConfig{
			{Name: "named-1", HTTPConfig: proxy.HTTPConfig{Endpoint: "http://127.0.0.1:4000/proxy", IncludeConnectionMeta: true,
				StaticHeaders: map[string]string{"X-Api-Key": "k-s3cret"}}},
			{Name: "named.2", HTTPConfig: proxy.HTTPConfig{Endpoint: "http://127.0.0.1:5000/proxy", Timeout: 2 * time.Second, EmulatedHeaders: []string{"X-One"}}},
		},
	}
}

func TestLoadConfigProxies(t *testing.T) {
	t.Parallel()
	got, err := Load(writeFile(t, "config.json", proxiesJSON), []string{"CENTRIFUGO_VAR_SECRET=s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if want := wantProxies(); !reflect.DeepEqual(got.Proxies, want) {
		t.Fatalf("proxies\n got  %+v\n want %+v", got.Proxies, want)
	}
	e := &got.Engine
	if e.RPCWithoutNamespace != (engine.RPCNamespace{ProxyEnabled: true}) {
		t.Fatalf("rpc without namespace %+v", e.RPCWithoutNamespace)
	}
	wantRPC := []engine.RPCNamespace{{Name: "admin", ProxyEnabled: true, ProxyName: "named.2"}, {Name: "off"}}
	if !reflect.DeepEqual(e.RPCNamespaces, wantRPC) || e.RPCPingMethod != "ping" {
		t.Fatalf("rpc %+v ping %q", e.RPCNamespaces, e.RPCPingMethod)
	}
	wo := e.WithoutNamespace
	if !wo.SubscribeProxyEnabled || wo.SubscribeProxyName != "" || !wo.PublishProxyEnabled || wo.PublishProxyName != "default" || wo.SubRefreshProxyEnabled {
		t.Fatalf("without namespace %+v", wo)
	}
	chat := e.Namespaces[0]
	if !chat.SubscribeProxyEnabled || chat.SubscribeProxyName != "named-1" || !chat.PublishProxyEnabled || chat.PublishProxyName != "named-1" ||
		!chat.SubRefreshProxyEnabled || chat.SubRefreshProxyName != "" {
		t.Fatalf("chat %+v", chat)
	}
	if e.Namespaces[1].SubscribeProxyEnabled || e.Namespaces[1].SubscribeProxyName != "named.2" {
		t.Fatalf("news %+v", e.Namespaces[1])
	}
	if len(got.Ignored) != 0 {
		t.Fatalf("ignored %v", got.Ignored)
	}
	// The engine callers are left for BuildProxies.
	if e.ConnectProxy != nil || e.SubscribeProxies != nil {
		t.Fatal("Load must not build proxies")
	}
}

func TestLoadConfigProxiesYAML(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "config.yaml", `
client:
  proxy:
    connect:
      enabled: true
      endpoint: http://127.0.0.1:3000/connect
      http_headers: [Authorization]
      http:
        static_headers:
          - key: X-Case-Kept
            value: v
        status_to_code_transforms:
          - status_code: 403
            to_error: {code: 403, message: forbidden}
rpc:
  ping: {enabled: true, method: health}
  namespaces:
    - name: billing
      proxy_enabled: true
  proxy:
    endpoint: http://127.0.0.1:3000/rpc
    timeout: 1500ms
`)
	got, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := got.Proxies.Connect
	if !c.Enabled || c.Endpoint != "http://127.0.0.1:3000/connect" || !reflect.DeepEqual(c.StaticHeaders, map[string]string{"X-Case-Kept": "v"}) ||
		!reflect.DeepEqual(c.StatusToCodeTransforms, []proxy.StatusTransform{{StatusCode: 403, ToError: engine.Error{Code: 403, Message: "forbidden"}}}) {
		t.Fatalf("connect %+v", c)
	}
	if got.Engine.RPCPingMethod != "health" || got.Proxies.RPC.Timeout != 1500*time.Millisecond ||
		!reflect.DeepEqual(got.Engine.RPCNamespaces, []engine.RPCNamespace{{Name: "billing", ProxyEnabled: true}}) {
		t.Fatalf("%+v %+v", got.Engine.RPCNamespaces, got.Proxies.RPC)
	}
}

func TestLoadConfigProxiesEnv(t *testing.T) {
	t.Parallel()
	env := []string{
		"CENTRIFUGO_CLIENT_PROXY_CONNECT_ENABLED=true",
		"CENTRIFUGO_CLIENT_PROXY_CONNECT_ENDPOINT=http://127.0.0.1:3000/connect",
		"CENTRIFUGO_CLIENT_PROXY_CONNECT_TIMEOUT=2s",
		"CENTRIFUGO_CLIENT_PROXY_CONNECT_HTTP_HEADERS=Cookie Authorization",
		"CENTRIFUGO_CLIENT_PROXY_CONNECT_BINARY_ENCODING=true",
		`CENTRIFUGO_CLIENT_PROXY_CONNECT_HTTP_STATIC_HEADERS={"X-A":"a-${CENTRIFUGO_VAR_A}"}`,
		`CENTRIFUGO_CLIENT_PROXY_CONNECT_HTTP_STATUS_TO_CODE_TRANSFORMS=[{"status_code":404,"to_disconnect":{"code":4404,"reason":"gone"}}]`,
		"CENTRIFUGO_VAR_A=xyz",
		"ROTOR_CLIENT_PROXY_REFRESH_ENDPOINT=http://127.0.0.1:3000/refresh", // not enabled: kept, not validated
		"CENTRIFUGO_CHANNEL_PROXY_PUBLISH_ENDPOINT=http://127.0.0.1:3000/pub",
		"CENTRIFUGO_CHANNEL_PROXY_PUBLISH_INCLUDE_CONNECTION_META=1",
		"CENTRIFUGO_CHANNEL_WITHOUT_NAMESPACE_PUBLISH_PROXY_ENABLED=true",
		`CENTRIFUGO_CHANNEL_NAMESPACES=[{"name":"chat"}]`,
		"CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_SUBSCRIBE_PROXY_ENABLED=true",
		"CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_SUBSCRIBE_PROXY_NAME=backend-1",
		`CENTRIFUGO_PROXIES=[{"name":"backend-1","endpoint":"http://127.0.0.1:4000/p"}]`,
		"CENTRIFUGO_PROXIES_BACKEND_1_TIMEOUT=4s",
		"CENTRIFUGO_PROXIES_BACKEND_1_EMULATED_HEADERS=X-A X-B",
		`CENTRIFUGO_PROXIES_BACKEND_1_HTTP_STATIC_HEADERS={"X-K":"v"}`,
		"CENTRIFUGO_RPC_PROXY_ENDPOINT=http://127.0.0.1:3000/rpc",
		"CENTRIFUGO_RPC_WITHOUT_NAMESPACE_PROXY_ENABLED=true",
		"CENTRIFUGO_RPC_NAMESPACES=admin ops",
		"CENTRIFUGO_RPC_NAMESPACES_OPS_PROXY_ENABLED=true",
		"CENTRIFUGO_RPC_NAMESPACES_OPS_PROXY_NAME=backend-1",
		"CENTRIFUGO_RPC_PING_ENABLED=true",
		"CENTRIFUGO_RPC_PING_METHOD=hc",
	}
	got, err := Load("", env)
	if err != nil {
		t.Fatal(err)
	}
	want := ProxiesConfig{
		Connect: ClientProxyConfig{Enabled: true, HTTPConfig: proxy.HTTPConfig{
			Endpoint: "http://127.0.0.1:3000/connect", Timeout: 2 * time.Second,
			HTTPHeaders: []string{"Cookie", "Authorization"}, BinaryEncoding: true,
			StaticHeaders:          map[string]string{"x-a": "a-xyz"},
			StatusToCodeTransforms: []proxy.StatusTransform{{StatusCode: 404, ToDisconnect: engine.Disconnect{Code: 4404, Reason: "gone"}}},
		}},
		Refresh: ClientProxyConfig{HTTPConfig: proxy.HTTPConfig{Endpoint: "http://127.0.0.1:3000/refresh"}},
		Publish: proxy.HTTPConfig{Endpoint: "http://127.0.0.1:3000/pub", IncludeConnectionMeta: true},
		RPC:     proxy.HTTPConfig{Endpoint: "http://127.0.0.1:3000/rpc"},
		Named: []NamedProxyConfig{{Name: "backend-1", HTTPConfig: proxy.HTTPConfig{
			Endpoint: "http://127.0.0.1:4000/p", Timeout: 4 * time.Second, EmulatedHeaders: []string{"X-A", "X-B"},
			StaticHeaders: map[string]string{"x-k": "v"},
		}}},
	}
	if !reflect.DeepEqual(got.Proxies, want) {
		t.Fatalf("proxies\n got  %+v\n want %+v", got.Proxies, want)
	}
	e := &got.Engine
	if !e.WithoutNamespace.PublishProxyEnabled || !e.Namespaces[0].SubscribeProxyEnabled || e.Namespaces[0].SubscribeProxyName != "backend-1" {
		t.Fatalf("namespaces %+v %+v", e.WithoutNamespace, e.Namespaces)
	}
	wantRPC := []engine.RPCNamespace{{Name: "admin"}, {Name: "ops", ProxyEnabled: true, ProxyName: "backend-1"}}
	if !e.RPCWithoutNamespace.ProxyEnabled || !reflect.DeepEqual(e.RPCNamespaces, wantRPC) || e.RPCPingMethod != "hc" {
		t.Fatalf("rpc %+v %+v %q", e.RPCWithoutNamespace, e.RPCNamespaces, e.RPCPingMethod)
	}
	if len(got.Ignored) != 0 {
		t.Fatalf("ignored %v", got.Ignored)
	}
}

func TestLoadConfigProxyErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		file string
		env  []string
		want string // the error must start with this
	}{
		{"grpc connect", `{"client":{"proxy":{"connect":{"enabled":true,"endpoint":"grpc://127.0.0.1:10001"}}}}`, nil,
			`client.proxy.connect.endpoint: grpc proxies are not supported by rotor yet`},
		{"grpc named", `{"proxies":[{"name":"g1","endpoint":"grpc://127.0.0.1:10001"}]}`, nil,
			`proxies[0].endpoint: grpc proxies are not supported by rotor yet`},
		{"grpc default subscribe", `{"channel":{"proxy":{"subscribe":{"endpoint":"grpc://127.0.0.1:1"}},"namespaces":[{"name":"chat","subscribe_proxy_enabled":true}]}}`, nil,
			`channel.proxy.subscribe.endpoint: grpc proxies are not supported by rotor yet`},
		{"grpc default rpc", `{"rpc":{"proxy":{"endpoint":"grpc://127.0.0.1:1"},"namespaces":[{"name":"admin","proxy_enabled":true}]}}`, nil,
			`rpc.proxy.endpoint: grpc proxies are not supported by rotor yet`},
		{"connect without endpoint", "", []string{"CENTRIFUGO_CLIENT_PROXY_CONNECT_ENABLED=true"},
			`client.proxy.connect.endpoint: not set`},
		{"default publish without endpoint", `{"channel":{"without_namespace":{"publish_proxy_enabled":true}}}`, nil,
			`channel.proxy.publish.endpoint: not set`},
		{"default sub_refresh without endpoint", `{"channel":{"namespaces":[{"name":"chat","sub_refresh_proxy_enabled":true,"sub_refresh_proxy_name":"default"}]}}`, nil,
			`channel.proxy.sub_refresh.endpoint: not set`},
		{"rpc without endpoint", `{"rpc":{"without_namespace":{"proxy_enabled":true}}}`, nil,
			`rpc.proxy.endpoint: not set`},
		{"bad endpoint", `{"client":{"proxy":{"refresh":{"enabled":true,"endpoint":"127.0.0.1:3000"}}}}`, nil,
			`client.proxy.refresh.endpoint: proxy: endpoint must be an http:// or https:// URL`},
		{"negative timeout", `{"proxies":[{"name":"p1","endpoint":"http://127.0.0.1","timeout":"-1s"}]}`, nil,
			`proxies[0].timeout: -1s must not be negative`},
		{"bad timeout", `{"client":{"proxy":{"connect":{"timeout":"soon"}}}}`, nil,
			`client.proxy.connect.timeout: invalid duration "soon"`},
		{"bad timeout from env", "", []string{"CENTRIFUGO_PROXIES_P1_TIMEOUT=x", `CENTRIFUGO_PROXIES=[{"name":"p1"}]`},
			`proxies[0].timeout: invalid duration "x" (from CENTRIFUGO_PROXIES_P1_TIMEOUT)`},
		{"bad enabled", `{"client":{"proxy":{"connect":{"enabled":"maybe"}}}}`, nil,
			`client.proxy.connect.enabled: invalid boolean "maybe"`},
		{"proxy not object", `{"client":{"proxy":{"connect":[1]}}}`, nil,
			`client.proxy.connect: expected an object, got list`},
		{"http not object", `{"channel":{"proxy":{"publish":{"http":true}}}}`, nil,
			`channel.proxy.publish.http: expected an object, got boolean`},
		{"static headers type", `{"rpc":{"proxy":{"http":{"static_headers":{"a":1}}}}}`, nil,
			`rpc.proxy.http.static_headers: value of "a": expected a string, got number`},
		{"static headers list dup", `{"rpc":{"proxy":{"http":{"static_headers":[{"key":"a","value":"1"},{"key":"a","value":"2"}]}}}}`, nil,
			`rpc.proxy.http.static_headers: item 1: duplicate key "a"`},
		{"static headers env JSON", "", []string{"CENTRIFUGO_CLIENT_PROXY_CONNECT_HTTP_STATIC_HEADERS=a:b"},
			`client.proxy.connect.http.static_headers: invalid JSON`},
		{"static headers missing var", `{"proxies":[{"name":"p1","endpoint":"http://127.0.0.1","http":{"static_headers":{"x":"${CENTRIFUGO_VAR_NOPE}"}}}]}`, nil,
			`proxies[0].http.static_headers: environment variable "CENTRIFUGO_VAR_NOPE" not found`},
		{"transforms type", `{"client":{"proxy":{"connect":{"http":{"status_to_code_transforms":{"status_code":1}}}}}}`, nil,
			`client.proxy.connect.http.status_to_code_transforms: expected a list of objects, got object`},
		{"transform code type", `{"client":{"proxy":{"connect":{"http":{"status_to_code_transforms":[{"status_code":"x"}]}}}}}`, nil,
			`client.proxy.connect.http.status_to_code_transforms: item 0: status_code: invalid integer "x"`},
		{"transform code range", `{"client":{"proxy":{"connect":{"http":{"status_to_code_transforms":[{"status_code":400,"to_error":{"code":-1}}]}}}}}`, nil,
			`client.proxy.connect.http.status_to_code_transforms: item 0: to_error.code: -1 is out of range`},
		{"transform without status", `{"proxies":[{"name":"p1","endpoint":"http://127.0.0.1","http":{"status_to_code_transforms":[{"to_error":{"code":1}}]}}]}`, nil,
			`proxies[0].http.status_to_code_transforms[0]: status_code must be set`},
		{"transform without code", `{"proxies":[{"name":"p1","endpoint":"http://127.0.0.1","http":{"status_to_code_transforms":[{"status_code":500}]}}]}`, nil,
			`proxies[0].http.status_to_code_transforms[0]: no to_error.code or to_disconnect.code set`},
		{"proxies not list", `{"proxies":{"name":"p"}}`, nil, `proxies: expected a list of objects, got object`},
		{"proxy item not object", `{"proxies":["p"]}`, nil, `proxies[0]: expected an object, got string`},
		{"proxies env JSON", "", []string{`CENTRIFUGO_PROXIES=[{"name":1`}, `proxies: invalid JSON in CENTRIFUGO_PROXIES`},
		{"reserved name", `{"proxies":[{"name":"default","endpoint":"http://127.0.0.1"}]}`, nil,
			`proxies[0].name: proxy name "default" is reserved`},
		{"invalid name", `{"proxies":[{"name":"a b","endpoint":"http://127.0.0.1"}]}`, nil,
			`proxies[0].name: "a b" must match`},
		{"short name", `{"proxies":[{"endpoint":"http://127.0.0.1"}]}`, nil,
			`proxies[0].name: "" must match`},
		{"duplicate name", `{"proxies":[{"name":"p1","endpoint":"http://127.0.0.1"},{"name":"p1","endpoint":"http://127.0.0.1"}]}`, nil,
			`proxies[1].name: "p1" is not unique`},
		{"unknown subscribe proxy", `{"channel":{"namespaces":[{"name":"chat","subscribe_proxy_name":"nope"}]}}`, nil,
			`channel.namespaces[0].subscribe_proxy_name: proxy "nope" not found in proxies`},
		{"unknown publish proxy", `{"channel":{"without_namespace":{"publish_proxy_enabled":true,"publish_proxy_name":"nope"}}}`, nil,
			`channel.without_namespace.publish_proxy_name: proxy "nope" not found in proxies`},
		{"unknown sub_refresh proxy", `{"channel":{"namespaces":[{"name":"chat","sub_refresh_proxy_name":"nope"}]}}`, nil,
			`channel.namespaces[0].sub_refresh_proxy_name: proxy "nope" not found`},
		{"unknown rpc proxy", `{"rpc":{"without_namespace":{"proxy_name":"nope"}}}`, nil,
			`rpc.without_namespace.proxy_name: proxy "nope" not found in proxies`},
		{"unknown rpc ns proxy", `{"rpc":{"namespaces":[{"name":"admin","proxy_enabled":true,"proxy_name":"nope"}]}}`, nil,
			`rpc.namespaces[0].proxy_name: proxy "nope" not found in proxies`},
		{"rpc ns name", `{"rpc":{"namespaces":[{"name":"a"}]}}`, nil, `rpc.namespaces[0].name: "a" must match`},
		{"rpc ns duplicate", `{"rpc":{"namespaces":[{"name":"ab"},{"name":"ab"}]}}`, nil, `rpc.namespaces[1].name: "ab" is not unique`},
		{"rpc ns not list", `{"rpc":{"namespaces":"ab"}}`, nil, `rpc.namespaces: expected a list of objects, got string`},
		{"rpc ns option", "", []string{`CENTRIFUGO_RPC_NAMESPACES=[{"name":"ab"}]`, "CENTRIFUGO_RPC_NAMESPACES_AB_PROXY_ENABLED=perhaps"},
			`rpc.namespaces[0].proxy_enabled: invalid boolean "perhaps" (from CENTRIFUGO_RPC_NAMESPACES_AB_PROXY_ENABLED)`},
		{"rpc ping", `{"rpc":{"ping":{"enabled":"x"}}}`, nil, `rpc.ping.enabled: invalid boolean "x"`},
		{"namespace proxy flag", `{"channel":{"namespaces":[{"name":"chat","publish_proxy_enabled":"x"}]}}`, nil,
			`channel.namespaces[0].publish_proxy_enabled: invalid boolean "x"`},
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

// Proxies that nothing uses are not validated (except named ones, as in Centrifugo).
func TestLoadConfigUnusedProxies(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "config.json", `{
		"client": {"proxy": {"connect": {"enabled": false, "endpoint": "grpc://127.0.0.1:1"}, "refresh": {"timeout": "1s"}}},
		"channel": {"proxy": {"subscribe": {"endpoint": "grpc://127.0.0.1:1"}}, "namespaces": [{"name": "chat", "subscribe_proxy_name": "default"}]},
		"rpc": {"proxy": {"endpoint": ""}, "without_namespace": {"proxy_name": "default"}, "ping": {"method": "x"}}
	}`)
	got, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Engine.RPCPingMethod != "" {
		t.Fatalf("ping method %q without rpc.ping.enabled", got.Engine.RPCPingMethod)
	}
	if _, err := BuildProxies(got, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	e := &got.Engine
	if e.ConnectProxy != nil || e.RefreshProxy != nil || e.SubscribeProxies != nil || e.PublishProxies != nil || e.SubRefreshProxies != nil || e.RPCProxies != nil {
		t.Fatalf("%+v", e)
	}
}

func TestBuildProxies(t *testing.T) {
	t.Parallel()
	sc, err := Load(writeFile(t, "config.json", proxiesJSON), []string{"CENTRIFUGO_VAR_SECRET=s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := BuildProxies(sc, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	e := &sc.Engine
	endpoint := func(c engine.ProxyCaller) string {
		t.Helper()
		h, ok := c.(*proxy.HTTP)
		if !ok {
			t.Fatalf("caller %T", c)
		}
		return h.Endpoint()
	}
	if endpoint(e.ConnectProxy) != "http://127.0.0.1:3000/centrifugo/connect" || endpoint(e.RefreshProxy) != "https://127.0.0.1:3000/refresh" {
		t.Fatal("connect/refresh")
	}
	keys := func(m map[string]engine.ProxyCaller) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	if got := keys(e.SubscribeProxies); !reflect.DeepEqual(got, []string{"default", "named-1"}) {
		t.Fatalf("subscribe proxies %v", got)
	}
	if got := keys(e.PublishProxies); !reflect.DeepEqual(got, []string{"default", "named-1"}) {
		t.Fatalf("publish proxies %v", got)
	}
	if got := keys(e.SubRefreshProxies); !reflect.DeepEqual(got, []string{"default"}) {
		t.Fatalf("sub_refresh proxies %v", got)
	}
	if got := keys(e.RPCProxies); !reflect.DeepEqual(got, []string{"default", "named.2"}) {
		t.Fatalf("rpc proxies %v", got)
	}
	if endpoint(e.SubscribeProxies["default"]) != "http://127.0.0.1:3000/sub" || endpoint(e.PublishProxies["default"]) != "http://127.0.0.1:3000/pub" ||
		endpoint(e.SubRefreshProxies["default"]) != "http://127.0.0.1:3000/subrefresh" || endpoint(e.RPCProxies["default"]) != "http://127.0.0.1:3000/rpc" ||
		endpoint(e.RPCProxies["named.2"]) != "http://127.0.0.1:5000/proxy" {
		t.Fatal("endpoints")
	}
	// A named proxy used for two events is one caller.
	if e.SubscribeProxies["named-1"] != e.PublishProxies["named-1"] {
		t.Fatal("named proxy built twice")
	}
	// "news" names named.2 for subscribe without enabling it: nothing is built for it.
	if _, ok := e.SubscribeProxies["named.2"]; ok {
		t.Fatal("disabled reference built")
	}
}

// TestBuildProxiesEndToEnd loads a config pointing at a local backend, builds the
// callers and checks what the backend receives.
func TestBuildProxiesEndToEnd(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var gotBody string
	var gotHeader http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		gotBody, gotHeader = string(b), r.Header.Clone()
		mu.Unlock()
		if r.URL.Path == "/denied" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		_, _ = io.WriteString(w, `{"result":{"b64data":"AQI="}}`)
	}))
	t.Cleanup(srv.Close)
	sc, err := Load("", []string{
		`CENTRIFUGO_PROXIES=[{"name":"backend","endpoint":"` + srv.URL + `/rpc","binary_encoding":true,"include_connection_meta":true,"http_headers":["authorization"],"http":{"static_headers":{"X-Api-Key":"${CENTRIFUGO_VAR_KEY}"}}}]`,
		"CENTRIFUGO_VAR_KEY=secret",
		"CENTRIFUGO_RPC_WITHOUT_NAMESPACE_PROXY_ENABLED=true",
		"CENTRIFUGO_RPC_WITHOUT_NAMESPACE_PROXY_NAME=backend",
		"CENTRIFUGO_CLIENT_PROXY_CONNECT_ENABLED=true",
		"CENTRIFUGO_CLIENT_PROXY_CONNECT_ENDPOINT=" + srv.URL + "/denied",
		`CENTRIFUGO_CLIENT_PROXY_CONNECT_HTTP_STATUS_TO_CODE_TRANSFORMS=[{"status_code":403,"to_disconnect":{"code":4403,"reason":"denied"}}]`,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := BuildProxies(sc, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	resp, err := sc.Engine.RPCProxies["backend"].CallProxy(ctx, &engine.ProxyRequest{
		Kind: engine.ProxyRPC, Client: "c", Transport: "websocket", Protocol: "protobuf", User: "u", Method: "m",
		Data: []byte{9}, Meta: []byte(`{"a":1}`), Headers: map[string]string{"Authorization": "Bearer t", "Cookie": "x"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Result.Data) != "\x01\x02" {
		t.Fatalf("data %q", resp.Result.Data)
	}
	mu.Lock()
	body, hdr := gotBody, gotHeader
	mu.Unlock()
	if want := `{"client":"c","transport":"websocket","protocol":"protobuf","encoding":"binary","user":"u","method":"m","b64data":"CQ==","meta":{"a":1}}`; body != want {
		t.Fatalf("body %s", body)
	}
	if hdr.Get("X-Api-Key") != "secret" || hdr.Get("Authorization") != "Bearer t" || hdr.Get("Cookie") != "" {
		t.Fatalf("headers %v", hdr)
	}

	resp, err = sc.Engine.ConnectProxy.CallProxy(ctx, &engine.ProxyRequest{Kind: engine.ProxyConnect})
	if err != nil || resp.Disconnect == nil || *resp.Disconnect != (engine.Disconnect{Code: 4403, Reason: "denied"}) {
		t.Fatalf("%+v %v", resp, err)
	}
}
