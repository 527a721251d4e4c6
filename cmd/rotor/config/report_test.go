package config

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCentrifugoDefaultConfigLoadsSilently: the output of `centrifugo defaultconfig`
// (Centrifugo v6.9.1, committed as centrifugo_defaults.json) loads with nothing to
// report: every key either honoured or holding its default.
func TestCentrifugoDefaultConfigLoadsSilently(t *testing.T) {
	t.Parallel()
	c, err := Load("centrifugo_defaults.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Report
	if len(r.NotHonoured)+len(r.CannotHonour)+len(r.Unknown)+len(r.UnknownEnv) != 0 {
		t.Fatalf("report: %+v", r)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if c.InternalPort != 0 || c.Port != 8000 {
		t.Fatalf("ports %d %d", c.Port, c.InternalPort)
	}
}

// TestCentrifugoDefaultConfigYAMLTOML: the same in YAML and TOML (`centrifugo
// defaultconfig -c x.yaml` / `x.toml`, v6.9.1, in testdata).
func TestCentrifugoDefaultConfigYAMLTOML(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"testdata/centrifugo_defaults.yaml", "testdata/centrifugo_defaults.toml"} {
		c, err := Load(name, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r := c.Report; len(r.NotHonoured)+len(r.CannotHonour)+len(r.Unknown)+len(r.UnknownEnv) != 0 {
			t.Fatalf("%s: %+v", name, r)
		}
	}
}

func TestReportSortsIgnoredKeys(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "c.json", `{
		"opentelemetry": {"enabled": true},
		"graphite": {"port": 2003, "interval": "10000ms"},
		"grpc_api": {"enabled": true, "port": "10000"},
		"consumers": [{"name": "k", "type": "kafka"}],
		"uni_grpc": {"enabled": false},
		"swagger": {"handler_prefix": "/swagger"},
		"channel": {"namespaces": [{"name": "chat", "nope_option": "x"}]},
		"no_such_section": {"x": 1},
		"engine": {"redis": {"address": ["redis://127.0.0.1:6379"]}}
	}`)
	c, err := Load(path, []string{
		"CENTRIFUGO_SSE_ENABLED=true",
		"CENTRIFUGO_GRAPHITE_HOST=localhost",
		"CENTRIFUGO_GRAPHITE_PREFIX=other",
		"CENTRIFUGO_NOPE=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	r := c.Report
	got := func(l []KeyNote) string {
		var s []string
		for _, k := range l {
			s = append(s, k.String())
		}
		return strings.Join(s, " ")
	}
	if want := `CENTRIFUGO_GRAPHITE_PREFIX="other" opentelemetry.enabled=true`; got(r.NotHonoured) != want {
		t.Errorf("not honoured: %s\nwant %s", got(r.NotHonoured), want)
	}
	if want := `CENTRIFUGO_SSE_ENABLED="true" consumers=[{"name":"k","type":"kafka"}] grpc_api.enabled=true`; got(r.CannotHonour) != want {
		t.Errorf("cannot honour: %s\nwant %s", got(r.CannotHonour), want)
	}
	if want := "channel.namespaces[0].nope_option no_such_section.x"; strings.Join(r.Unknown, " ") != want {
		t.Errorf("unknown: %q\nwant %q", r.Unknown, want)
	}
	if want := "CENTRIFUGO_NOPE"; strings.Join(r.UnknownEnv, " ") != want {
		t.Errorf("unknown env: %q\nwant %q", r.UnknownEnv, want)
	}
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "grpc_api.enabled") || !strings.Contains(err.Error(), "consumers") {
		t.Errorf("Err: %v", err)
	}
}

func TestIsDefault(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v, d any
		want bool
	}{
		{"1s", "1s", true},
		{"1000ms", "1s", true},
		{"2s", "1s", false},
		{"", nil, true},
		{[]any{}, nil, true},
		{"true", false, false},
		{"false", false, true},
		{"8000", json8000, true},
		{"", json8000, false},
		{"a b", []any{"a", "b"}, true},
		{map[string]any{}, map[string]any{}, true},
		{map[string]any{"x": "1"}, map[string]any{}, false},
	} {
		if got := isDefault(tc.v, tc.d); got != tc.want {
			t.Errorf("isDefault(%#v, %#v) = %v", tc.v, tc.d, got)
		}
	}
}

var json8000 = json.Number("8000")
