package config

import (
	"testing"
	"time"
)

func TestMetricsKeys(t *testing.T) {
	t.Parallel()
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := Ext[Metrics](c); m.InfoMetricsAggregateInterval != time.Minute || m.HandlerPrefix != "/metrics" {
		t.Fatalf("defaults: %+v", m)
	}
	path := writeFile(t, "c.json", `{"node":{"info_metrics_aggregate_interval":"5s"},"prometheus":{"enabled":true,"handler_prefix":"/prom"}}`)
	c, err = Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := Ext[Metrics](c); m.InfoMetricsAggregateInterval != 5*time.Second || m.HandlerPrefix != "/prom" {
		t.Fatalf("loaded: %+v", m)
	}
	c, err = Load("", []string{"CENTRIFUGO_NODE_INFO_METRICS_AGGREGATE_INTERVAL=2s"})
	if err != nil {
		t.Fatal(err)
	}
	if m := Ext[Metrics](c); m.InfoMetricsAggregateInterval != 2*time.Second {
		t.Fatalf("env: %+v", m)
	}
	if _, err := Load(writeFile(t, "bad.json", `{"node":{"info_metrics_aggregate_interval":"0s"}}`), nil); err == nil {
		t.Fatal("zero interval accepted")
	}
}
