package main

import (
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"
)

func TestLocalStatsSumsSeriesByName(t *testing.T) {
	s := metrics.NewSet()
	s.GetOrCreateCounter(`rotor_admin_test_total{a="1"}`).Add(2)
	s.GetOrCreateCounter(`rotor_admin_test_total{a="2"}`).Add(3)
	s.GetOrCreateGauge(`rotor_admin_test_gauge`, nil).Set(1.5)
	metrics.RegisterSet(s)
	defer metrics.UnregisterSet(s, true)
	got := localStats()
	if got["rotor_admin_test_total"] != 5 || got["rotor_admin_test_gauge"] != 1.5 {
		t.Fatalf("stats: total %v gauge %v", got["rotor_admin_test_total"], got["rotor_admin_test_gauge"])
	}
	for k := range got {
		if strings.ContainsAny(k, "{} ") {
			t.Fatalf("key with labels: %q", k)
		}
	}
}

func FuzzSumExposition(f *testing.F) {
	f.Add("# HELP x y\n# TYPE x counter\nx{a=\"1 2\"} 3\nx 4\ny 1e3\n")
	f.Add("bad\n{} 1\n 2\nz NaN")
	f.Fuzz(func(t *testing.T, text string) {
		for k := range sumExposition(text) {
			if k == "" || strings.ContainsAny(k, "{} \n") {
				t.Fatalf("bad key %q", k)
			}
		}
	})
}
