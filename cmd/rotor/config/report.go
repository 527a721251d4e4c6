package config

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// This file sorts what Load could not apply (ServerConfig.Ignored) for the operator:
// a key holding Centrifugo's default value is not worth a word (so the output of
// `centrifugo defaultconfig` starts silently); a key Centrifugo does not know is a
// warning (as in Centrifugo; checkconfig --strict fails on it); a key with another
// value is either a warning (Rotor runs correctly without it) or, when clients or
// operators would silently lose something they rely on, an error that stops the
// start (CannotHonour).

// centrifugoDefaults is the output of `centrifugo defaultconfig -d` of Centrifugo
// v6.9.1: every key Centrifugo knows, with its default value.
//
//go:embed centrifugo_defaults.json
var centrifugoDefaults []byte

// cannotHonour lists the keys (dotted paths; "consumers" as a whole list) that stop
// the start when set to a non-default value and not honoured. A key that some
// topic registers (topics.go) is honoured and never reaches this list, so a feature
// landing needs no edit here; delete an entry only when a feature is dropped for good.
var cannotHonour = []string{
	// TLS and HTTP/3 on the listeners.
	"http_server.tls.enabled",
	"http_server.tls_autocert.enabled",
	"http_server.internal_tls.enabled",
	"http_server.http3.enabled",
	// Transports and endpoints clients connect to.
	"websocket.disabled",
	"websocket.handler_prefix",
	"sse.enabled",
	"http_stream.enabled",
	"uni_websocket.enabled",
	"uni_sse.enabled",
	"uni_http_stream.enabled",
	"uni_grpc.enabled",
	"webtransport.enabled",
	"init.enabled",
	// APIs and operational endpoints at other addresses.
	"grpc_api.enabled",
	"http_api.handler_prefix",
	"health.handler_prefix",
	"prometheus.handler_prefix",
	"admin.enabled",
	"debug.enabled",
	// Asynchronous consumers, map subscriptions, custom controllers.
	"consumers",
	"map_broker.type",
	"controller.enabled",
}

// KeyNote is a key (dotted path, or the environment variable or flag that set it)
// with the value it holds.
type KeyNote struct {
	Key   string
	Value string
}

func (k KeyNote) String() string { return k.Key + "=" + k.Value }

// Report sorts ServerConfig.Ignored; Load fills it.
type Report struct {
	// NotHonoured: Centrifugo keys set to a non-default value that Rotor ignores
	// and can run correctly without (warnings).
	NotHonoured []KeyNote
	// CannotHonour: Centrifugo keys set to a non-default value that Rotor cannot
	// honour and would break the deployment if ignored (the start fails).
	CannotHonour []KeyNote
	// Unknown: file keys Centrifugo does not know either (warnings; checkconfig
	// --strict fails on them).
	Unknown []string
	// UnknownEnv: ROTOR_/CENTRIFUGO_ variables that set nothing (warnings).
	UnknownEnv []string
}

func (r *Report) sort() {
	for _, l := range [][]KeyNote{r.NotHonoured, r.CannotHonour} {
		slices.SortFunc(l, func(a, b KeyNote) int { return strings.Compare(a.Key, b.Key) })
	}
	slices.Sort(r.Unknown)
	slices.Sort(r.UnknownEnv)
}

// Rename rewrites the shown names (to name flags instead of their variables).
func (r *Report) Rename(f func(string) string) {
	for _, l := range [][]KeyNote{r.NotHonoured, r.CannotHonour} {
		for i := range l {
			l[i].Key = f(l[i].Key)
		}
	}
	for _, l := range [][]string{r.Unknown, r.UnknownEnv} {
		for i := range l {
			l[i] = f(l[i])
		}
	}
}

// Err returns an error naming every key of CannotHonour, or nil.
func (r *Report) Err() error {
	if len(r.CannotHonour) == 0 {
		return nil
	}
	parts := make([]string, len(r.CannotHonour))
	for i, k := range r.CannotHonour {
		parts[i] = k.String()
	}
	return fmt.Errorf("not supported by Rotor, refusing to start without it: %s", strings.Join(parts, ", "))
}

var (
	defaultsOnce sync.Once
	defaultsTree map[string]any
	// defaultsByEnv maps the environment name of every default leaf
	// (CHANNEL_HISTORY_META_TTL) to its dotted path.
	defaultsByEnv map[string]string
)

func loadDefaults() {
	defaultsOnce.Do(func() {
		v, err := parseJSON(centrifugoDefaults)
		if err != nil {
			panic("config: embedded centrifugo_defaults.json: " + err.Error())
		}
		defaultsTree = normalize(v).(map[string]any)
		defaultsByEnv = map[string]string{}
		var walk func(v any, p string)
		walk = func(v any, p string) {
			if m, ok := v.(map[string]any); ok && len(m) > 0 {
				for k, c := range m {
					if p == "" {
						walk(c, k)
					} else {
						walk(c, p+"."+k)
					}
				}
				return
			}
			defaultsByEnv[envName(p)] = p
		}
		walk(defaultsTree, "")
	})
}

// itemTemplates maps a list of objects to the default object its items are compared
// with.
var itemTemplates = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`^channel\.namespaces\[\d+\]`), "channel.without_namespace"},
	{regexp.MustCompile(`^rpc\.namespaces\[\d+\]`), "rpc.without_namespace"},
	{regexp.MustCompile(`^proxies\[\d+\]`), "client.proxy.connect"},
}

// defaultOf returns Centrifugo's default for the dotted path p.
func defaultOf(p string) (any, bool) {
	loadDefaults()
	for _, t := range itemTemplates {
		p = t.re.ReplaceAllString(p, t.repl)
	}
	var cur any = defaultsTree
	for _, seg := range strings.Split(p, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[seg]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// isDefault reports whether v (a value of the file or an environment variable)
// equals Centrifugo's default d, weakly typed as the loader reads values.
func isDefault(v, d any) bool {
	if isEmpty(v) && isEmpty(d) {
		return true
	}
	switch dv := d.(type) {
	case bool:
		b, err := toBool(v)
		return err == nil && b == dv
	case json.Number:
		if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
			return false
		}
		a, err1 := toFloat(v)
		b, err2 := toFloat(dv)
		return err1 == nil && err2 == nil && a == b
	case string:
		s, err := toString(v)
		if err != nil {
			return false
		}
		if s == dv {
			return true
		}
		if dd, err := toDuration(dv); err == nil && dv != "" {
			vd, err := toDuration(v)
			return err == nil && vd == dd
		}
		return false
	case []any:
		var items []any
		switch x := v.(type) {
		case []any:
			items = x
		case string: // from the environment: space-separated
			for _, f := range strings.Fields(x) {
				items = append(items, f)
			}
		default:
			return false
		}
		if len(items) != len(dv) {
			return false
		}
		for i := range items {
			if !isDefault(items[i], dv[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		for k, c := range m {
			if !isDefault(c, dv[k]) {
				return false
			}
		}
		return true
	}
	return false
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == "" || x == "[]" || x == "{}"
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case json.Number:
		return x.Float64()
	case string:
		var n json.Number = json.Number(strings.TrimSpace(x))
		return n.Float64()
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case float64:
		return x, nil
	}
	return 0, errors.New("not a number")
}

// matchesCannotHonour reports whether the dotted path p is one of cannotHonour.
func matchesCannotHonour(p string) bool {
	return slices.Contains(cannotHonour, p)
}

// report sorts the ignored keys of s and the unknown variables of envs.
func (s *source) report(ignoredKeys []string, envs *envSet, unknownEnv []string) Report {
	var r Report
	classify := func(p, shown string, v any, unknown *[]string) {
		d, known := defaultOf(p)
		switch {
		case !known:
			*unknown = append(*unknown, shown)
		case isDefault(v, d):
		case matchesCannotHonour(p):
			r.CannotHonour = append(r.CannotHonour, KeyNote{shown, display(p, v)})
		default:
			r.NotHonoured = append(r.NotHonoured, KeyNote{shown, display(p, v)})
		}
	}
	for _, p := range ignoredKeys {
		v, _ := s.lookup(p)
		shown := p
		if name := s.originOf(p); name != "" {
			shown = p + " (" + name + ")"
		}
		unknown := &r.Unknown
		if s.originOf(p) != "" {
			unknown = &r.UnknownEnv
		}
		classify(p, shown, v, unknown)
	}
	for _, name := range unknownEnv {
		suffix := strings.TrimPrefix(strings.TrimPrefix(name, envPrefixRotor), envPrefixCentrifugo)
		p, ok := defaultsByEnvName(suffix)
		if !ok {
			r.UnknownEnv = append(r.UnknownEnv, name)
			continue
		}
		classify(p, name, envs.vals[name], &r.UnknownEnv)
	}
	return r
}

func defaultsByEnvName(suffix string) (string, bool) {
	loadDefaults()
	p, ok := defaultsByEnv[suffix]
	return p, ok
}

// lookup returns the tree value at the dotted path p (with [i] list indexes).
func (s *source) lookup(p string) (any, bool) {
	var cur any = s.tree
	for _, seg := range splitPath(p) {
		switch x := cur.(type) {
		case map[string]any:
			v, ok := x[seg.key]
			if !ok {
				return nil, false
			}
			cur = v
		default:
			return nil, false
		}
		if seg.index >= 0 {
			l, ok := cur.([]any)
			if !ok || seg.index >= len(l) {
				return nil, false
			}
			cur = l[seg.index]
		}
	}
	return cur, true
}

type pathSeg struct {
	key   string
	index int
}

func splitPath(p string) []pathSeg {
	var out []pathSeg
	for _, part := range strings.Split(p, ".") {
		seg := pathSeg{key: part, index: -1}
		if i := strings.IndexByte(part, '['); i > 0 && strings.HasSuffix(part, "]") {
			var n int
			if _, err := fmt.Sscanf(part[i:], "[%d]", &n); err == nil {
				seg = pathSeg{key: part[:i], index: n}
			}
		}
		out = append(out, seg)
	}
	return out
}

// secretRe matches the keys whose values reports must not show.
var secretRe = regexp.MustCompile(`(password|secret|key|token|dsn|credentials)`)

// display renders a value for a report line; secrets are hidden.
func display(p string, v any) string {
	if secretRe.MatchString(p[strings.LastIndexAny(p, ".]")+1:]) {
		return `"<hidden>"`
	}
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
