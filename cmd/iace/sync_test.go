package main

import (
	"io"
	"sync"
)

// syncWriter serialises writes from the server's goroutines into a buffer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// newLog is a log buffer the server may write to while the test reads it.
func newLog() *logBuffer { return &logBuffer{} }

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
