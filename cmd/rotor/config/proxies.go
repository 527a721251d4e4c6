package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/rotorhq/rotor/engine"
	"github.com/rotorhq/rotor/proxy"
)

// This file maps Centrifugo's proxy configuration (shared/spec/auth.md §5,
// config.md §3–5): client.proxy.{connect,refresh}, channel.proxy.{subscribe,publish,
// sub_refresh}, rpc.proxy, the named proxies list and the rpc.* routing keys, and
// builds the proxy callers the engine uses.

// ProxiesConfig holds the configured HTTP proxies. BuildProxies turns the ones in use
// into engine.Config callers.
type ProxiesConfig struct {
	// Connect and Refresh are client.proxy.connect and client.proxy.refresh.
	Connect, Refresh ClientProxyConfig
	// Subscribe, Publish and SubRefresh are channel.proxy.*: the proxies a namespace
	// names "default".
	Subscribe, Publish, SubRefresh proxy.HTTPConfig
	// RPC is rpc.proxy, the RPC proxy named "default".
	RPC proxy.HTTPConfig
	// Named is the top-level proxies list.
	Named []NamedProxyConfig
}

// ClientProxyConfig is a connection-level proxy, used when Enabled.
type ClientProxyConfig struct {
	Enabled bool
	proxy.HTTPConfig
}

// NamedProxyConfig is an item of the top-level proxies list.
type NamedProxyConfig struct {
	Name string
	proxy.HTTPConfig
}

// Config keys of this file.
const (
	keyProxies          = "proxies"
	keyRPCNamespaces    = "rpc.namespaces"
	keyClientConnect    = "client.proxy.connect"
	keyClientRefresh    = "client.proxy.refresh"
	keyChanSubscribe    = "channel.proxy.subscribe"
	keyChanPublish      = "channel.proxy.publish"
	keyChanSubRefresh   = "channel.proxy.sub_refresh"
	keyRPCProxy         = "rpc.proxy"
	keyRPCWithoutNS     = "rpc.without_namespace"
	keyRPCPingEnabled   = "rpc.ping.enabled"
	keyRPCPingMethod    = "rpc.ping.method"
	defaultProxyName    = "default"
	defaultRPCPing      = "ping"
	keyStaticHeaders    = "http.static_headers"
	keyStatusTransforms = "http.status_to_code_transforms"
)

// proxyNameRe is Centrifugo's rule for proxy and RPC namespace names.
var proxyNameRe = regexp.MustCompile(`^[-a-zA-Z0-9_.]{2,}$`)

// proxyKeys are the keys of one proxy object and the HTTPConfig field each fills:
// *string, *bool, *time.Duration, *[]string (env: space-separated),
// *map[string]string and *[]proxy.StatusTransform (env: JSON). Others (grpc_metadata,
// http.tls, grpc.*) are reported in Ignored.
var proxyKeys = []struct {
	key   string
	field func(*proxy.HTTPConfig) any
}{
	{"endpoint", func(c *proxy.HTTPConfig) any { return &c.Endpoint }},
	{"timeout", func(c *proxy.HTTPConfig) any { return &c.Timeout }},
	{"http_headers", func(c *proxy.HTTPConfig) any { return &c.HTTPHeaders }},
	{"emulated_headers", func(c *proxy.HTTPConfig) any { return &c.EmulatedHeaders }},
	{"binary_encoding", func(c *proxy.HTTPConfig) any { return &c.BinaryEncoding }},
	{"include_connection_meta", func(c *proxy.HTTPConfig) any { return &c.IncludeConnectionMeta }},
	{keyStaticHeaders, func(c *proxy.HTTPConfig) any { return &c.StaticHeaders }},
	{keyStatusTransforms, func(c *proxy.HTTPConfig) any { return &c.StatusToCodeTransforms }},
}

// rpcOptionKeys are the keys of rpc.without_namespace and of each rpc.namespaces item
// (besides name).
var rpcOptionKeys = []struct {
	key   string
	field func(*engine.RPCNamespace) any
}{
	{"proxy_enabled", func(o *engine.RPCNamespace) any { return &o.ProxyEnabled }},
	{"proxy_name", func(o *engine.RPCNamespace) any { return &o.ProxyName }},
}

// proxyEnvValue turns an environment variable's value into a tree value for field.
func proxyEnvValue(val string, field any) (any, error) {
	switch field.(type) {
	case *[]string:
		return envValue(val, true), nil
	case *map[string]string, *[]proxy.StatusTransform:
		v, err := parseJSON([]byte(val))
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		// Static header names are lower-cased as in files; header names are
		// case-insensitive either way.
		return normalize(v), nil
	default:
		return val, nil
	}
}

// applyProxyEnv writes the proxy-related environment variables into the tree, then
// expands ${CENTRIFUGO_VAR_*} in static header values.
func (s *source) applyProxyEnv(envs *envSet) error {
	var probe proxy.HTTPConfig
	for _, base := range []string{keyClientConnect, keyClientRefresh} {
		p := base + ".enabled"
		s.applyEnvKey(envs, p, envName(p), false)
	}
	for _, base := range []string{keyClientConnect, keyClientRefresh, keyChanSubscribe, keyChanPublish, keyChanSubRefresh, keyRPCProxy} {
		for _, k := range proxyKeys {
			p := base + "." + k.key
			val, name, ok := envs.lookup(envName(p))
			if !ok {
				continue
			}
			v, err := proxyEnvValue(val, k.field(&probe))
			if err != nil {
				return fmt.Errorf("%s: %w (from %s)", p, err, name)
			}
			if err := s.set(p, v); err != nil {
				s.forceSet(p, v)
			}
			s.origin[p] = name
		}
	}
	var rpcProbe engine.RPCNamespace
	for _, k := range rpcOptionKeys {
		p := keyRPCWithoutNS + "." + k.key
		s.applyEnvKey(envs, p, envName(p), false)
	}
	for _, p := range []string{keyRPCPingEnabled, keyRPCPingMethod} {
		s.applyEnvKey(envs, p, envName(p), false)
	}

	// Named lists: a JSON array (or space-separated names) in CENTRIFUGO_PROXIES /
	// CENTRIFUGO_RPC_NAMESPACES, then CENTRIFUGO_PROXIES_<NAME>_<KEY> per item.
	proxyItemKeys := make([]itemKey, len(proxyKeys))
	for i, k := range proxyKeys {
		proxyItemKeys[i] = itemKey{k.key, k.field(&probe)}
	}
	rpcItemKeys := make([]itemKey, len(rpcOptionKeys))
	for i, k := range rpcOptionKeys {
		rpcItemKeys[i] = itemKey{k.key, k.field(&rpcProbe)}
	}
	if err := s.applyNamedListEnv(envs, keyProxies, proxyItemKeys); err != nil {
		return err
	}
	if err := s.applyNamedListEnv(envs, keyRPCNamespaces, rpcItemKeys); err != nil {
		return err
	}
	return s.expandStaticHeaders(envs)
}

// itemKey is one key of a named list item and a probe of its field type.
type itemKey struct {
	key   string
	field any
}

// applyNamedListEnv applies the list variable of the named list at p and the
// per-item variables <LIST>_<NAME>_<KEY> of the items it then holds.
func (s *source) applyNamedListEnv(envs *envSet, p string, keys []itemKey) error {
	if val, name, ok := envs.lookup(envName(p)); ok {
		var list any
		if strings.HasPrefix(strings.TrimSpace(val), "[") {
			v, err := parseJSON([]byte(val))
			if err != nil {
				return fmt.Errorf("%s: invalid JSON in %s: %w", p, name, err)
			}
			list = normalize(v)
		} else {
			// Centrifugo's space-separated form: items with names only.
			var items []any
			for _, n := range strings.Fields(val) {
				items = append(items, map[string]any{"name": n})
			}
			list = items
		}
		if err := s.set(p, list); err != nil {
			s.forceSet(p, list)
		}
		s.origin[p] = name
	}
	parent, err := s.parentOf(p)
	if err != nil || parent == nil {
		return err
	}
	items, _ := parent[p[strings.LastIndexByte(p, '.')+1:]].([]any)
	for i, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			continue // reported by extract
		}
		var itemName string
		if err := convert(m["name"], &itemName); err != nil || itemName == "" {
			continue
		}
		prefix := envName(p) + "_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(itemName)) + "_"
		for _, k := range keys {
			val, name, ok := envs.lookup(prefix + envName(k.key))
			if !ok {
				continue
			}
			ip := fmt.Sprintf("%s[%d].%s", p, i, k.key)
			v, err := proxyEnvValue(val, k.field)
			if err != nil {
				return fmt.Errorf("%s: %w (from %s)", ip, err, name)
			}
			setIn(m, k.key, v)
			s.origin[ip] = name
		}
	}
	return nil
}

// setIn stores v at the dotted path p inside m, replacing parents that are not
// objects.
func setIn(m map[string]any, p string, v any) {
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

// varRefRe matches the free variables Centrifugo substitutes in string-map values.
var varRefRe = regexp.MustCompile(`\$\{((?:CENTRIFUGO|ROTOR)_VAR_[^}]+)}`)

// expandStaticHeaders replaces ${CENTRIFUGO_VAR_X} in every static header value of
// the tree with the variable's value; an unset variable is an error.
func (s *source) expandStaticHeaders(envs *envSet) error {
	expand := func(p string, m map[string]any) error {
		sh, ok := m["http"].(map[string]any)
		if !ok {
			return nil
		}
		var err error
		expandValue := func(v any) any {
			str, ok := v.(string)
			if !ok {
				return v
			}
			return varRefRe.ReplaceAllStringFunc(str, func(ref string) string {
				name := varRefRe.FindStringSubmatch(ref)[1]
				val, present := envs.vals[name]
				if !present && err == nil {
					err = fmt.Errorf("%s.%s: environment variable %q not found", p, keyStaticHeaders, name)
				}
				return val
			})
		}
		switch h := sh["static_headers"].(type) {
		case map[string]any:
			for k, v := range h {
				h[k] = expandValue(v)
			}
		case []any:
			for _, it := range h {
				if kv, ok := it.(map[string]any); ok {
					kv["value"] = expandValue(kv["value"])
				}
			}
		}
		return err
	}
	for _, base := range []string{keyClientConnect, keyClientRefresh, keyChanSubscribe, keyChanPublish, keyChanSubRefresh, keyRPCProxy} {
		m, err := s.object(base)
		if err != nil || m == nil {
			continue // a non-object is reported by extract
		}
		if err := expand(base, m); err != nil {
			return err
		}
	}
	if items, ok := s.tree[keyProxies].([]any); ok {
		for i, it := range items {
			if m, ok := it.(map[string]any); ok {
				if err := expand(fmt.Sprintf("%s[%d]", keyProxies, i), m); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// extractProxies fills cfg.Proxies and the engine's RPC routing from the tree.
func (s *source) extractProxies(cfg *ServerConfig) error {
	pc := &cfg.Proxies
	for _, c := range []struct {
		key string
		dst *ClientProxyConfig
	}{{keyClientConnect, &pc.Connect}, {keyClientRefresh, &pc.Refresh}} {
		m, err := s.object(c.key)
		if err != nil {
			return err
		}
		if m == nil {
			continue
		}
		if err := s.readIn(m, "enabled", c.key+".enabled", &c.dst.Enabled); err != nil {
			return err
		}
		if err := s.readProxy(m, c.key, &c.dst.HTTPConfig); err != nil {
			return err
		}
	}
	for _, c := range []struct {
		key string
		dst *proxy.HTTPConfig
	}{{keyChanSubscribe, &pc.Subscribe}, {keyChanPublish, &pc.Publish}, {keyChanSubRefresh, &pc.SubRefresh}, {keyRPCProxy, &pc.RPC}} {
		m, err := s.object(c.key)
		if err != nil {
			return err
		}
		if m != nil {
			if err := s.readProxy(m, c.key, c.dst); err != nil {
				return err
			}
		}
	}

	items, err := s.objectList(keyProxies)
	if err != nil {
		return err
	}
	for i, m := range items {
		p := fmt.Sprintf("%s[%d]", keyProxies, i)
		var np NamedProxyConfig
		if err := s.readIn(m, "name", p+".name", &np.Name); err != nil {
			return err
		}
		if err := s.readProxy(m, p, &np.HTTPConfig); err != nil {
			return err
		}
		pc.Named = append(pc.Named, np)
	}

	e := &cfg.Engine
	if m, err := s.object(keyRPCWithoutNS); err != nil {
		return err
	} else if m != nil {
		if err := s.readRPCOptions(m, keyRPCWithoutNS, &e.RPCWithoutNamespace); err != nil {
			return err
		}
	}
	rpcItems, err := s.objectList(keyRPCNamespaces)
	if err != nil {
		return err
	}
	for i, m := range rpcItems {
		p := fmt.Sprintf("%s[%d]", keyRPCNamespaces, i)
		var ns engine.RPCNamespace
		if err := s.readIn(m, "name", p+".name", &ns.Name); err != nil {
			return err
		}
		if err := s.readRPCOptions(m, p, &ns); err != nil {
			return err
		}
		e.RPCNamespaces = append(e.RPCNamespaces, ns)
	}

	var pingEnabled bool
	pingMethod := defaultRPCPing
	if err := s.read(keyRPCPingEnabled, &pingEnabled); err != nil {
		return err
	}
	if err := s.read(keyRPCPingMethod, &pingMethod); err != nil {
		return err
	}
	if pingEnabled {
		if pingMethod == "" {
			pingMethod = defaultRPCPing
		}
		e.RPCPingMethod = pingMethod
	}
	return nil
}

// objectList returns the items of the list of objects at the dotted path p.
func (s *source) objectList(p string) ([]map[string]any, error) {
	parent, err := s.parentOf(p)
	if err != nil || parent == nil {
		return nil, err
	}
	v := parent[p[strings.LastIndexByte(p, '.')+1:]]
	if v == nil {
		return nil, nil
	}
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: expected a list of objects, got %s", p, typeName(v))
	}
	out := make([]map[string]any, 0, len(items))
	for i, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s[%d]: %w, got %s", p, i, errNotObject, typeName(it))
		}
		out = append(out, m)
	}
	return out, nil
}

func (s *source) readRPCOptions(m map[string]any, p string, o *engine.RPCNamespace) error {
	for _, k := range rpcOptionKeys {
		if err := s.readIn(m, k.key, p+"."+k.key, k.field(o)); err != nil {
			return err
		}
	}
	return nil
}

// readProxy reads the proxy object m (named p in errors) into c.
func (s *source) readProxy(m map[string]any, p string, c *proxy.HTTPConfig) error {
	for _, k := range proxyKeys {
		parent, key := m, k.key
		if i := strings.LastIndexByte(k.key, '.'); i >= 0 {
			sub := k.key[:i]
			v := m[sub]
			if v == nil {
				continue
			}
			sm, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("%s.%s: %w, got %s", p, sub, errNotObject, typeName(v))
			}
			parent, key = sm, k.key[i+1:]
		}
		kp := p + "." + k.key
		switch f := k.field(c).(type) {
		case *map[string]string:
			if err := s.readSpecial(parent, key, kp, func(v any) error { return toStringMap(v, f) }); err != nil {
				return err
			}
		case *[]proxy.StatusTransform:
			if err := s.readSpecial(parent, key, kp, func(v any) error { return toStatusTransforms(v, f) }); err != nil {
				return err
			}
		default:
			if err := s.readIn(parent, key, kp, f); err != nil {
				return err
			}
		}
	}
	return nil
}

// readSpecial is readIn for the field types convert does not know.
func (s *source) readSpecial(m map[string]any, key, p string, conv func(any) error) error {
	v, ok := m[key]
	if !ok {
		return nil
	}
	s.consumed[p] = true
	if v == nil {
		return nil
	}
	if err := conv(v); err != nil {
		if name := s.originOf(p); name != "" {
			return fmt.Errorf("%s: %w (from %s)", p, err, name)
		}
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

// toStringMap accepts an object of strings or Centrifugo's list of {key, value}
// objects.
func toStringMap(v any, dst *map[string]string) error {
	out := map[string]string{}
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			str, ok := val.(string)
			if !ok {
				return fmt.Errorf("value of %q: expected a string, got %s", k, typeName(val))
			}
			out[k] = str
		}
	case []any:
		for i, it := range x {
			kv, ok := it.(map[string]any)
			if !ok {
				return fmt.Errorf("item %d: %w, got %s", i, errNotObject, typeName(it))
			}
			k, ok := kv["key"].(string)
			if !ok || k == "" {
				return fmt.Errorf("item %d: missing or invalid key", i)
			}
			if _, dup := out[k]; dup {
				return fmt.Errorf("item %d: duplicate key %q", i, k)
			}
			val, ok := kv["value"].(string)
			if !ok {
				return fmt.Errorf("item %d: missing or invalid value", i)
			}
			out[k] = val
		}
	default:
		return fmt.Errorf("expected an object of strings, got %s", typeName(v))
	}
	if len(out) > 0 {
		*dst = out
	}
	return nil
}

// toStatusTransforms decodes a list of {status_code, to_error:{code, message,
// temporary}, to_disconnect:{code, reason}}.
func toStatusTransforms(v any, dst *[]proxy.StatusTransform) error {
	items, ok := v.([]any)
	if !ok {
		return fmt.Errorf("expected a list of objects, got %s", typeName(v))
	}
	out := make([]proxy.StatusTransform, 0, len(items))
	for i, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return fmt.Errorf("item %d: %w, got %s", i, errNotObject, typeName(it))
		}
		var t proxy.StatusTransform
		var errCode, discCode int
		fields := []struct {
			obj, key string
			field    any
		}{
			{"", "status_code", &t.StatusCode},
			{"to_error", "code", &errCode},
			{"to_error", "message", &t.ToError.Message},
			{"to_error", "temporary", &t.ToError.Temporary},
			{"to_disconnect", "code", &discCode},
			{"to_disconnect", "reason", &t.ToDisconnect.Reason},
		}
		for _, f := range fields {
			src, name := m, f.key
			if f.obj != "" {
				name = f.obj + "." + f.key
				sub := m[f.obj]
				if sub == nil {
					continue
				}
				if src, ok = sub.(map[string]any); !ok {
					return fmt.Errorf("item %d: %s: %w, got %s", i, f.obj, errNotObject, typeName(sub))
				}
			}
			if val, ok := src[f.key]; ok && val != nil {
				if err := convert(val, f.field); err != nil {
					return fmt.Errorf("item %d: %s: %w", i, name, err)
				}
			}
		}
		for _, c := range []struct {
			name string
			val  int
			dst  *uint32
		}{{"to_error.code", errCode, &t.ToError.Code}, {"to_disconnect.code", discCode, &t.ToDisconnect.Code}} {
			if c.val < 0 || uint64(c.val) > 1<<32-1 {
				return fmt.Errorf("item %d: %s: %d is out of range", i, c.name, c.val)
			}
			*c.dst = uint32(c.val)
		}
		out = append(out, t)
	}
	if len(out) > 0 {
		*dst = out
	}
	return nil
}

// validateProxies checks proxy names and references (Centrifugo's rules: named
// proxies have unique valid names other than "default"; every proxy name a namespace
// or RPC namespace gives must exist) and the proxies in use.
func (c *ServerConfig) validateProxies() error {
	pc := &c.Proxies
	named := make(map[string]bool, len(pc.Named))
	for i := range pc.Named {
		np := &pc.Named[i]
		p := fmt.Sprintf("%s[%d]", keyProxies, i)
		if !proxyNameRe.MatchString(np.Name) {
			return fmt.Errorf("%s.name: %q must match %s", p, np.Name, proxyNameRe)
		}
		if np.Name == defaultProxyName {
			return fmt.Errorf("%s.name: proxy name %q is reserved", p, defaultProxyName)
		}
		if named[np.Name] {
			return fmt.Errorf("%s.name: %q is not unique", p, np.Name)
		}
		named[np.Name] = true
		if err := validateProxyConfig(p, &np.HTTPConfig); err != nil {
			return err
		}
	}
	for _, cp := range []struct {
		key string
		cfg *ClientProxyConfig
	}{{keyClientConnect, &pc.Connect}, {keyClientRefresh, &pc.Refresh}} {
		if cp.cfg.Enabled {
			if err := validateProxyConfig(cp.key, &cp.cfg.HTTPConfig); err != nil {
				return err
			}
		}
	}
	// ref checks one proxy reference; the default proxy is validated when enabled.
	ref := func(p, nameKey, name string, enabled bool, defKey string, def *proxy.HTTPConfig) error {
		if name != "" && name != defaultProxyName && !named[name] {
			return fmt.Errorf("%s.%s: proxy %q not found in %s", p, nameKey, name, keyProxies)
		}
		if enabled && (name == "" || name == defaultProxyName) {
			return validateProxyConfig(defKey, def)
		}
		return nil
	}
	for _, ns := range c.allNamespaces() {
		o := ns.opts
		if err := ref(ns.path, "subscribe_proxy_name", o.SubscribeProxyName, o.SubscribeProxyEnabled, keyChanSubscribe, &pc.Subscribe); err != nil {
			return err
		}
		if err := ref(ns.path, "publish_proxy_name", o.PublishProxyName, o.PublishProxyEnabled, keyChanPublish, &pc.Publish); err != nil {
			return err
		}
		if err := ref(ns.path, "sub_refresh_proxy_name", o.SubRefreshProxyName, o.SubRefreshProxyEnabled, keyChanSubRefresh, &pc.SubRefresh); err != nil {
			return err
		}
	}
	e := &c.Engine
	if err := ref(keyRPCWithoutNS, "proxy_name", e.RPCWithoutNamespace.ProxyName, e.RPCWithoutNamespace.ProxyEnabled, keyRPCProxy, &pc.RPC); err != nil {
		return err
	}
	seen := make(map[string]bool, len(e.RPCNamespaces))
	for i, ns := range e.RPCNamespaces {
		p := fmt.Sprintf("%s[%d]", keyRPCNamespaces, i)
		if !proxyNameRe.MatchString(ns.Name) {
			return fmt.Errorf("%s.name: %q must match %s", p, ns.Name, proxyNameRe)
		}
		if seen[ns.Name] {
			return fmt.Errorf("%s.name: %q is not unique", p, ns.Name)
		}
		seen[ns.Name] = true
		if err := ref(p, "proxy_name", ns.ProxyName, ns.ProxyEnabled, keyRPCProxy, &pc.RPC); err != nil {
			return err
		}
	}
	return nil
}

// validateProxyConfig checks one proxy in use, naming its keys (p is the proxy's
// dotted path).
func validateProxyConfig(p string, c *proxy.HTTPConfig) error {
	if c.Endpoint == "" {
		return fmt.Errorf("%s.endpoint: not set", p)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("%s.timeout: %s must not be negative", p, c.Timeout)
	}
	for i, t := range c.StatusToCodeTransforms {
		if t.StatusCode == 0 {
			return fmt.Errorf("%s.%s[%d]: status_code must be set", p, keyStatusTransforms, i)
		}
		if t.ToError.Code == 0 && t.ToDisconnect.Code == 0 {
			return fmt.Errorf("%s.%s[%d]: no to_error.code or to_disconnect.code set", p, keyStatusTransforms, i)
		}
	}
	if _, err := proxy.NewHTTP(*c); err != nil {
		if errors.Is(err, proxy.ErrGRPCUnsupported) || errors.Is(err, proxy.ErrInvalidEndpoint) {
			return fmt.Errorf("%s.endpoint: %w", p, err)
		}
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

// BuildProxies creates the HTTP proxies in use and fills the proxy fields of
// sc.Engine: ConnectProxy, RefreshProxy and the Subscribe/Publish/SubRefresh/RPC
// maps, keyed by the name namespaces use ("default" for the built-in ones). A named
// proxy used by several events is one caller (one connection pool). Call it once,
// after Load and before engine.New.
func BuildProxies(sc *ServerConfig, logger *slog.Logger) (headers []string, err error) {
	err = buildProxyCallers(sc, logger, &headers)
	return headers, err
}

// buildProxyCallers does the work of BuildProxies and collects, into headers, the
// request header names any built proxy forwards.
func buildProxyCallers(sc *ServerConfig, logger *slog.Logger, headers *[]string) error {
	pc := &sc.Proxies
	e := &sc.Engine
	built := map[string]*proxy.HTTP{} // by config path
	get := func(p string, c *proxy.HTTPConfig, what string) (*proxy.HTTP, error) {
		if h, ok := built[p]; ok {
			return h, nil
		}
		h, err := proxy.NewHTTP(*c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		built[p] = h
		logger.Info("proxy enabled", "proxy", p, "for", what, "endpoint", redactURL(c.Endpoint))
		return h, nil
	}
	named := make(map[string]int, len(pc.Named))
	for i := range pc.Named {
		named[pc.Named[i].Name] = i
	}
	// resolve returns the caller for a reference to name (default → defKey/def).
	resolve := func(name, defKey string, def *proxy.HTTPConfig, what string) (*proxy.HTTP, string, error) {
		if name == "" || name == defaultProxyName {
			h, err := get(defKey, def, what)
			return h, defaultProxyName, err
		}
		i, ok := named[name]
		if !ok {
			return nil, "", fmt.Errorf("proxy %q not found in %s", name, keyProxies)
		}
		h, err := get(fmt.Sprintf("%s[%d]", keyProxies, i), &pc.Named[i].HTTPConfig, what)
		return h, name, err
	}
	add := func(m *map[string]engine.ProxyCaller, name string, h *proxy.HTTP) {
		if *m == nil {
			*m = map[string]engine.ProxyCaller{}
		}
		(*m)[name] = h
	}

	if pc.Connect.Enabled {
		h, err := get(keyClientConnect, &pc.Connect.HTTPConfig, "connect")
		if err != nil {
			return err
		}
		e.ConnectProxy = h
	}
	if pc.Refresh.Enabled {
		h, err := get(keyClientRefresh, &pc.Refresh.HTTPConfig, "refresh")
		if err != nil {
			return err
		}
		e.RefreshProxy = h
	}
	for _, ns := range sc.allNamespaces() {
		o := ns.opts
		for _, c := range []struct {
			enabled bool
			name    string
			defKey  string
			def     *proxy.HTTPConfig
			what    string
			dst     *map[string]engine.ProxyCaller
		}{
			{o.SubscribeProxyEnabled, o.SubscribeProxyName, keyChanSubscribe, &pc.Subscribe, "subscribe", &e.SubscribeProxies},
			{o.PublishProxyEnabled, o.PublishProxyName, keyChanPublish, &pc.Publish, "publish", &e.PublishProxies},
			{o.SubRefreshProxyEnabled, o.SubRefreshProxyName, keyChanSubRefresh, &pc.SubRefresh, "sub_refresh", &e.SubRefreshProxies},
		} {
			if !c.enabled {
				continue
			}
			h, name, err := resolve(c.name, c.defKey, c.def, c.what)
			if err != nil {
				return fmt.Errorf("%s: %w", ns.path, err)
			}
			add(c.dst, name, h)
		}
	}
	rpcs := append([]engine.RPCNamespace{e.RPCWithoutNamespace}, e.RPCNamespaces...)
	for i, ns := range rpcs {
		if !ns.ProxyEnabled {
			continue
		}
		h, name, err := resolve(ns.ProxyName, keyRPCProxy, &pc.RPC, "rpc")
		if err != nil {
			p := keyRPCWithoutNS
			if i > 0 {
				p = fmt.Sprintf("%s[%d]", keyRPCNamespaces, i-1)
			}
			return fmt.Errorf("%s: %w", p, err)
		}
		add(&e.RPCProxies, name, h)
	}
	seen := map[string]bool{}
	for _, h := range built {
		fwd, _ := h.ForwardedHeaders()
		for _, name := range fwd {
			if k := strings.ToLower(name); !seen[k] {
				seen[k] = true
				*headers = append(*headers, name)
			}
		}
	}
	sort.Strings(*headers)
	return nil
}

// redactURL hides the password of an endpoint for logs.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<invalid URL>"
	}
	return u.Redacted()
}
