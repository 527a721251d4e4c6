package engine

import (
	"bytes"
	"errors"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Node info metrics (Centrifugo's node.info_metrics_aggregate_interval): every
// interval the node flattens its centrifugo_* series into the map the info API and
// the node-control announcement carry, as Centrifugo does:
//
//   - key: the family name with its first two '_' turned into '.', then the label
//     values ("name.value", sorted by label name, empty values left out), joined by
//     '.': centrifugo_client_num_server_disconnects{code="3008"} becomes
//     "centrifugo.client.num_server_disconnects.code.3008";
//   - counters: the increase since the previous snapshot (the value itself the first
//     time); gauges: the value; summaries: "sum" and "count" increases and each
//     quantile ("quantile.50", "quantile.99", "quantile.999"); histograms are left
//     out (Centrifugo sends them only with native histograms).
//
// The source is the node's own set plus the process-wide default set (the Redis
// broker's series), read back through their Prometheus text output.

// snapshotter turns successive snapshots into Centrifugo's items.
type snapshotter struct {
	mu   sync.Mutex
	prev map[string]float64
	last time.Time
	// snap is the latest snapshot, unsent until an announcement took it.
	snap   *NodeMetrics
	unsent bool
}

// takeSnapshot computes a new snapshot of m (interval: the configured one the first
// time, then the time since the previous snapshot) and keeps it as the latest.
func (n *Node) takeSnapshot(now time.Time) {
	var buf bytes.Buffer
	n.metrics.set.WritePrometheus(&buf)
	metrics.GetDefaultSet().WritePrometheus(&buf)
	s := &n.metrics.snap
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.prev == nil {
		s.prev = make(map[string]float64)
	}
	interval := n.control.metricsEvery.Seconds()
	if !s.last.IsZero() {
		interval = now.Sub(s.last).Seconds()
	}
	s.last = now
	s.snap = &NodeMetrics{Interval: interval, Items: flattenMetrics(buf.Bytes(), s.prev)}
	s.unsent = true
}

// latestSnapshot returns the latest snapshot (nil before the first) and, with take,
// whether it was not yet sent, marking it sent.
func (n *Node) latestSnapshot(take bool) (*NodeMetrics, bool) {
	s := &n.metrics.snap
	s.mu.Lock()
	defer s.mu.Unlock()
	unsent := s.unsent
	if take {
		s.unsent = false
	}
	return s.snap, unsent
}

// runSnapshots takes a snapshot now and then every metricsEvery until stop closes.
func (n *Node) runSnapshots(stop <-chan struct{}) {
	n.takeSnapshot(time.Now())
	go func() {
		t := time.NewTicker(n.control.metricsEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				n.takeSnapshot(now)
			}
		}
	}()
}

// flattenMetrics builds the items of one snapshot from Prometheus text output;
// prev holds each counter's previous value and is updated.
func flattenMetrics(text []byte, prev map[string]float64) map[string]float64 {
	items := make(map[string]float64)
	for len(text) > 0 {
		var line []byte
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			line, text = text, nil
		}
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		smp, err := parseSample(line)
		if err != nil || !strings.HasPrefix(smp.Name, "centrifugo_") {
			continue
		}
		typ, family, suffix := sampleKind(smp.Name)
		var quantile string
		labels := smp.Labels[:0:0]
		for _, l := range smp.Labels {
			if l.Name == "quantile" && typ == "summary" && suffix == "" {
				q, err := strconv.ParseFloat(l.Value, 64)
				if err != nil {
					continue
				}
				quantile = quantileKey(q)
				continue
			}
			labels = append(labels, l)
		}
		sort.Slice(labels, func(i, j int) bool { return labels[i].Name < labels[j].Name })
		var path strings.Builder
		for _, l := range labels {
			if l.Value == "" {
				continue
			}
			path.WriteByte('.')
			path.WriteString(l.Name)
			path.WriteByte('.')
			path.WriteString(l.Value)
		}
		key := baseKey(family)
		switch {
		case typ == "gauge":
			items[key+path.String()] = smp.Value
		case typ == "counter":
			items[key+path.String()] = change(prev, smp.Name+"|"+path.String(), smp.Value)
		case typ == "summary" && suffix != "":
			items[key+"."+suffix+path.String()] = change(prev, smp.Name+"|"+path.String(), smp.Value)
		case typ == "summary" && quantile != "":
			if !math.IsNaN(smp.Value) {
				items[key+".quantile."+quantile+path.String()] = smp.Value
			}
		}
	}
	return items
}

// sampleKind returns the type of the family a sample belongs to (from Families;
// "" unknown), the family name and the summary/histogram suffix ("sum", "count",
// "bucket" or "").
func sampleKind(name string) (typ, family, suffix string) {
	if f, ok := familyByName[name]; ok {
		return f.Type, name, ""
	}
	for _, suf := range [...]string{"sum", "count", "bucket"} {
		if base, ok := strings.CutSuffix(name, "_"+suf); ok {
			if f, ok := familyByName[base]; ok {
				return f.Type, base, suf
			}
		}
	}
	return "", name, ""
}

func change(prev map[string]float64, id string, v float64) float64 {
	p, ok := prev[id]
	prev[id] = v
	if !ok || v < p {
		return v
	}
	return v - p
}

// baseKey turns the first two '_' of name into '.'.
func baseKey(name string) string {
	b := []byte(name)
	for i, n := 0, 0; i < len(b) && n < 2; i++ {
		if b[i] == '_' {
			b[i] = '.'
			n++
		}
	}
	return string(b)
}

// quantileKey writes q as Centrifugo does: thousandths, one trailing zero dropped
// (0.5 → "50", 0.99 → "99", 0.999 → "999").
func quantileKey(q float64) string {
	s := strconv.Itoa(int(q * 1000))
	if len(s) > 2 {
		s = strings.TrimSuffix(s, "0")
	}
	return s
}

// Sample is one line of the Prometheus text format.
type Sample struct {
	Name   string
	Labels []Label
	Value  float64
}

// Label is one label pair of a Sample.
type Label struct{ Name, Value string }

var errSample = errors.New("engine: malformed sample line")

// parseSample parses one sample line of the Prometheus text exposition format
// (version 0.0.4): name, optional {labels}, value, optional timestamp. Label values
// may hold the escapes \\, \" and \n.
func parseSample(line []byte) (Sample, error) {
	var s Sample
	i := 0
	for i < len(line) && isNameByte(line[i], i == 0) {
		i++
	}
	if i == 0 {
		return s, errSample
	}
	s.Name = string(line[:i])
	if i < len(line) && line[i] == '{' {
		i++
		for {
			for i < len(line) && line[i] == ' ' {
				i++
			}
			if i < len(line) && line[i] == '}' {
				i++
				break
			}
			start := i
			for i < len(line) && isNameByte(line[i], i == start) {
				i++
			}
			if i == start || i+1 >= len(line) || line[i] != '=' || line[i+1] != '"' {
				return s, errSample
			}
			name := string(line[start:i])
			i += 2
			var v []byte
			closed := false
			for i < len(line) {
				c := line[i]
				i++
				if c == '"' {
					closed = true
					break
				}
				if c == '\\' {
					if i >= len(line) {
						return s, errSample
					}
					switch e := line[i]; e {
					case '\\', '"':
						v = append(v, e)
					case 'n':
						v = append(v, '\n')
					default:
						return s, errSample
					}
					i++
					continue
				}
				v = append(v, c)
			}
			if !closed {
				return s, errSample
			}
			s.Labels = append(s.Labels, Label{Name: name, Value: string(v)})
			if i < len(line) && line[i] == ',' {
				i++
				continue
			}
			if i < len(line) && line[i] == '}' {
				i++
				break
			}
			return s, errSample
		}
	}
	if i >= len(line) || line[i] != ' ' {
		return s, errSample
	}
	rest := bytes.TrimLeft(line[i:], " ")
	if j := bytes.IndexByte(rest, ' '); j >= 0 {
		if _, err := strconv.ParseInt(string(bytes.TrimSpace(rest[j:])), 10, 64); err != nil {
			return s, errSample // the only thing after the value is a timestamp
		}
		rest = rest[:j]
	}
	v, err := strconv.ParseFloat(string(rest), 64)
	if err != nil {
		return s, errSample
	}
	s.Value = v
	return s, nil
}

func isNameByte(c byte, first bool) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
}
