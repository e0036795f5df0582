package webhook_test

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/iace/iace/control/webhook"
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
