package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// maxBody caps what a client reads of an answer (a call with a long
// transcript is the largest).
const maxBody = 4 << 20

// tokens is the answer of login and refresh.
type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// listBody is the shape of every list answer: items with an id, and a
// cursor.
type listBody struct {
	Items []struct {
		ID string `json:"id"`
	} `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func harvestTokens(s *clientState, body []byte) {
	var t tokens
	if json.Unmarshal(body, &t) == nil && t.AccessToken != "" {
		s.access, s.refresh = t.AccessToken, t.RefreshToken
	}
}

func harvestCalls(s *clientState, body []byte) {
	var l listBody
	if json.Unmarshal(body, &l) != nil {
		return
	}
	ids := make([]string, 0, len(l.Items))
	for _, it := range l.Items {
		ids = append(ids, it.ID)
	}
	s.callIDs = remember(s.callIDs, ids)
	s.nextCursor = l.NextCursor
}

func harvestAgents(s *clientState, body []byte) {
	var l listBody
	if json.Unmarshal(body, &l) != nil {
		return
	}
	s.agentIDs = s.agentIDs[:0]
	for _, it := range l.Items {
		s.agentIDs = append(s.agentIDs, it.ID)
	}
}

// client is one simulated API user: one goroutine, its own state and
// samples.
type client struct {
	id    int
	cfg   config
	http  *http.Client
	mix   *picker
	rng   *rand.Rand
	state clientState
	rec   *recorder
}

// outcome of one request, as the report counts it.
type result struct {
	status int // 0: no answer (transport error)
	err    error
}

func (r result) failed() bool { return r.err != nil || r.status < 200 || r.status > 299 }

// label is the error's name in the report: the status, or "transport".
func (r result) label() string {
	if r.status == 0 {
		return "transport"
	}
	return strconv.Itoa(r.status)
}

// do sends one request with the client's access token, records it and
// harvests a successful answer.
func (c *client) do(ctx context.Context, rq request) result {
	var body io.Reader
	if rq.body != nil {
		b, err := json.Marshal(rq.body)
		if err != nil {
			return result{err: err}
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, c.cfg.url+rq.path, body)
	if err != nil {
		return result{err: err}
	}
	req.Header.Set("Accept", "application/json")
	if rq.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.state.access != "" && rq.path != pathLogin && rq.path != pathRefresh {
		req.Header.Set("Authorization", "Bearer "+c.state.access)
	}
	t0 := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return result{err: ctx.Err()} // the run ended: not recorded
		}
		r := result{err: err}
		c.rec.record(rq.name, t0.Sub(c.rec.start), time.Since(t0), r)
		return r
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	_ = resp.Body.Close()
	d := time.Since(t0)
	r := result{status: resp.StatusCode, err: err}
	if r.err != nil && ctx.Err() != nil {
		return r
	}
	c.rec.record(rq.name, t0.Sub(c.rec.start), d, r)
	if !r.failed() && rq.harvest != nil {
		rq.harvest(&c.state, b)
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" {
		c.backoff(ctx, resp.Header.Get("Retry-After"))
	}
	return r
}

// backoff waits as Retry-After asks (at most 5 s), or the run's end.
func (c *client) backoff(ctx context.Context, retryAfter string) {
	secs, err := strconv.Atoi(retryAfter)
	if err != nil || secs < 1 {
		secs = 1
	}
	t := time.NewTimer(min(time.Duration(secs)*time.Second, 5*time.Second))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// errLogin: the client could not log in.
var errLogin = errors.New("login failed")

// login logs in, retrying a throttled or shed login until ctx ends.
func (c *client) login(ctx context.Context) error {
	for {
		r := c.do(ctx, request{name: "POST " + pathLogin, method: "POST", path: pathLogin,
			body: map[string]string{"email": c.cfg.email, "password": c.cfg.password}, harvest: harvestTokens})
		switch {
		case !r.failed() && c.state.access != "":
			return nil
		case (r.status == http.StatusTooManyRequests || r.status == http.StatusServiceUnavailable) && ctx.Err() == nil:
			continue // do waited for Retry-After (a 503 still counts as an error)
		case ctx.Err() != nil:
			return ctx.Err()
		}
		if r.err != nil {
			return fmt.Errorf("client %d: %w: %w", c.id, errLogin, r.err)
		}
		return fmt.Errorf("client %d: %w: status %s", c.id, errLogin, r.label())
	}
}

// run logs in once, then makes requests of the mix until ctx ends,
// waiting an exponentially distributed think time (mean cfg.think) between
// them.
func (c *client) run(ctx context.Context) error {
	if err := c.login(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	think := time.NewTimer(0)
	defer think.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-think.C:
		}
		rq := c.next()
		r := c.do(ctx, rq)
		if r.status == http.StatusUnauthorized && c.state.refresh != "" && rq.path != pathRefresh {
			// The access token expired: refresh, as a browser would.
			if rr, ok := buildRefresh(&c.state, c.rng); ok {
				c.do(ctx, rr)
			}
		}
		think.Reset(c.thinkTime())
	}
}

// next draws the next request; an op that cannot be made yet (no call id
// known) becomes the list that teaches it.
func (c *client) next() request {
	o := c.mix.pick(c.rng.IntN(c.mix.total()))
	if rq, ok := o.build(&c.state, c.rng); ok {
		return rq
	}
	if o.name == "agents.get" {
		rq, _ := buildListAgents(&c.state, c.rng)
		return rq
	}
	rq, _ := buildListCalls(&c.state, c.rng)
	return rq
}

func (c *client) thinkTime() time.Duration {
	if c.cfg.think <= 0 {
		return 0
	}
	return time.Duration(c.rng.ExpFloat64() * float64(c.cfg.think))
}
