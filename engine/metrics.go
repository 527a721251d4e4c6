package engine

import "github.com/VictoriaMetrics/metrics"

// registerMetrics exposes the node's counters under Centrifugo's metric names. Each
// Node has its own Set so that tests can build several nodes; Shutdown unregisters it.
func (n *Node) registerMetrics() {
	s := metrics.NewSet()
	gauge := func(name string, pick func(clients, users, channels, subs int) int) {
		s.NewGauge(name, func() float64 {
			return float64(pick(n.hub.counts()))
		})
	}
	gauge("centrifugo_node_num_clients", func(c, _, _, _ int) int { return c })
	gauge("centrifugo_node_num_users", func(_, u, _, _ int) int { return u })
	gauge("centrifugo_node_num_channels", func(_, _, ch, _ int) int { return ch })
	gauge("centrifugo_node_num_subscriptions", func(_, _, _, s int) int { return s })
	metrics.RegisterSet(s)
	n.metrics = s
}
