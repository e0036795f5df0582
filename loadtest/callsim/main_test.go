package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"-calls", "-1"},
		{"-param", "novalue"},
		{"-url", "http://127.0.0.1:1/"},
		{"-bargein", "2"},
		{"stray"},
		{"-nosuchflag"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("callsim %q exited %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
	var out bytes.Buffer
	if code := run([]string{"-h"}, &out, &out); code != 0 || !strings.Contains(out.String(), "-bargein") {
		t.Errorf("-h exited %d: %s", code, out.String())
	}
}

// A server that refuses connections fails every call: exit 1, a summary on
// stdout and the JSON report with its stable field names.
func TestFailedCallsExit1WithReport(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // now refusing

	jsonFile := filepath.Join(t.TempDir(), "report.json")
	var stdout, stderr bytes.Buffer
	code := run([]string{"-url", "ws://" + addr + "/media/telnyx", "-calls", "2", "-json", jsonFile, "-quiet", "-seed", "3"}, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "started 2  completed 0  failed 2") || !strings.Contains(stdout.String(), "connect=2") {
		t.Errorf("summary:\n%s", stdout.String())
	}
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Seed  uint64 `json:"seed"`
		Calls struct {
			Started, Failed int
		} `json:"calls"`
		Errors       map[string]int    `json:"errors"`
		ReplyLatency map[string]any    `json:"reply_latency"`
		Jitter       map[string]any    `json:"jitter"`
		CallResults  []json.RawMessage `json:"call_results"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Seed != 3 || rep.Calls.Started != 2 || rep.Calls.Failed != 2 || rep.Errors["connect"] != 2 || len(rep.CallResults) != 2 {
		t.Errorf("json report %s", b)
	}
	if _, ok := rep.ReplyLatency["p99_ms"]; !ok {
		t.Errorf("reply_latency lacks p99_ms: %v", rep.ReplyLatency)
	}
}
