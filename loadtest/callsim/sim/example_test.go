package sim_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/iace/iace/loadtest/callsim/sim"
)

// Drive a server in-process: three calls, one of which speaks over a reply,
// and check that each was greeted, answered and, on barge-in, cleared.
func ExampleRun() {
	var mediaHandler http.Handler // the server's /media/telnyx handler
	srv := httptest.NewServer(mediaHandler)
	defer srv.Close()

	rep, err := sim.Run(context.Background(), sim.Config{
		URL:     "ws" + strings.TrimPrefix(srv.URL, "http") + "/media/telnyx",
		Calls:   3,
		BargeIn: 0.34,
		Seed:    1,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range rep.Calls {
		fmt.Println(c.N, c.Outcome, c.Greeting)
		for _, t := range c.Turns {
			fmt.Printf("  %q answered=%v after %v", t.Text, t.Answered, t.ReplyLatency)
			if t.BargeIn {
				fmt.Printf(" clear=%v after %v", t.Cleared, t.BargeInLatency)
			}
			fmt.Println()
		}
	}
	fmt.Println("reply p95:", rep.ReplyLatency.P95, "failed:", rep.Failed())
}
