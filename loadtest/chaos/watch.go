package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Supervisors' live event streams across an outage: a reader on one node
// of a call another node holds (GET /api/v1/calls/{id}/events), which the
// holder bridges through Redis.

// adminEmail is the user setup creates; its password is the runner's.
const adminEmail = "chaos-admin@example.com"

// login returns an access token of the suite's admin, from the API at base.
func (r *runner) login(ctx context.Context, base string) (string, error) {
	body, _ := json.Marshal(map[string]string{"email": adminEmail, "password": r.adminPassword})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/auth/login", bytes.NewReader(body)) //nolint:gosec // G704: a node's public listener, which the suite chose
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req) //nolint:gosec // G704: as above
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return "", fmt.Errorf("login: %s: %s", resp.Status, b)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&out); err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	return out.AccessToken, nil
}

// watcher reads one call's event stream from a node that does not hold
// the call.
type watcher struct {
	callID, owner, via string

	mu     sync.Mutex
	times  []time.Time // of each event after the snapshot
	last   string      // the last event's type
	reason string      // and its reason
	ended  time.Time   // when the stream ended
	err    error       // why it could not be read
}

// watch opens the stream of call id on the node at base and reads it in
// the background until it ends or ctx does.
func watch(ctx context.Context, base, token, id, owner, via string) *watcher {
	w := &watcher{callID: id, owner: owner, via: via}
	go w.read(ctx, base, token)
	return w
}

func (w *watcher) read(ctx context.Context, base, token string) {
	fail := func(err error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.err, w.ended = err, time.Now()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/calls/"+w.callID+"/events", nil) //nolint:gosec // G704: a node's public listener, which the suite chose
	if err != nil {
		fail(err)
		return
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req) //nolint:gosec // G704: as above
	if err != nil {
		fail(err)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		fail(fmt.Errorf("events: %s", resp.Status))
		return
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	first := true
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		}
		if json.Unmarshal([]byte(data), &ev) != nil {
			continue
		}
		w.mu.Lock()
		if !first {
			w.times = append(w.times, time.Now())
		}
		first = false
		w.last, w.reason = ev.Type, ev.Reason
		w.mu.Unlock()
		if ev.Type == "ended" || ev.Type == "dropped" {
			break
		}
	}
	err = sc.Err()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ended = time.Now()
	if w.err == nil {
		w.err = err
	}
}

// watchResult is what a watcher saw, for a case's checks.
type watchResult struct {
	// eventsAfter counts the events after a moment (Redis back).
	eventsAfter int
	// endedAt is when the stream ended (zero: still open).
	endedAt      time.Time
	last, reason string
	err          error
}

func (w *watcher) result(after time.Time) watchResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, t := range w.times {
		if t.After(after) {
			n++
		}
	}
	return watchResult{eventsAfter: n, endedAt: w.ended, last: w.last, reason: w.reason, err: w.err}
}

// watchMargin: a call that ended this long after Redis came back had
// time for events after it and for its end to reach its readers.
const watchMargin = 6 * time.Second

// watchRemote opens, on another node than the holder's, the event stream
// of up to k of the calls answered in the last few seconds (they have
// most of their script ahead), and waits for each snapshot.
func (r *runner) watchRemote(ctx context.Context, c *cluster, l *load, reg map[string]string, k int) ([]*watcher, error) {
	token, err := r.login(ctx, "http://"+c.nodes[0].public)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var ws []*watcher
	for _, p := range l.placements() {
		owner := reg[p.CallID]
		if len(ws) == k || owner == "" || p.Answered.IsZero() || now.Sub(p.Answered) > 6*time.Second {
			continue
		}
		via := c.others(owner)[0]
		ws = append(ws, watch(ctx, "http://"+via.public, token, p.CallID, owner, via.name))
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, w := range ws {
		for w.result(time.Time{}).last == "" && w.result(time.Time{}).err == nil && time.Now().Before(deadline) {
			if err := sleep(ctx, 50*time.Millisecond); err != nil {
				return ws, err
			}
		}
	}
	return ws, nil
}

// watchSummary is what the readers of other nodes' calls saw across an
// outage that ended at back.
type watchSummary struct {
	Readers int // opened
	Opened  int // whose snapshot came
	// Later: readers whose call ended watchMargin or more after back;
	// WithEvents of them got events after back, RealEnd saw the call's
	// own end (its record's reason), not a guess.
	Later, WithEvents, RealEnd int
	Ends                       map[string]int // the last event of each stream (type reason)
}

func summarizeWatch(ws []watchResult, calls []string, recs map[string]record, back time.Time) watchSummary {
	s := watchSummary{Readers: len(ws), Ends: map[string]int{}}
	for i, w := range ws {
		if w.last == "" {
			s.Ends["(no snapshot) "+fmt.Sprint(w.err)]++
			continue
		}
		s.Opened++
		s.Ends[strings.TrimSpace(w.last+" "+w.reason)]++
		rec, ok := recs[calls[i]]
		if !ok || rec.Ended.IsZero() || rec.Ended.Before(back.Add(watchMargin)) {
			continue
		}
		s.Later++
		if w.eventsAfter > 0 {
			s.WithEvents++
		}
		if w.last == "ended" && w.reason == rec.EndReason {
			s.RealEnd++
		}
	}
	return s
}
