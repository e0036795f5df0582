package dataset

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iace/iace/store"
)

// Step is one timed step of seeding.
type Step struct {
	Name string        `json:"name"`
	Took time.Duration `json:"ns"`
}

// Writer is what Seed writes through: the store API.
type Writer interface {
	CreateOrg(ctx context.Context, o store.Organization) (store.Organization, error)
	CreateAgent(ctx context.Context, a store.Agent) (store.Agent, error)
	CreateCustomer(ctx context.Context, c store.Customer) (store.Customer, error)
	CreateCall(ctx context.Context, c store.Call) (store.Call, error)
	AppendTurns(ctx context.Context, org store.OrgID, call store.CallID, turns []store.Turn) error
	CreatePattern(ctx context.Context, p store.Pattern) (store.Pattern, error)
}

// Seed writes the data set through the store API: the organization (named
// name), its agents, customers, calls with their turns and patterns, each
// kind by workers concurrent writers (at least one). logf reports progress.
func Seed(ctx context.Context, w Writer, g *Gen, name string, workers int, logf func(string, ...any)) ([]Step, error) {
	var steps []Step
	timed := func(what string, n int, fn func(i int) error) error {
		t0 := time.Now()
		if err := forEach(ctx, n, max(1, workers), func(i int) error {
			if err := fn(i); err != nil {
				return fmt.Errorf("%s %d: %w", what, i, err)
			}
			return nil
		}, func(done int) { logf("%s: %d of %d", what, done, n) }); err != nil {
			return err
		}
		steps = append(steps, Step{Name: what, Took: time.Since(t0)})
		return nil
	}
	if _, err := w.CreateOrg(ctx, store.Organization{ID: g.Org, Name: name, CreatedAt: g.Start}); err != nil {
		return nil, fmt.Errorf("organization: %w", err)
	}
	if err := timed("agents", g.Agents, func(i int) error { _, err := w.CreateAgent(ctx, g.Agent(i)); return err }); err != nil {
		return nil, err
	}
	if err := timed("customers", g.Customers, func(i int) error { _, err := w.CreateCustomer(ctx, g.Customer(i)); return err }); err != nil {
		return nil, err
	}
	err := timed(fmt.Sprintf("%d calls with %d turns each", g.Calls, g.Turns), g.Calls, func(i int) error {
		cl, err := w.CreateCall(ctx, g.Call(i))
		if err != nil {
			return err
		}
		turns := make([]store.Turn, g.Turns)
		for j := range turns {
			turns[j] = g.Turn(i, j+1, cl.StartedAt)
		}
		return w.AppendTurns(ctx, g.Org, cl.ID, turns)
	})
	if err != nil {
		return nil, err
	}
	err = timed(fmt.Sprintf("%d patterns", g.Patterns), g.Patterns, func(i int) error {
		_, err := w.CreatePattern(ctx, g.Pattern(i))
		return err
	})
	return steps, err
}

// forEach runs fn(0..n-1) on workers goroutines, stopping at the first
// error or when ctx ends, and calls progress at every tenth done.
func forEach(ctx context.Context, n, workers int, fn func(i int) error, progress func(done int)) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		next, done atomic.Int64
		wg         sync.WaitGroup
	)
	for range min(workers, max(n, 1)) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					cancel(err)
					return
				}
				if d := int(done.Add(1)); n >= 100 && d%(n/10) == 0 {
					progress(d)
				}
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}
