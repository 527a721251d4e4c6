package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestLoggerLevels(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		level       string
		debug, info bool
		warnUnknown bool
	}{
		{"trace", true, true, false},
		{"DEBUG", true, true, false},
		{"info", false, true, false},
		{"", false, true, false},
		{"warn", false, false, false},
		{"error", false, false, false},
		{"fatal", false, false, false},
		{"none", false, false, false},
		{"loud", false, true, true},
	} {
		var buf bytes.Buffer
		logger, closeFn, err := newLogger(tc.level, "", &buf)
		if err != nil {
			t.Fatal(err)
		}
		logger.Debug("d")
		logger.Info("i")
		closeFn()
		out := buf.String()
		if strings.Contains(out, `"message":"d"`) != tc.debug || strings.Contains(out, `"message":"i"`) != tc.info {
			t.Errorf("%q: %s", tc.level, out)
		}
		if got := strings.Contains(out, `"level":"warn","message":"unknown log level `+tc.level+`, defaulting to INFO"`); got != tc.warnUnknown {
			t.Errorf("%q: unknown-level warning %v: %s", tc.level, got, out)
		}
	}
}

// TestLoggerFormat: JSON lines when the output is not a terminal (a pipe, a file,
// log.file), readable text on a terminal.
func TestLoggerFormat(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger, _, _ := newLogger("trace", "", &buf)
	logger.Log(t.Context(), levelTrace, "traced", "k", 1)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil || line["level"] != "trace" || line["message"] != "traced" {
		t.Fatalf("not a JSON line: %q %v", buf.String(), err)
	}

	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	tty := os.NewFile(uintptr(fd), "ptmx")
	defer tty.Close()
	if !isTerminal(tty) {
		t.Fatal("a pseudo-terminal is not seen as a terminal")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(w) {
		t.Fatal("a pipe is seen as a terminal")
	}

	path := filepath.Join(t.TempDir(), "rotor.log")
	logger, closeFn, err := newLogger("info", path, tty)
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("to file")
	closeFn()
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(bytes.TrimSpace(b), &line); err != nil || line["message"] != "to file" {
		t.Fatalf("log.file: %q %v", b, err)
	}
}

func TestLoggerTextOnTerminal(t *testing.T) {
	t.Parallel()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	tty := os.NewFile(uintptr(fd), "ptmx")
	defer tty.Close()
	// Unlock and open the slave side, read what the logger writes to the master.
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	logger, _, err := newLogger("info", "", slave)
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("on a terminal", "k", "v")
	buf := make([]byte, 512)
	m, err := tty.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	out := string(buf[:m])
	if !strings.Contains(out, `level=INFO msg="on a terminal" k=v`) {
		t.Fatalf("not text: %q", out)
	}
}
