package learn_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/iace/iace/ai/learn"
	"github.com/iace/iace/store"
)

// TestAnOrganizationsCallsAreLearnedOneAtATime: many calls of one
// organization that teach the same new pattern, submitted at once to
// several workers, make one pattern that names every call, not one pattern
// per worker; each call's done runs once it is learned from.
func TestAnOrganizationsCallsAreLearnedOneAtATime(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			w := newWorld(t, b.open(t, 0), store.LearningOn)
			const n = 8
			calls := make([]learn.Call, n)
			for i := range calls {
				calls[i] = w.question(t, "what are your opening hours", 0)
			}
			workers := learn.NewWorkers(t.Context(), w.l, nil, 4, 64, 10*time.Second, nil)
			var done atomic.Int32
			var g errgroup.Group
			for _, c := range calls {
				g.Go(func() error {
					if !workers.Submit(t.Context(), c, func() { done.Add(1) }) {
						t.Error("a call was not queued")
					}
					return nil
				})
			}
			_ = g.Wait()
			workers.Close()
			if got := done.Load(); got != n {
				t.Errorf("%d calls done, want %d", got, n)
			}
			pats, _, err := w.st.ListPatterns(t.Context(), w.org, store.PatternFilter{}, store.Page{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(pats) != 1 || len(pats[0].SourceCallIDs) != n {
				t.Errorf("%d patterns (%+v), want one learned from all %d calls", len(pats), pats, n)
			}
		})
	}
}

// TestCallsQueuedWhenTheServerStopsAreNotDone: workers whose server is
// going down stop without learning what is queued; those calls' done is
// not called, so the records that hold them are learned from after the
// restart.
func TestCallsQueuedWhenTheServerStopsAreNotDone(t *testing.T) {
	w := newWorld(t, backends[0].open(t, 0), store.LearningOn)
	c := w.question(t, "what are your opening hours", 0)
	ctx, stop := context.WithCancel(t.Context())
	stop() // the server is going down
	workers := learn.NewWorkers(ctx, w.l, nil, 1, 4, time.Second, nil)
	var mu sync.Mutex
	done := false
	workers.Submit(t.Context(), c, func() { mu.Lock(); done = true; mu.Unlock() })
	workers.Close()
	mu.Lock()
	defer mu.Unlock()
	if done {
		t.Error("a call the workers never learned from was reported done")
	}
}
