package config

import (
	"errors"
	"strings"
	"time"
)

// Metrics holds prometheus.handler_prefix; prometheus.enabled is
// ServerConfig.PrometheusEnabled and node.info_metrics_aggregate_interval (how often
// the node snapshots its metrics for the info API and the node-control
// announcement, default 60 s) is engine.Config.NodeInfoMetricsAggregateInterval.
type Metrics struct {
	// HandlerPrefix is the path /metrics is served at (default "/metrics").
	HandlerPrefix string
}

func init() {
	Register(Topic{
		Keys: func(c *ServerConfig) []Key {
			m := Ext[Metrics](c)
			c.Engine.NodeInfoMetricsAggregateInterval = 60 * time.Second
			m.HandlerPrefix = "/metrics"
			return []Key{
				{"node.info_metrics_aggregate_interval", &c.Engine.NodeInfoMetricsAggregateInterval},
				{"prometheus.handler_prefix", &m.HandlerPrefix},
			}
		},
		Validate: func(c *ServerConfig) error {
			m := Ext[Metrics](c)
			if c.Engine.NodeInfoMetricsAggregateInterval <= 0 {
				return errors.New("node.info_metrics_aggregate_interval: must be positive")
			}
			if !strings.HasPrefix(m.HandlerPrefix, "/") {
				return errors.New("prometheus.handler_prefix: must start with /")
			}
			return nil
		},
	})
}
