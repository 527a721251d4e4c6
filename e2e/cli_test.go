package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rotorhq/rotor/e2e/harness"
)

// startCmd runs the server binary with args in dir (no ROTOR_/CENTRIFUGO_
// variables) and waits until GET /health on port answers 200.
func startCmd(t *testing.T, dir string, port int, args ...string) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(harness.Binary(), args...)
	cmd.Dir = dir
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ROTOR_") && !strings.HasPrefix(kv, "CENTRIFUGO_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("server output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/health", port))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd, out
			}
		}
		select {
		case <-exited:
			t.Fatalf("the server exited:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no healthy server on %d:\n%s", port, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestCentrifugoDefaultConfigStarts: the output of `centrifugo defaultconfig`
// (v6.9.1, committed) starts Rotor unchanged and silently: no warning at all. The
// flags -a, -p, --health.enabled and --log.level override the file.
func TestCentrifugoDefaultConfigStarts(t *testing.T) {
	t.Parallel()
	golden, err := filepath.Abs("../cmd/rotor/config/centrifugo_defaults.json")
	if err != nil {
		t.Fatal(err)
	}
	port := freeTCPPort(t)
	_, out := startCmd(t, t.TempDir(), port, "-c", golden, "-a", "127.0.0.1", "-p", fmt.Sprint(port), "--health.enabled", "--log.level", "debug")
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("not a JSON log line (stderr is not a terminal): %q", line)
		}
		if l["level"] != "info" && l["level"] != "debug" {
			t.Errorf("unexpected %s: %s", l["level"], line)
		}
	}
	if !strings.Contains(out.String(), `"message":"rotor started"`) {
		t.Fatalf("output: %s", out.String())
	}
}

// TestServeFlagsAndLogFile: flags win over the file; log.file receives the logs; an
// unknown level warns and logs at info.
func TestServeFlagsAndLogFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := `{"http_server":{"port":1},"health":{"enabled":true},"log":{"level":"loud"}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freeTCPPort(t)
	logFile := filepath.Join(dir, "rotor.log")
	cmd, out := startCmd(t, dir, port, "--http_server.port="+fmt.Sprint(port), "--http_server.address", "127.0.0.1", "--log.file", logFile)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(logFile)
		if strings.Contains(string(b), "shutdown complete") {
			if !strings.Contains(string(b), `"level":"warn","message":"unknown log level loud, defaulting to INFO"`) || !strings.Contains(string(b), `"message":"rotor started"`) {
				t.Fatalf("log file:\n%s", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log file:\n%s\noutput:\n%s", b, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(out.String(), "rotor started") {
		t.Fatalf("logs went to stderr too: %s", out.String())
	}
}

// TestServeRefusesWhatItCannotHonour: a key users rely on that Rotor cannot honour
// stops the start naming the key (from the file, a variable or a flag); the
// process never serves.
func TestServeRefusesWhatItCannotHonour(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"http_server":{"port":0},"grpc_api":{"enabled":true}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"-c", "config.json"}, "", "grpc_api.enabled=true"},
		{[]string{"-p", "0", "-c", "none.json"}, "CENTRIFUGO_UNI_GRPC_ENABLED=true", "CENTRIFUGO_UNI_GRPC_ENABLED"},
		{[]string{"-p", "0", "-c", "none.json", "--consumers"}, "", "unknown flag: --consumers"},
		{[]string{"-p", "0", "-c", "none.json", "--uni_grpc.enabled"}, "", "flag --uni_grpc.enabled=\"true\""},
		{[]string{"-c", "none.json", "-p", "eighty"}, "", "http_server.port: invalid integer \"eighty\" (from flag --http_server.port)"},
	} {
		cmd := exec.Command(harness.Binary(), tc.args...)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		if tc.env != "" {
			cmd.Env = append(cmd.Env, tc.env)
		}
		done := make(chan struct{})
		var out []byte
		var err error
		go func() { out, err = cmd.CombinedOutput(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("%q started instead of failing", tc.args)
		}
		if err == nil || !strings.Contains(string(out), tc.want) || strings.Contains(string(out), "rotor started") {
			t.Fatalf("%q: %v\n%s", tc.args, err, out)
		}
	}
}

// lockedBuffer collects a process's output for concurrent reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

// TestDevServerPrintsAdminLogin: `make run` (the binary without a config file)
// prints the admin UI's URL and a generated password that logs in, and a demo
// token; a wrong password does not log in.
func TestDevServerPrintsAdminLogin(t *testing.T) {
	t.Parallel()
	port := freeTCPPort(t)
	_, out := startCmd(t, t.TempDir(), port, "-p", fmt.Sprint(port))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	var password string
	deadline := time.Now().Add(5 * time.Second)
	for password == "" {
		for _, line := range strings.Split(out.String(), "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "Admin UI:"); ok {
				fields := strings.Fields(rest)
				if len(fields) != 3 || fields[0] != base+"/" || fields[1] != "(password:" {
					t.Fatalf("admin line %q", line)
				}
				password = strings.TrimSuffix(fields[2], ")")
			}
		}
		if password == "" && time.Now().After(deadline) {
			t.Fatalf("no admin line in:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, token := adminLogin(t, base, password); code != 200 || token == "" {
		t.Fatalf("login with the printed password: %d", code)
	}
	if code, _ := adminLogin(t, base, password+"x"); code == 200 {
		t.Fatal("a wrong password logged in")
	}
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(strings.ToLower(string(body)), "<html") {
		t.Fatalf("GET / at the printed URL: %d %.200s", resp.StatusCode, body)
	}
	if !strings.Contains(out.String(), "Demo token (user \"demo\", valid 24h)") {
		t.Fatalf("no demo token:\n%s", out.String())
	}
}

// TestServeMissingConfigFile: as Centrifugo, -c naming a file that does not exist
// starts with the defaults (and says so), instead of failing or entering the
// development mode.
func TestServeMissingConfigFile(t *testing.T) {
	t.Parallel()
	port := freeTCPPort(t)
	_, out := startCmd(t, t.TempDir(), port, "-c", "missing.json", "-a", "127.0.0.1", "-p", fmt.Sprint(port), "--health.enabled")
	if !strings.Contains(out.String(), `"message":"config file not found, using defaults"`) {
		t.Fatalf("output:\n%s", out.String())
	}
	if strings.Contains(out.String(), "development server") {
		t.Fatalf("development mode with an explicit -c:\n%s", out.String())
	}
}
