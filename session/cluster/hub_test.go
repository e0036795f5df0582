package cluster

import (
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/iace/iace/session"
)

// TestAHubReaderThatFallsBehindIsDropped: a reader that stops reading is
// dropped once its buffer is full, with the reason, while the other reader
// of the channel gets every event; the channel is unsubscribed when its
// last reader goes.
func TestAHubReaderThatFallsBehindIsDropped(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("the tests need Redis on 127.0.0.1:6379: %v", err)
	}
	h := newHub(rdb, 50*time.Millisecond)
	defer h.close()
	channel := "iace-test:" + rand.Text()[:10] + ":events:c1"
	stuck, err := h.subscribe(t.Context(), channel)
	if err != nil {
		t.Fatal(err)
	}
	keen, err := h.subscribe(t.Context(), channel)
	if err != nil {
		t.Fatal(err)
	}
	// keen reads every event; the first hubBuffer are all read before
	// more are sent, so that only the stuck reader's buffer can fill.
	got, first := make(chan int), make(chan struct{})
	go func() {
		n := 0
		for env := range keen.c {
			if n++; n == hubBuffer {
				close(first)
			}
			if env.Event.Kind == session.LiveEnded {
				break
			}
		}
		got <- n
		h.unsubscribe(keen)
	}()
	const sent = hubBuffer + 10
	for i := range sent {
		if i == hubBuffer {
			<-first
		}
		kind := session.LiveState
		if i == sent-1 {
			kind = session.LiveEnded
		}
		if err := rdb.Publish(t.Context(), channel, mustJSON(envelope{Node: "b", Event: session.LiveEvent{Kind: kind}})).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if n := <-got; n != sent {
		t.Errorf("the reader that kept up got %d events, want %d", n, sent)
	}
	n := 0
	for range stuck.c {
		n++
	}
	if n != hubBuffer || !errors.Is(stuck.err, errFellBehind) {
		t.Errorf("the stuck reader got %d events and %v, want %d and errFellBehind", n, stuck.err, hubBuffer)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		subs, err := rdb.PubSubNumSub(t.Context(), channel).Result()
		if err != nil {
			t.Fatal(err)
		}
		if subs[channel] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the channel is still subscribed with no reader")
		}
		time.Sleep(10 * time.Millisecond) //nolint:forbidigo // polling what Redis does asynchronously
	}
}

// TestAHubSubscriptionThatFailsLeavesNothingBehind: a channel that could
// not be subscribed (Redis away) is not subscribed later, when go-redis
// reconnects, for nobody.
func TestAHubSubscriptionThatFailsLeavesNothingBehind(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	h := newHub(rdb, 50*time.Millisecond)
	defer h.close()
	if _, err := h.subscribe(t.Context(), "iace-test:events:c1"); err == nil {
		t.Fatal("subscribed with no Redis")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if got := h.ps.String(); got != "PubSub()" || len(h.channels) != 0 {
		t.Errorf("after the failure: %s, %d channels, want none", got, len(h.channels))
	}
}
