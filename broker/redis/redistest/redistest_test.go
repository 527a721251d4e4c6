package redistest

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestStandaloneRestart(t *testing.T) {
	s := Start(t)
	s.MustDo("SET", "k", "v")
	if got := s.MustDo("GET", "k"); got != "v" {
		t.Fatalf("GET k = %q", got)
	}
	port := s.Port()
	s.Kill()
	if _, err := s.Do("PING"); err == nil {
		t.Fatal("PING answered after Kill")
	}
	s.Restart()
	if s.Port() != port {
		t.Fatalf("port changed %d → %d", port, s.Port())
	}
	if got := s.MustDo("GET", "k"); got != "(nil)" {
		t.Fatalf("GET k after restart = %q, want (nil): persistence must be off", got)
	}
	if got := s.MustDo("CONFIG", "GET", "appendonly"); got != "appendonly\nno" {
		t.Fatalf("appendonly: %q", got)
	}
}

func TestCluster(t *testing.T) {
	c := SharedCluster(t)
	if len(c.Nodes) != 3 {
		t.Fatalf("%d nodes", len(c.Nodes))
	}
	info := c.Nodes[0].MustDo("CLUSTER", "INFO")
	if !strings.Contains(info, "cluster_known_nodes:3") || !strings.Contains(info, "cluster_size:3") {
		t.Fatalf("cluster info:\n%s", info)
	}
}

func TestSentinel(t *testing.T) {
	s := StartSentinel(t, "mymaster")
	got := s.Sentinel.MustDo("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
	if got != "127.0.0.1\n"+strconv.Itoa(s.Master.Port()) {
		t.Fatalf("master addr %q", got)
	}
}

func TestTLS(t *testing.T) {
	s := StartTLS(t)
	if got := s.MustDo("SET", "k", "v"); got != "OK" {
		t.Fatalf("SET over TLS: %q", got)
	}
	if _, err := Do(s.Addr(), "PING"); err == nil {
		t.Fatal("plain-text PING answered by a TLS-only server")
	}
	s.Restart()
	if got := s.MustDo("PING"); got != "PONG" {
		t.Fatalf("PING after restart %q", got)
	}
}

func TestSentinelFailover(t *testing.T) {
	s := StartSentinelReplicas(t, "fo", 1)
	old := s.Master
	// WAIT: the replica has the write before it is promoted.
	if got, err := DoSeq(s.Master.Addr(), []string{"SET", "k", "v"}, []string{"WAIT", "1", "2000"}); err != nil || got != "1" {
		t.Fatalf("SET + WAIT: %q %v", got, err)
	}
	s.Master.Kill()
	nm := s.Failover(t)
	if nm == old || s.Master != nm {
		t.Fatal("master unchanged")
	}
	if got := nm.MustDo("GET", "k"); got != "v" {
		t.Fatalf("new master GET k = %q", got)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	CloseShared()
	os.Exit(code)
}

func TestSharedCluster(t *testing.T) {
	c := SharedCluster(t)
	for _, n := range c.Nodes { // two of three answer MOVED

		_, _ = n.Do("SET", "{a}x", "1")
	}
	c2 := SharedCluster(t)
	if c2 != c {
		t.Fatal("a second cluster was started")
	}
	for _, n := range c.Nodes {
		if got, _ := n.Do("DBSIZE"); got != "0" {
			t.Fatalf("node %s not emptied: DBSIZE %s", n.Addr(), got)
		}
	}
}
