package main

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// procs is a fake runtime.GOMAXPROCS: it records every change.
type procs struct {
	mu      sync.Mutex
	n       int
	changes []int
}

func (p *procs) set(n int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	was := p.n
	if n > 0 {
		p.n = n
		p.changes = append(p.changes, n)
	}
	return was
}

// restore is runtime.SetDefaultGOMAXPROCS on one CPU.
func (p *procs) restore() { p.set(1) }

func (p *procs) seen() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.changes)
}

// TestOnlyANodeOfTheAPIOnOneCPUGetsASpareProcessor: a node that takes
// calls, one with more than one processor, and one whose operator set
// GOMAXPROCS are left as they are.
func TestOnlyANodeOfTheAPIOnOneCPUGetsASpareProcessor(t *testing.T) {
	for _, tc := range []struct {
		name      string
		procs     int
		takeCalls bool
		env       string
		want      bool
	}{
		{"API node on one CPU", 1, false, "", true},
		{"call node on one CPU", 1, true, "", false},
		{"GOMAXPROCS set by the operator", 1, false, "1", false},
		{"API node on two CPUs", 2, false, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &procs{n: tc.procs}
			got := spareProcessorFor(tc.takeCalls, env(map[string]string{"GOMAXPROCS": tc.env}), p.set, p.restore)
			if (got != nil) != tc.want {
				t.Errorf("spare processor %v, want %v", got != nil, tc.want)
			}
			if c := p.seen(); len(c) != 0 {
				t.Errorf("GOMAXPROCS changed to %v before any hash", c)
			}
		})
	}
}

// TestTheSpareProcessorLastsWhileHashesRun: raised when hashing starts,
// kept through short gaps, lowered a second after the last hash.
func TestTheSpareProcessorLastsWhileHashesRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &procs{n: 1}
		s := spareProcessorFor(false, env(nil), p.set, p.restore)
		if s == nil {
			t.Fatal("no spare processor on one CPU")
		}
		s.Busy()
		if p.set(0) != 2 {
			t.Fatal("GOMAXPROCS not raised while hashing")
		}
		// A storm: hashes with gaps shorter than the linger.
		for range 5 {
			s.Idle()
			time.Sleep(spareLinger / 2)
			synctest.Wait()
			s.Busy()
		}
		s.Idle()
		time.Sleep(spareLinger - time.Millisecond)
		synctest.Wait()
		if got := p.seen(); !slices.Equal(got, []int{2}) {
			t.Fatalf("changes %v during the storm, want one raise", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := p.seen(); !slices.Equal(got, []int{2, 1}) {
			t.Fatalf("changes %v a second after the last hash, want [2 1]", got)
		}
		// The next login raises it again.
		s.Busy()
		s.Idle()
		time.Sleep(spareLinger)
		synctest.Wait()
		if got := p.seen(); !slices.Equal(got, []int{2, 1, 2, 1}) {
			t.Errorf("changes %v after one more login, want [2 1 2 1]", got)
		}
	})
}

// TestServeSetsTheCollectorsTargetUnlessGOGCIsSet: serve sets GOGC 50 by
// itself on a node that takes calls, 200 on one that serves the API only,
// and an operator's GOGC, whatever it says, wins on either.
func TestServeSetsTheCollectorsTargetUnlessGOGCIsSet(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	if got := gcPercentFor(true, env(nil)); got != 50 {
		t.Errorf("taking calls, without GOGC: %d, want 50", got)
	}
	if got := gcPercentFor(false, env(nil)); got != 200 {
		t.Errorf("API only, without GOGC: %d, want 200", got)
	}
	for _, v := range []string{"100", "off", "50"} {
		for _, calls := range []bool{true, false} {
			if got := gcPercentFor(calls, env(map[string]string{"GOGC": v})); got != 0 {
				t.Errorf("GOGC=%s, taking calls %v: serve sets %d, want 0 (the runtime's own)", v, calls, got)
			}
		}
	}
}

// TestANodeOfTheAPISheds8AtItsFloor: a node that takes no calls floors the
// API's limit at 8, one that takes calls at the API's default, and an
// operator's floor wins on either.
func TestANodeOfTheAPISheds8AtItsFloor(t *testing.T) {
	for _, c := range []struct {
		takeCalls     bool
		set, max, out int
	}{
		{takeCalls: false, out: 8},
		{takeCalls: true, out: 0},
		{takeCalls: false, set: 32, out: 32},
		{takeCalls: true, set: 4, out: 4},
		{takeCalls: false, max: 6, out: 6},
	} {
		if got := shedMinLimitFor(c.takeCalls, c.set, c.max); got != c.out {
			t.Errorf("taking calls %v, --api-shed-min-limit %d, max %d: %d, want %d", c.takeCalls, c.set, c.max, got, c.out)
		}
	}
}
