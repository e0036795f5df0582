package sim

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestTrickleConnReadsAtItsRate: a slow caller's connection takes 300 bytes
// a second however much waits, in pieces of 30.
func TestTrickleConnReadsAtItsRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		server, client := net.Pipe()
		defer func() { _ = server.Close() }()
		go func() { _, _ = server.Write(make([]byte, 6000)) }()
		c := &trickleConn{Conn: client, rate: 300}
		defer func() { _ = c.Close() }()
		start := time.Now()
		buf := make([]byte, 4096)
		read := 0
		for read < 3000 {
			n, err := c.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			if n > 30 {
				t.Fatalf("read %d bytes at once, want at most 30", n)
			}
			read += n
		}
		if d := time.Since(start); d < 9900*time.Millisecond || d > 10*time.Second {
			t.Errorf("3,000 bytes took %v at 300 B/s, want 10 s", d)
		}
		_ = server.Close()
		_, _ = io.Copy(io.Discard, c) // the writer may end
	})
}

// TestSlowCallersAreReportedApart: slow callers are left out of the run's
// figures and of Failed, and summed up on their own line.
func TestSlowCallersAreReportedApart(t *testing.T) {
	rep := Report{Slow: SlowReport{Rate: 300}, Calls: []CallResult{
		{N: 1, Slow: true, Outcome: OutcomeFailed, EndedBy: EndedByServer, Error: ErrWriteError, Underruns: 40,
			Turns: []Turn{{Answered: true, ReplyLatency: 5 * time.Second}}},
		{N: 2, Outcome: OutcomeCompleted, EndedBy: EndedByServer, Turns: []Turn{{Answered: true, ReplyLatency: 600 * time.Millisecond}}},
	}}
	rep.summarizeCalls()
	if rep.CallsStarted != 1 || rep.CallsFailed != 0 || rep.Underruns != 0 || rep.ReplyLatency.Max != 600*time.Millisecond || rep.Failed() {
		t.Errorf("slow call counted: started %d failed %d underruns %d reply max %v", rep.CallsStarted, rep.CallsFailed, rep.Underruns, rep.ReplyLatency.Max)
	}
	if s := rep.Slow; s.Calls != 1 || s.EndedByServer != 1 || s.Completed != 0 || s.Errors[ErrWriteError] != 1 {
		t.Errorf("slow summary %+v", s)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if want := "slow       1 callers reading 300 B/s (left out above): 1 ended by the server, 0 completed write_error=1\n"; !strings.Contains(text.String(), want) {
		t.Errorf("summary lacks %q:\n%s", want, text.String())
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"slow":{"rate":300,"calls":1,"completed":0,"ended_by_server":1,"errors":{"write_error":1}}`)) ||
		!bytes.Contains(b, []byte(`{"n":1,"slow":true,`)) {
		t.Errorf("JSON lacks the slow callers: %s", b)
	}
}
