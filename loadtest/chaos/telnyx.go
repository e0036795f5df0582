package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/iace/iace/media/telnyx/callcontrol/callcontroltest"
)

// telnyxKey is the Call Control API key the nodes are given; the fake
// accepts only it.
const telnyxKey = "chaos-telnyx-key"

// fakeTelnyx plays Telnyx for the calls of a run: it posts each call's
// webhooks, signed with the account's key as Telnyx signs them, to the
// public URL (the load balancer) or to a chosen node, and serves Call
// Control (the nodes' --telnyx-api-url) with the in-repo fake, whose
// commands it hands to the calls they are about.
type fakeTelnyx struct {
	cc     *callcontroltest.Server
	priv   ed25519.PrivateKey
	pub    ed25519.PublicKey
	number string // the dialed number, the agent's
	http   *http.Client

	mu   sync.Mutex
	subs map[string]chan callcontroltest.Command // by call_control_id
}

func newFakeTelnyx(number string) (*fakeTelnyx, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return &fakeTelnyx{cc: callcontroltest.NewServer(telnyxKey), priv: priv, pub: pub, number: number,
		http: &http.Client{Timeout: 15 * time.Second}, subs: map[string]chan callcontroltest.Command{}}, nil
}

// PublicKey is the base64 key the nodes verify webhooks with
// (--telnyx-public-key).
func (t *fakeTelnyx) PublicKey() string { return base64.StdEncoding.EncodeToString(t.pub) }

// APIURL is the Call Control base URL (--telnyx-api-url).
func (t *fakeTelnyx) APIURL() string { return t.cc.BaseURL() }

// Close stops the Call Control fake.
func (t *fakeTelnyx) Close() { t.cc.Close() }

// dispatch hands every command that takes effect to the call it is about,
// until ctx ends. The fake calls match under its lock, in arrival order,
// once per command: a send that would block is dropped (a call that
// stopped listening).
func (t *fakeTelnyx) dispatch(ctx context.Context) {
	_, _ = t.cc.Wait(ctx, func(c callcontroltest.Command) bool {
		if !c.Applied {
			return false
		}
		t.mu.Lock()
		ch := t.subs[c.CallControlID]
		t.mu.Unlock()
		if ch != nil {
			select {
			case ch <- c:
			default:
			}
		}
		return false
	})
}

// subscribe returns the commands that take effect on call ccid from now on.
func (t *fakeTelnyx) subscribe(ccid string) <-chan callcontroltest.Command {
	ch := make(chan callcontroltest.Command, 16)
	t.mu.Lock()
	t.subs[ccid] = ch
	t.mu.Unlock()
	return ch
}

func (t *fakeTelnyx) unsubscribe(ccid string) {
	t.mu.Lock()
	delete(t.subs, ccid)
	t.mu.Unlock()
}

// answer is what the node's answer command gave a call.
type answer struct {
	token       string // the stream token of stream_url
	streamURL   string
	clientState string // base64, echoed in the call's later webhooks
}

// answerOf reads an answer (or streaming_start) command's stream.
func answerOf(c callcontroltest.Command) (answer, error) {
	raw, _ := c.Body["stream_url"].(string)
	u, err := url.Parse(raw)
	if err != nil || u.Query().Get("token") == "" {
		return answer{}, fmt.Errorf("%s of %s: stream_url %q has no token", c.Action, c.CallControlID, raw)
	}
	cs, _ := c.Body["client_state"].(string)
	return answer{token: u.Query().Get("token"), streamURL: raw, clientState: cs}, nil
}

// errNotAnswered: the call's webhook was taken but no node answered it in
// time.
var errNotAnswered = errors.New("no answer command")

// offer places call ccid from caller as Telnyx does: call.initiated to
// hook, then waits for the answer command (up to wait) and sends
// call.answered. With keep the call's later commands come on the returned
// channel (the caller must unsubscribe); without it they are not watched.
func (t *fakeTelnyx) offer(ctx context.Context, hook, ccid, from string, wait time.Duration, keep bool) (answer, <-chan callcontroltest.Command, error) {
	cmds := t.subscribe(ccid)
	if !keep {
		defer t.unsubscribe(ccid)
	}
	code, _, err := t.deliver(ctx, hook, t.event("call.initiated", ccid, from, "", map[string]any{"direction": "incoming"}))
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("call.initiated answered %d", code)
	}
	if err != nil {
		t.unsubscribe(ccid)
		return answer{}, nil, err
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case c := <-cmds:
			if c.Action != "answer" {
				continue
			}
			a, err := answerOf(c)
			if err != nil {
				t.unsubscribe(ccid)
				return answer{}, nil, err
			}
			go func() { // ends within the client's timeout; a lost call.answered only leaves the record ringing
				_, _ = t.post(context.WithoutCancel(ctx), hook, t.event("call.answered", ccid, from, a.clientState, nil))
			}()
			return a, cmds, nil
		case <-timer.C:
			t.unsubscribe(ccid)
			return answer{}, nil, fmt.Errorf("%w within %v", errNotAnswered, wait)
		case <-ctx.Done():
			t.unsubscribe(ccid)
			return answer{}, nil, ctx.Err()
		}
	}
}

// hangup delivers call.hangup for call ccid (the caller hung up) to hook.
func (t *fakeTelnyx) hangup(ctx context.Context, hook, ccid, from, clientState string) (int, int, error) {
	return t.deliver(ctx, hook, t.event("call.hangup", ccid, from, clientState,
		map[string]any{"hangup_cause": "normal_clearing", "hangup_source": "caller"}))
}

// retryAfter are the waits before each new delivery of a webhook that was
// not answered 200: Telnyx retries (docs/protocols/telnyx.md section 4)
// without documenting when; these add up to 31 s.
var retryAfter = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}

// deliver posts body to u until it is answered 200, as Telnyx delivers
// webhooks: the same event (the same data.id) each time, signed anew. It
// returns the last status, the number of attempts, and the last error.
func (t *fakeTelnyx) deliver(ctx context.Context, u string, body []byte) (int, int, error) {
	var (
		code int
		err  error
	)
	for attempt := 0; ; attempt++ {
		code, err = t.post(ctx, u, body)
		if err == nil && code == http.StatusOK || attempt == len(retryAfter) || ctx.Err() != nil {
			return code, attempt + 1, err
		}
		if sleep(ctx, retryAfter[attempt]) != nil {
			return code, attempt + 1, ctx.Err()
		}
	}
}

// event is a Telnyx webhook body (docs/protocols/telnyx.md section 4).
func (t *fakeTelnyx) event(typ, ccid, from, clientState string, extra map[string]any) []byte {
	p := map[string]any{
		"call_control_id": ccid, "call_leg_id": "leg-" + ccid, "call_session_id": "sess-" + ccid,
		"connection_id": "1234567890", "from": from, "to": t.number, "state": "parked", "client_state": nil,
	}
	if clientState != "" {
		p["client_state"] = clientState
	}
	for k, v := range extra {
		p[k] = v
	}
	b, err := json.Marshal(map[string]any{
		"data": map[string]any{"record_type": "event", "event_type": typ, "id": "evt-" + rand.Text()[:20],
			"occurred_at": time.Now().UTC().Format(time.RFC3339Nano), "payload": p},
		"meta": map[string]any{"attempt": 1, "delivered_to": "https://iace.example.com/webhooks/telnyx"},
	})
	if err != nil {
		panic(err) // maps of strings and numbers always marshal
	}
	return b
}

// post sends a webhook signed as Telnyx signs: Ed25519 over
// "<timestamp>|<body>".
func (t *fakeTelnyx) post(ctx context.Context, u string, body []byte) (int, error) {
	stamp := strconv.FormatInt(time.Now().Unix(), 10)
	sig := ed25519.Sign(t.priv, append([]byte(stamp+"|"), body...))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body)) //nolint:gosec // G704: a node or the load balancer the suite started
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("telnyx-timestamp", stamp)
	req.Header.Set("telnyx-signature-ed25519", base64.StdEncoding.EncodeToString(sig))
	res, err := t.http.Do(req) //nolint:gosec // G704: as above
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res.StatusCode, nil
}

// callerNumber is call n's caller, as callsim numbers them.
func callerNumber(n int) string { return fmt.Sprintf("+1555%07d", n%10_000_000) }
