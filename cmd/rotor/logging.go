package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Log levels beyond slog's four, for Centrifugo's trace and fatal.
const (
	levelTrace = slog.LevelDebug - 4
	levelFatal = slog.LevelError + 4
)

// newLogger sets up logging as Centrifugo does: log.level is one of none, trace,
// debug, info, warn, error or fatal (any case; an unknown name logs a warning and
// uses info); log.file appends to that file (JSON lines); otherwise logs go to
// stderr, readable text when stderr is a terminal and JSON lines when it is not
// (with Centrifugo's field names: "level":"info", "message").
// The returned func closes the file.
func newLogger(level, file string, stderr io.Writer) (*slog.Logger, func(), error) {
	lvl, known := parseLevel(level)
	w := stderr
	closeFn := func() {}
	text := isTerminal(stderr)
	if file != "" {
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("log.file: %w", err)
		}
		w, closeFn, text = f, func() { _ = f.Close() }, false
	}
	if lvl == nil {
		return slog.New(slog.DiscardHandler), closeFn, nil
	}
	var h slog.Handler
	if text {
		h = slog.NewTextHandler(w, &slog.HandlerOptions{Level: *lvl, ReplaceAttr: levelNames})
	} else {
		h = slog.NewJSONHandler(w, &slog.HandlerOptions{Level: *lvl, ReplaceAttr: centrifugoJSON})
	}
	logger := slog.New(h)
	if !known {
		logger.Warn(fmt.Sprintf("unknown log level %s, defaulting to INFO", level))
	}
	return logger, closeFn, nil
}

// parseLevel maps a Centrifugo level name; nil means none. known is false for a
// name Centrifugo does not accept (then info).
func parseLevel(name string) (lvl *slog.Level, known bool) {
	l := slog.LevelInfo
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "none":
		return nil, true
	case "trace":
		l = levelTrace
	case "debug":
		l = slog.LevelDebug
	case "info", "":
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	case "fatal":
		l = levelFatal
	default:
		return &l, false
	}
	return &l, true
}

// levelNames names the extra levels TRACE and FATAL instead of DEBUG-4 and ERROR+4.
func levelNames(_ []string, a slog.Attr) slog.Attr {
	if a.Key != slog.LevelKey {
		return a
	}
	if l, ok := a.Value.Any().(slog.Level); ok {
		switch {
		case l <= levelTrace:
			a.Value = slog.StringValue("TRACE")
		case l >= levelFatal:
			a.Value = slog.StringValue("FATAL")
		}
	}
	return a
}

// centrifugoJSON names the JSON fields as Centrifugo's logs do (zerolog's
// "level":"info" and "message"), so that log pipelines built for Centrifugo read
// Rotor's lines unchanged.
func centrifugoJSON(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.LevelKey:
		a = levelNames(groups, a)
		a.Value = slog.StringValue(strings.ToLower(a.Value.String()))
	case slog.MessageKey:
		a.Key = "message"
	}
	return a
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
