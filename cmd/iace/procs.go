package main

import (
	"sync"
	"time"

	"github.com/iace/iace/control/auth"
)

// A password hash (argon2id) takes about 25 ms of CPU, and the Go
// scheduler preempts a goroutine only after 10 ms: on a node with one Go
// processor, a login storm keeps that processor hashing, and every other
// API request waits behind the hash's slices at each step it takes
// (reading the request, each query, the answer). Measured on one core, the
// first 10 s of a storm of 1,000 logins: accepted requests other than
// logins at p95 284 to 435 ms (loadtest/README.md, "A login storm"). With a
// second processor the hash runs on a thread of its own, which the kernel
// interleaves with the requests' at its finer grain: 30 to 44 ms. Every
// other figure (the pacer's, the API's steady state) was measured with one
// processor per core, so the second one is there only while passwords are
// being hashed, and a while after.

// spareLinger is how long the second processor outlives the last hash:
// each change of GOMAXPROCS stops the world for a moment, so a storm's
// short gaps between hashes keep it.
const spareLinger = time.Second

// spareProcessor raises GOMAXPROCS from 1 to 2 while the auth service
// hashes passwords (auth.HashActivity), and gives the runtime its own
// choice back spareLinger after the last hash.
type spareProcessor struct {
	setProcs func(int) int // runtime.GOMAXPROCS
	// restore gives the runtime back its own choice, which follows the
	// container's CPU limit again (runtime.SetDefaultGOMAXPROCS).
	restore func()
	linger  time.Duration

	mu     sync.Mutex
	busy   bool
	raised bool
	timer  *time.Timer
	gen    uint64 // of the timer: one that fired late finds it changed
}

// spareProcessorFor returns the spare processor of a node that takes no
// calls (--take-calls=false) and runs on one Go processor, or nil. A node
// that takes calls keeps what the runtime chose (its pacer is measured
// that way), and so does a GOMAXPROCS the operator set.
func spareProcessorFor(takeCalls bool, getenv func(string) string, setProcs func(int) int, restore func()) auth.HashActivity {
	if takeCalls || getenv("GOMAXPROCS") != "" || setProcs(0) != 1 {
		return nil
	}
	return &spareProcessor{setProcs: setProcs, restore: restore, linger: spareLinger}
}

func (s *spareProcessor) Busy() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.busy = true
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
		s.gen++
	}
	if !s.raised {
		s.setProcs(2)
		s.raised = true
	}
}

func (s *spareProcessor) Idle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.busy = false
	if s.raised && s.timer == nil {
		gen := s.gen
		s.timer = time.AfterFunc(s.linger, func() { s.lower(gen) })
	}
}

// lower drops the second processor, unless its timer was stopped or
// replaced since (it fired while Busy held the lock).
func (s *spareProcessor) lower(gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen || s.busy || !s.raised {
		return
	}
	s.timer = nil
	s.gen++
	s.restore()
	s.raised = false
}

// serverGCPercent is the collector's target (GOGC) of `iace serve` unless
// the operator sets GOGC. A call allocates little once it runs (no
// allocation per media frame), so the collector runs seldom (about 52
// times in a 77 s run of 1,000 demo calls), and halving its headroom over
// the live heap from Go's 100 % doubles that and costs about 2.5 % of the
// server's CPU, within the spread of the load runs, while it takes about
// 20 KiB off each call's peak resident memory (loadtest/README.md, "The
// collector's headroom").
const serverGCPercent = 50

// apiGCPercent is the collector's target of a node that takes no calls
// (--take-calls=false): it has no calls' memory to save, its heap is
// bounded by the API's concurrency limit, and a collection's work is CPU
// its requests wait for. Its heap is small and allocated fast (JSON), so
// at Go's 100 % it collected about 16 times a second under a login storm
// of 1,000 clients on one core; at 200 % half as often, with accepted
// requests' p50 2.7 ms lower and about 6 % more of them served than at
// 100 % (5 ms and 11 % against 50 %; loadtest/README.md, "A login
// storm"). GOMEMLIMIT, which the Kubernetes manifests set from the
// container's limit, still holds it under that limit.
const apiGCPercent = 200

// gcPercentFor returns the collector's target serve sets: serverGCPercent
// for a node that takes calls, apiGCPercent for one that does not, or 0
// (leave the runtime's own) when the environment has GOGC.
func gcPercentFor(takeCalls bool, getenv func(string) string) int {
	switch {
	case getenv("GOGC") != "":
		return 0
	case !takeCalls:
		return apiGCPercent
	}
	return serverGCPercent
}

// apiShedMinLimit is the floor of the API's concurrency limit on a node
// that takes no calls, unless --api-shed-min-limit sets one (16 elsewhere,
// api.ShedConfig). Such a node hashes passwords on a spare processor
// (spareProcessor), so a login storm's hashes no longer hold the requests'
// processor, and fewer requests at once wait less for it: with 1,000
// clients logging in at once on one core, accepted requests other than
// logins had p95 23 to 41 ms in every 10 s window at a floor of 8, against
// 29 to 60 ms at 16, for as many served (loadtest/README.md, "The shedding
// floor on a node of the API"). A node that takes calls keeps 16: there,
// hashes and requests share one processor, and a floor of 8 shed twice as
// many requests and served them slower.
const apiShedMinLimit = 8

// shedMinLimitFor returns the floor serve gives the API's concurrency
// limit: the operator's (set, non-zero), apiShedMinLimit on a node that
// takes no calls (never above an operator's maximum), or 0 for the API's
// default.
func shedMinLimitFor(takeCalls bool, set, maxLimit int) int {
	switch {
	case set != 0 || takeCalls:
		return set
	case maxLimit > 0:
		return min(apiShedMinLimit, maxLimit)
	}
	return apiShedMinLimit
}
