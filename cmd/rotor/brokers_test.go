package main

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// TestRedisUnreachableFailsStart: engine.type redis (or an enabled Redis broker or
// presence manager) with no Redis answering stops the start with an error naming
// the key, quickly; the node never runs alone on memory.
func TestRedisUnreachableFailsStart(t *testing.T) {
	addr := fmt.Sprintf("redis://127.0.0.1:%d", closedPort(t))
	for _, tc := range []struct {
		name, config, key string
	}{
		{"engine", `{"http_server":{"port":0},"engine":{"type":"redis","redis":{"address":["` + addr + `"],"connect_timeout":"300ms"}}}`, "engine.type"},
		{"broker", `{"http_server":{"port":0},"broker":{"enabled":true,"type":"redis","redis":{"address":["` + addr + `"],"connect_timeout":"300ms"}}}`, "broker.type"},
		{"presence_manager", `{"http_server":{"port":0},"presence_manager":{"enabled":true,"type":"redis","redis":{"address":["` + addr + `"],"connect_timeout":"300ms"}}}`, "presence_manager.type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "config.json", tc.config)
			var stdout, stderr bytes.Buffer
			start := time.Now()
			done := make(chan int, 1)
			go func() { done <- run([]string{"--config", path}, &stdout, &stderr) }()
			var code int
			select {
			case code = <-done:
			case <-time.After(10 * time.Second):
				// A node that started serves until a signal: the start did not fail.
				t.Fatal("the node started instead of failing")
			}
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr.String())
			}
			msg := stderr.String()
			if !strings.Contains(msg, "rotor: "+tc.key+": redis") {
				t.Fatalf("stderr does not name %s: %s", tc.key, msg)
			}
			if strings.Contains(msg, "rotor started") {
				t.Fatalf("the node started: %s", msg)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("failing took %s", d)
			}
		})
	}
}
