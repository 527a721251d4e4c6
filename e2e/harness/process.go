package harness

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Signal sends sig to the server process.
func (s *Server) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// Pid is the server's process ID.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// WaitExit waits up to timeout for the process to end and returns its exit code
// (-1 when killed by a signal); ok is false when it is still running.
func (s *Server) WaitExit(timeout time.Duration) (code int, ok bool) {
	select {
	case <-s.done:
	case <-time.After(timeout):
		return 0, false
	}
	var ee *exec.ExitError
	if errors.As(s.err, &ee) {
		return ee.ExitCode(), true
	}
	return 0, true
}

// RewriteConfig replaces the server's config file with cfg (as Start writes it:
// the server's address and port kept), for a SIGHUP reload.
func (s *Server) RewriteConfig(t testing.TB, cfg Config) {
	t.Helper()
	cfg.Set("http_server.port", s.Port)
	cfg.Set("http_server.address", "127.0.0.1")
	body, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.ConfigPath, body, 0o600); err != nil {
		t.Fatal(err)
	}
}

// WaitOutput waits up to timeout until the server output contains want, counted
// from the given offset (len(Output()) before the action), and returns the
// output after offset.
func (s *Server) WaitOutput(t testing.TB, from int, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := s.Output()[from:]
		if strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("server output does not contain %q within %v:\n%s", want, timeout, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
