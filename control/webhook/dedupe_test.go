package webhook_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/iace/iace/control/webhook"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store/cache"
)

func TestDedupers(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { _ = rdb.Close() })
	for name, d := range map[string]webhook.Deduper{
		"redis": webhook.NewRedisDeduper(rdb, time.Minute),
		"store": webhook.NewStoreDeduper(embeddedStore(t)),
	} {
		t.Run(name+" reports an id fresh once", func(t *testing.T) {
			id := "ev-" + rand.Text()
			for i, want := range []bool{true, false, false} {
				fresh, err := d.Mark(t.Context(), id)
				if err != nil {
					t.Fatal(err)
				}
				if fresh != want {
					t.Errorf("mark %d: fresh=%v, want %v", i+1, fresh, want)
				}
			}
		})
	}
}

// unreachableRedis is a client of the production settings for a Redis
// that does not answer: nothing listens on port 1 of loopback.
func unreachableRedis(t *testing.T) *redis.Client {
	t.Helper()
	rdb, err := cache.NewRedisClient("redis://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// switchable is Redis that a test takes away and brings back: Mark asks
// the machine's Redis, or while away an unreachable one.
type switchable struct {
	up, down webhook.Deduper
	away     atomic.Bool
}

func (s *switchable) Mark(ctx context.Context, id string) (bool, error) {
	if s.away.Load() {
		return s.down.Mark(ctx, id)
	}
	return s.up.Mark(ctx, id)
}

// logBuffer is a log the handler writes while a test reads it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

const (
	outageLogged   = "deduplicated on this node alone until they can"
	recoveryLogged = "the shared event ids answer again"
)

func TestDedupeWhileRedisIsUnreachableTakesEachEventOnce(t *testing.T) {
	logs := &logBuffer{}
	e := newEnvWith(t, embeddedStore(t), nil, func(d *webhook.Deps) {
		d.Dedupe = webhook.NewRedisDeduper(unreachableRedis(t), time.Minute)
		d.Log = slog.New(slog.NewTextHandler(logs, nil))
	})
	e.start()
	first := ev{id: "ev-" + rand.Text(), typ: webhook.TypeCallInitiated, ccid: "v3:outage-1"}
	second := ev{id: "ev-" + rand.Text(), typ: webhook.TypeCallInitiated, ccid: "v3:outage-2"}
	e.send(first)  // answered 200 and processed, not refused with 503
	e.send(first)  // Telnyx's redelivery: dropped
	e.send(second) // a new call during the same outage
	e.stop()
	if got := metricValue(t, e, webhook.TypeCallInitiated, "processed"); got != 2 {
		t.Errorf("%v events processed, want 2 (each call once)", got)
	}
	if got := metricValue(t, e, webhook.TypeCallInitiated, "duplicate"); got != 1 {
		t.Errorf("%v duplicates, want the redelivery", got)
	}
	if got := localDedupes(t, e); got != 3 {
		t.Errorf("%v events deduplicated on the node, want all 3", got)
	}
	if got := metricValue(t, e, webhook.TypeCallInitiated, "unavailable"); got != 0 {
		t.Errorf("%v events refused, want none", got)
	}
	if n := len(e.commands("answer")); n != 2 {
		t.Errorf("%d answers reached Telnyx, want one for each call", n)
	}
	if n := logs.count(outageLogged); n != 1 {
		t.Errorf("the outage logged %d times, want once", n)
	}
}

func TestDedupeSwitchBetweenRedisAndTheNodeTakesNoEventTwice(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { _ = rdb.Close() })
	dd := &switchable{up: webhook.NewRedisDeduper(rdb, time.Minute), down: webhook.NewRedisDeduper(unreachableRedis(t), time.Minute)}
	logs := &logBuffer{}
	e := newEnvWith(t, embeddedStore(t), nil, func(d *webhook.Deps) {
		d.Dedupe = dd
		d.Log = slog.New(slog.NewTextHandler(logs, nil))
	})
	e.start()
	before := ev{id: "ev-" + rand.Text(), typ: webhook.TypeCallInitiated, ccid: "v3:switch-1"}
	during := ev{id: "ev-" + rand.Text(), typ: webhook.TypeCallInitiated, ccid: "v3:switch-2"}
	e.send(before) // marked in Redis and on the node
	dd.away.Store(true)
	e.send(before) // redelivered during the outage: the node remembers it
	e.send(during) // taken during the outage: Redis never sees it
	dd.away.Store(false)
	e.send(during) // redelivered after: Redis calls it fresh, the node does not
	e.stop()
	if got := metricValue(t, e, webhook.TypeCallInitiated, "processed"); got != 2 {
		t.Errorf("%v events processed, want 2 (each call once)", got)
	}
	if got := metricValue(t, e, webhook.TypeCallInitiated, "duplicate"); got != 2 {
		t.Errorf("%v duplicates, want both redeliveries", got)
	}
	if got := localDedupes(t, e); got != 2 {
		t.Errorf("%v events deduplicated on the node, want the 2 of the outage", got)
	}
	if n := len(e.commands("answer")); n != 2 {
		t.Errorf("%d answers reached Telnyx, want one for each call", n)
	}
	if o, r := logs.count(outageLogged), logs.count(recoveryLogged); o != 1 || r != 1 {
		t.Errorf("outage logged %d times, its end %d, want once each", o, r)
	}
}

// failingMarker is a database that cannot be reached.
type failingMarker struct{}

func (failingMarker) MarkEventProcessed(context.Context, string) (bool, error) {
	return false, errors.New("connection refused")
}

func TestDedupeFailureOfTheStoreIsRefusedSoTelnyxRetries(t *testing.T) {
	// The store deduper's database is the one processing writes to: an
	// event taken now would fail, one refused is retried once it is back.
	e := newEnvWith(t, embeddedStore(t), nil, func(d *webhook.Deps) { d.Dedupe = webhook.NewStoreDeduper(failingMarker{}) })
	e.start()
	v := ev{id: "ev-store-down", typ: webhook.TypeCallInitiated, ccid: "v3:store-down"}
	if code := e.post(v.body(), time.Now()); code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", code)
	}
	e.stop()
	if n := len(e.fake.Commands()); n != 0 {
		t.Errorf("%d commands reached Telnyx, want none", n)
	}
	if got := metricValue(t, e, webhook.TypeCallInitiated, "unavailable"); got != 1 {
		t.Errorf("%v refused, want 1", got)
	}
}

func FuzzParseEvent(f *testing.F) {
	f.Add(ev{id: "ev-1", typ: webhook.TypeCallInitiated, ccid: "v3:a"}.body())
	f.Add(ev{id: "ev-2", typ: webhook.TypeCallDTMF, ccid: "v3:a", digit: "0", clientState: "b3JnL2M="}.body())
	f.Add([]byte(`{"data":{"id":"x","event_type":"call.hangup","payload":null}}`))
	f.Add([]byte(`{"data":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := webhook.ParseEvent(body)
		if err == nil && (ev.ID == "" || ev.Type == "" || len(ev.Payload.CallControlID) > 256) {
			t.Fatalf("accepted %q as %+v", body, ev)
		}
	})
}

// TestWhileRedisIsAwayOnlyEventsThisNodeCanCarryOutAreTaken: with Redis
// away, a command cannot reach the node that holds a call. A hang-up for a
// call another node holds is refused with 503, and Telnyx's delivery of it
// once Redis is back ends the call; a hang-up for a call this node holds
// is carried out at once.
func TestWhileRedisIsAwayOnlyEventsThisNodeCanCarryOutAreTaken(t *testing.T) {
	dd := &switchable{up: webhook.NewRedisDeduper(redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"}), time.Minute),
		down: webhook.NewRedisDeduper(unreachableRedis(t), time.Minute)}
	e := newEnvWith(t, embeddedStore(t), nil, func(d *webhook.Deps) { d.Dedupe = dd })
	mine, theirs := "v3:held-here", "v3:held-there"
	e.live.setLive(webhook.CallIDFor(mine))
	e.start()
	dd.away.Store(true)
	elsewhere := ev{id: "ev-" + rand.Text(), typ: webhook.TypeCallHangup, ccid: theirs}
	if code := e.post(elsewhere.body(), time.Now()); code != http.StatusServiceUnavailable {
		t.Errorf("a hang-up for another node's call while Redis is away: %d, want 503", code)
	}
	e.send(ev{id: "ev-" + rand.Text(), typ: webhook.TypeCallHangup, ccid: mine})
	dd.away.Store(false)
	e.live.setLive(webhook.CallIDFor(theirs)) // Redis is back: the command reaches the call
	e.send(elsewhere)                         // Telnyx's retry
	e.stop()
	for _, ccid := range []string{mine, theirs} {
		if r := e.live.endedWith(webhook.CallIDFor(ccid)); r != session.EndHangup {
			t.Errorf("call %s ended with %q, want hangup", ccid, r)
		}
	}
}
