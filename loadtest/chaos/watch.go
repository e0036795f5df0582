package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
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

// listWatcher reads an organization's live list from one node: every
// node's calls, those of the others through Redis.
type listWatcher struct {
	via string

	mu     sync.Mutex
	ends   map[string]time.Time // each call's first "ended", when it came
	opened bool                 // the snapshot came
	err    error
}

// watchList opens the live list on the node at base and reads it in the
// background until ctx ends.
func watchList(ctx context.Context, base, token, via string) *listWatcher {
	w := &listWatcher{via: via, ends: map[string]time.Time{}}
	go func() {
		err := readSSE(ctx, base+"/api/v1/calls/live/events", token, func(ev sseEvent) bool {
			w.mu.Lock()
			defer w.mu.Unlock()
			switch ev.Type {
			case "snapshot":
				w.opened = true
			case "ended":
				if _, ok := w.ends[ev.CallID]; !ok {
					w.ends[ev.CallID] = time.Now()
				}
			}
			return ev.Type != "dropped"
		})
		w.mu.Lock()
		defer w.mu.Unlock()
		w.err = err
	}()
	return w
}

// falseEnds counts the calls the list showed ended 2 s or more before
// their record's end, of those whose record is in recs.
func (w *listWatcher) falseEnds(recs map[string]record) (shown, early int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, at := range w.ends {
		rec, ok := recs[id]
		if !ok {
			continue
		}
		shown++
		if rec.Ended.IsZero() || at.Before(rec.Ended.Add(-2*time.Second)) {
			early++
		}
	}
	return shown, early
}

// sseEvent is what the suite reads of a live event.
type sseEvent struct {
	Type   string `json:"type"`
	CallID string `json:"call_id"`
	Reason string `json:"reason"`
}

// readSSE reads the event stream at url, handing each event to fn until
// fn returns false, the stream ends or ctx does (not an error).
func readSSE(ctx context.Context, url, token string, fn func(sseEvent) bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil) //nolint:gosec // G704: a node's public listener, which the suite chose
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req) //nolint:gosec // G704: as above
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("events: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev sseEvent
		if json.Unmarshal([]byte(data), &ev) != nil {
			continue
		}
		if !fn(ev) {
			return nil
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
		return err
	}
	return nil
}

// watcher reads one call's event stream from a node that does not hold
// the call.
type watcher struct {
	callID string

	mu     sync.Mutex
	times  []time.Time // of each event after the snapshot
	last   string      // the last event's type
	reason string      // and its reason
	err    error       // why it could not be read
}

// watch opens the stream of call id on the node at base and reads it in
// the background until it ends or ctx does.
func watch(ctx context.Context, base, token, id string) *watcher {
	w := &watcher{callID: id}
	go w.read(ctx, base, token)
	return w
}

func (w *watcher) read(ctx context.Context, base, token string) {
	first := true
	err := readSSE(ctx, base+"/api/v1/calls/"+w.callID+"/events", token, func(ev sseEvent) bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		if !first {
			w.times = append(w.times, time.Now())
		}
		first = false
		w.last, w.reason = ev.Type, ev.Reason
		return ev.Type != "ended" && ev.Type != "dropped"
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	w.err = err
}

// watchResult is what a watcher saw, for a case's checks.
type watchResult struct {
	// eventsAfter counts the events after a moment (Redis back).
	eventsAfter  int
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
	return watchResult{eventsAfter: n, last: w.last, reason: w.reason, err: w.err}
}

// watchMargin: a call that ended this long after Redis came back had
// time for events after it and for its end to reach its readers.
const watchMargin = 6 * time.Second

// watchers are a case's readers of live events.
type watchers struct {
	calls []*watcher
	lists []*listWatcher // one on each node
}

// watchRemote opens the live list on every node and, on another node than
// the holder's, the event stream of up to k of the calls answered in the
// last few seconds (they have most of their script ahead), and waits for
// each snapshot.
func (r *runner) watchRemote(ctx context.Context, c *cluster, l *load, reg map[string]string, k int) (watchers, error) {
	token, err := r.login(ctx, "http://"+c.nodes[0].public)
	if err != nil {
		return watchers{}, err
	}
	var lists []*listWatcher
	for _, n := range c.nodes {
		lists = append(lists, watchList(ctx, "http://"+n.public, token, n.name))
	}
	now := time.Now()
	var ws []*watcher
	for _, p := range l.placements() {
		owner := reg[p.CallID]
		if len(ws) == k || owner == "" || p.Answered.IsZero() || now.Sub(p.Answered) > 6*time.Second {
			continue
		}
		via := c.others(owner)[0]
		ws = append(ws, watch(ctx, "http://"+via.public, token, p.CallID))
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, w := range ws {
		for w.result(time.Time{}).last == "" && w.result(time.Time{}).err == nil && time.Now().Before(deadline) {
			if err := sleep(ctx, 50*time.Millisecond); err != nil {
				return watchers{ws, lists}, err
			}
		}
	}
	for _, w := range lists {
		for !w.isOpen() && time.Now().Before(deadline) {
			if err := sleep(ctx, 50*time.Millisecond); err != nil {
				return watchers{ws, lists}, err
			}
		}
	}
	return watchers{ws, lists}, nil
}

func (w *listWatcher) isOpen() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.opened
}

// endedCalls are the calls the list showed ended.
func (w *listWatcher) endedCalls() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Collect(maps.Keys(w.ends))
}

// failure is why the list could not be read to its end, or nil.
func (w *listWatcher) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
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
