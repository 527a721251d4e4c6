package config

import (
	"errors"
	"strings"
	"time"
)

// Metrics holds the metrics keys beyond prometheus.enabled
// (ServerConfig.PrometheusEnabled), with Centrifugo v6's defaults.
type Metrics struct {
	// InfoMetricsAggregateInterval is node.info_metrics_aggregate_interval: how
	// often the node snapshots its metrics for the info API and the node-control
	// announcement (default 60 s); the wiring copies it into
	// engine.Config.NodeInfoMetricsAggregateInterval.
	InfoMetricsAggregateInterval time.Duration
	// HandlerPrefix is the path /metrics is served at (default "/metrics").
	HandlerPrefix string
}

func init() {
	Register(Topic{
		Keys: func(c *ServerConfig) []Key {
			m := Ext[Metrics](c)
			m.InfoMetricsAggregateInterval = 60 * time.Second
			m.HandlerPrefix = "/metrics"
			return []Key{
				{"node.info_metrics_aggregate_interval", &m.InfoMetricsAggregateInterval},
				{"prometheus.handler_prefix", &m.HandlerPrefix},
			}
		},
		Validate: func(c *ServerConfig) error {
			m := Ext[Metrics](c)
			if m.InfoMetricsAggregateInterval <= 0 {
				return errors.New("node.info_metrics_aggregate_interval: must be positive")
			}
			if !strings.HasPrefix(m.HandlerPrefix, "/") {
				return errors.New("prometheus.handler_prefix: must start with /")
			}
			return nil
		},
	})
}
