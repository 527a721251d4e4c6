package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"gopkg.in/yaml.v3"
)

// This file backs `rotor defaultconfig` and `rotor defaultenv`: Centrifugo's full
// default configuration (centrifugo_defaults.json, in Centrifugo's key order),
// optionally overlaid with a base config file.

// omap is a JSON object that keeps its key order.
type omap struct {
	keys []string
	vals map[string]any
}

func decodeOrdered(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the top-level value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			m := &omap{vals: map[string]any{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k := kt.(string)
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				if _, dup := m.vals[k]; !dup {
					m.keys = append(m.keys, k)
				}
				m.vals[k] = v
			}
			_, err := dec.Token() // }
			return m, err
		case '[':
			l := []any{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
			_, err := dec.Token() // ]
			return l, err
		}
	}
	return tok, nil
}

func (m *omap) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range m.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(m.vals[k])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// overlay writes the values of the (lower-cased) tree src into dst, keeping dst's
// key order and appending keys dst lacks.
func overlay(dst *omap, src map[string]any) {
	for k, v := range src {
		if sub, ok := v.(map[string]any); ok {
			if d, ok := dst.vals[k].(*omap); ok {
				overlay(d, sub)
				continue
			}
			n := &omap{vals: map[string]any{}}
			keys := make([]string, 0, len(sub))
			for sk := range sub {
				keys = append(keys, sk)
			}
			slices.Sort(keys)
			for _, sk := range keys {
				n.keys = append(n.keys, sk)
			}
			overlay(n, sub)
			v = n
		}
		if _, ok := dst.vals[k]; !ok {
			dst.keys = append(dst.keys, k)
		}
		dst.vals[k] = v
	}
}

// defaultsWithBase returns Centrifugo's defaults overlaid with the file at base
// ("" = none) and the base tree itself.
func defaultsWithBase(base string) (*omap, map[string]any, error) {
	v, err := decodeOrdered(centrifugoDefaults)
	if err != nil {
		return nil, nil, err
	}
	root := v.(*omap)
	var tree map[string]any
	if base != "" {
		if tree, err = readConfigFile(base); err != nil {
			return nil, nil, err
		}
		overlay(root, tree)
	}
	return root, tree, nil
}

// DefaultConfig renders Centrifugo's full configuration with defaults, overlaid with
// the config file at base ("" = none), in the format of the extension of out
// (json, yaml, yml or toml). The base must load.
func DefaultConfig(base, out string) ([]byte, error) {
	if base != "" {
		if _, err := Load(base, nil); err != nil {
			return nil, err
		}
	}
	root, _, err := defaultsWithBase(base)
	if err != nil {
		return nil, err
	}
	switch strings.TrimPrefix(filepath.Ext(out), ".") {
	case "json":
		b, err := json.Marshal(root)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, b, "", "  "); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case "yaml", "yml":
		return yaml.Marshal(yamlNode(root))
	case "toml":
		var buf bytes.Buffer
		if err := toml.NewEncoder(&buf).Encode(plain(root)); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	return nil, errors.New("output config file must have one of supported extensions: json, toml, yaml, yml")
}

func yamlNode(v any) *yaml.Node {
	switch x := v.(type) {
	case *omap:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, k := range x.keys {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, yamlNode(x.vals[k]))
		}
		return n
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, it := range x {
			if _, obj := it.(*omap); obj {
				n.Style = 0
			}
			n.Content = append(n.Content, yamlNode(it))
		}
		return n
	case map[string]any: // from a base file
		return yamlNode(toOmap(x))
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	case json.Number:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: x.String()}
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(x)}
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: x}
	}
	var n yaml.Node
	_ = n.Encode(v)
	return &n
}

func toOmap(m map[string]any) *omap {
	o := &omap{vals: map[string]any{}}
	for k := range m {
		o.keys = append(o.keys, k)
	}
	slices.Sort(o.keys)
	for k, v := range m {
		o.vals[k] = v
	}
	return o
}

// plain turns ordered maps into maps and drops nulls (TOML has none).
func plain(v any) any {
	switch x := v.(type) {
	case *omap:
		m := make(map[string]any, len(x.keys))
		for _, k := range x.keys {
			if c := plain(x.vals[k]); c != nil {
				m[k] = c
			}
		}
		return m
	case map[string]any:
		return plain(toOmap(x))
	case []any:
		out := make([]any, 0, len(x))
		for _, it := range x {
			if c := plain(it); c != nil {
				out = append(out, c)
			}
		}
		return out
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

// namedListVars are the lists of objects whose variable lists the items' names.
var namedListVars = []string{"CHANNEL_NAMESPACES", "RPC_NAMESPACES", "CONSUMERS", "PROXIES"}

// DefaultEnv lists every CENTRIFUGO_ variable with its default (overlaid with the
// file at base, "" = none), sorted, as NAME=VALUE lines in Centrifugo's format:
// strings quoted, durations, numbers and booleans bare, lists space-separated,
// maps and lists of objects as quoted JSON. With nonZeroOnly, only the variables
// the base file sets to a non-zero value.
func DefaultEnv(base string, nonZeroOnly bool) ([]string, error) {
	if base != "" {
		if _, err := Load(base, nil); err != nil {
			return nil, err
		}
	}
	root, tree, err := defaultsWithBase(base)
	if err != nil {
		return nil, err
	}
	var lines []string
	var walk func(v any, p string)
	walk = func(v any, p string) {
		if m, ok := v.(*omap); ok && len(m.keys) > 0 {
			for _, k := range m.keys {
				next := k
				if p != "" {
					next = p + "." + k
				}
				walk(m.vals[k], next)
			}
			return
		}
		if nonZeroOnly {
			bv, ok := (&source{tree: tree}).lookup(p)
			if !ok || isZero(bv) {
				return
			}
		}
		name := envName(p)
		lines = append(lines, envPrefixCentrifugo+name+"="+envText(v, slices.Contains(namedListVars, name)))
	}
	walk(root, "")
	slices.Sort(lines)
	return lines, nil
}

func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case string:
		return x == ""
	case json.Number:
		f, err := x.Float64()
		return err == nil && f == 0
	case int:
		return x == 0
	case int64:
		return x == 0
	case float64:
		return x == 0
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	case *omap:
		return len(x.keys) == 0
	}
	return false
}

// envText renders a value as `centrifugo defaultenv` does.
func envText(v any, namedList bool) string {
	quoteJSON := func(v any) string {
		b, _ := json.Marshal(v)
		return `"` + strings.ReplaceAll(string(b), `"`, `\"`) + `"`
	}
	switch x := v.(type) {
	case nil:
		return `""`
	case string:
		if x != "" {
			if _, err := time.ParseDuration(x); err == nil {
				return x
			}
		}
		return `"` + x + `"`
	case bool:
		return strconv.FormatBool(x)
	case json.Number:
		return x.String()
	case *omap, map[string]any:
		return quoteJSON(x)
	case []any:
		if namedList {
			var names []string
			for _, it := range x {
				var name string
				switch o := it.(type) {
				case *omap:
					name, _ = toString(o.vals["name"])
				case map[string]any:
					name, _ = toString(o["name"])
				}
				names = append(names, name)
			}
			return strconv.Quote(strings.Join(names, " "))
		}
		if len(x) == 0 {
			return `"[]"`
		}
		objects := false
		for _, it := range x {
			switch it.(type) {
			case *omap, map[string]any:
				objects = true
			}
		}
		if objects {
			return quoteJSON(x)
		}
		parts := make([]string, len(x))
		for i, it := range x {
			parts[i] = envText(it, false)
		}
		return strings.Join(parts, " ")
	}
	return fmt.Sprint(v)
}
