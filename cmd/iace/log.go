package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// newLogger logs JSON in production and text on a terminal.
func newLogger(format, level string, w io.Writer) *slog.Logger {
	l, _ := parseLevel(level) // validated with the config
	opts := &slog.HandlerOptions{Level: l}
	if format == "text" || format == "auto" && w == os.Stderr && isTerminal(os.Stderr) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
