// Package grafana holds rotor.json, a Grafana dashboard built on the series Rotor
// exposes at /metrics (Centrifugo's names, so it also shows Centrifugo nodes).
// This test keeps it in step with the code: it must be valid dashboard JSON and
// every series its queries read must be one Rotor writes.
package grafana

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/engine"
)

type dashboard struct {
	Title  string  `json:"title"`
	UID    string  `json:"uid"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// processFamilies are the process and Go families the dashboard may read
// (VictoriaMetrics/metrics writes them with the process metrics).
var processFamilies = map[string]bool{
	"process_cpu_seconds_total":     true,
	"process_resident_memory_bytes": true,
	"process_open_fds":              true,
	"process_max_fds":               true,
	"go_goroutines":                 true,
	"go_memstats_heap_inuse_bytes":  true,
	"go_gc_duration_seconds":        true,
}

var seriesName = regexp.MustCompile(`\b(centrifugo|process|go)_[a-z_]+`)

func TestDashboard(t *testing.T) {
	b, err := os.ReadFile("rotor.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("rotor.json: %v", err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("dashboard without title, uid or panels: %+v", d)
	}
	types := map[string]string{}
	for _, f := range engine.Families {
		types[f.Name] = f.Type
	}
	ids := map[int]bool{}
	used := map[string]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the datasource variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			names := seriesName.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q reads no series", p.Title, tg.Expr)
			}
			for _, name := range names {
				if processFamilies[name] {
					continue
				}
				family, suffix := name, ""
				for _, s := range []string{"_bucket", "_count", "_sum"} {
					if base, ok := strings.CutSuffix(name, s); ok && types[base] != "" {
						family, suffix = base, s
					}
				}
				typ := types[family]
				switch {
				case typ == "":
					t.Errorf("panel %q reads %s, which Rotor does not expose", p.Title, name)
				case suffix == "_bucket" && typ != "histogram":
					t.Errorf("panel %q reads buckets of %s, a %s", p.Title, family, typ)
				case strings.Contains(tg.Expr, "rate("+name) && typ == "gauge":
					t.Errorf("panel %q takes the rate of the gauge %s", p.Title, name)
				}
				used[family] = true
			}
		}
	}
	// The dashboard covers every family but the deprecated summaries (their
	// _histogram twins are shown) and the build info.
	for _, f := range engine.Families {
		if f.Type == "summary" || f.Name == "centrifugo_node_build" || used[f.Name] {
			continue
		}
		t.Errorf("no panel shows %s", f.Name)
	}
}
