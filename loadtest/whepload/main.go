// Command whepload holds WHEP listeners on live calls, as supervisors'
// browsers would, to measure what listening costs the server: it logs in
// to the control API, picks live calls, opens one listener on each of
// -listeners of them (Go pion players, media/rtc/rtctest), holds them for
// -hold, and reports how many connected and what audio they received.
// The players reach the server on loopback only.
//
// A user may open 10 listeners at once (the server's rate limit): give a
// comma-separated list of users, as many supervisors would, who share the
// password.
//
//	IACE_LOAD_PASSWORD=... whepload -url http://127.0.0.1:18080 -email sup1@example.com,sup2@example.com -listeners 20 -hold 20s
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/iace/iace/media/rtc/rtctest"
)

// envPassword gives the password; a flag would show it in ps.
const envPassword = "IACE_LOAD_PASSWORD" //nolint:gosec // G101: the variable's name, not its value

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "whepload:", err)
		os.Exit(1)
	}
}

type result struct {
	connected bool
	packets   int
	audible   bool // the decoded audio has energy
	err       error
}

func run() error {
	url := flag.String("url", "http://127.0.0.1:8080", "the server's public base URL")
	emails := flag.String("email", "", "comma-separated emails of supervisors or admins, listeners shared among them ("+envPassword+" has the password)")
	listeners := flag.Int("listeners", 10, "listeners to open, one per live call")
	hold := flag.Duration("hold", 20*time.Second, "how long each listener stays")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *hold+time.Minute)
	defer cancel()
	c := &http.Client{Timeout: 15 * time.Second}

	var tokens []string
	for email := range strings.SplitSeq(*emails, ",") {
		token, err := login(ctx, c, *url, strings.TrimSpace(email), os.Getenv(envPassword))
		if err != nil {
			return err
		}
		tokens = append(tokens, token)
	}
	calls, err := liveCalls(ctx, c, *url, tokens[0])
	if err != nil {
		return err
	}
	if len(calls) < *listeners {
		return fmt.Errorf("%d live calls, fewer than %d listeners", len(calls), *listeners)
	}
	calls = calls[len(calls)-*listeners:] // the newest: they have the longest left to run
	results := make([]result, *listeners)
	var wg sync.WaitGroup
	began := time.Now()
	for i := range *listeners {
		wg.Go(func() { results[i] = listen(ctx, c, *url, tokens[i%len(tokens)], calls[i], *hold) })
	}
	wg.Wait()
	var connected, audible, packets int
	errs := map[string]int{}
	for _, r := range results {
		if r.connected {
			connected++
		}
		if r.audible {
			audible++
		}
		packets += r.packets
		if r.err != nil {
			errs[r.err.Error()]++
		}
	}
	fmt.Printf("whepload   %d listeners on %d live calls for %s (%.1fs)\n", *listeners, len(calls), *hold, time.Since(began).Seconds())
	fmt.Printf("connected  %d  audible %d  packets %d (%.1f/s per listener)\n", connected, audible, packets,
		float64(packets)/float64(max(connected, 1))/hold.Seconds())
	for e, n := range errs {
		fmt.Printf("error      %d× %s\n", n, e)
	}
	if connected < *listeners {
		return errors.New("not every listener connected")
	}
	return nil
}

func login(ctx context.Context, c *http.Client, url, email, password string) (string, error) {
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := call(ctx, c, http.MethodPost, url+"/api/v1/auth/login", "", "application/json", body, &tok, nil); err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	return tok.AccessToken, nil
}

func liveCalls(ctx context.Context, c *http.Client, url, token string) ([]string, error) {
	var live struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if err := call(ctx, c, http.MethodGet, url+"/api/v1/calls/live", token, "", nil, &live, nil); err != nil {
		return nil, fmt.Errorf("live calls: %w", err)
	}
	ids := make([]string, 0, len(live.Items))
	for _, it := range live.Items {
		ids = append(ids, it.ID)
	}
	return ids, nil
}

// listen opens one listener on call id, holds it, and says what it got.
func listen(ctx context.Context, c *http.Client, url, token, id string, hold time.Duration) result {
	p, offer, err := rtctest.NewClient(1)
	if err != nil {
		return result{err: err}
	}
	defer func() { _ = p.Close() }()
	var answer bytes.Buffer
	var loc string
	if err := call(ctx, c, http.MethodPost, url+"/whep/calls/"+id, token, "application/sdp", []byte(offer), nil, func(res *http.Response) {
		loc = res.Header.Get("Location")
		_, _ = io.Copy(&answer, io.LimitReader(res.Body, 64<<10))
	}); err != nil {
		return result{err: err}
	}
	if err := p.Answer(answer.String()); err != nil {
		return result{err: err}
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = p.WaitState(cctx, webrtc.PeerConnectionStateConnected)
	cancel()
	if err != nil {
		return result{err: errors.New("not connected in 10 s")}
	}
	select {
	case <-time.After(hold):
	case <-ctx.Done():
	}
	r := result{connected: true}
	for _, tr := range p.TrackIDs() {
		st := p.Track(tr)
		r.packets += st.Packets
		r.audible = r.audible || rtctest.RMS(st.PCM) > 0
	}
	if loc != "" {
		_ = call(ctx, c, http.MethodDelete, url+loc, token, "", nil, nil, nil)
	}
	return r
}

// call makes one request; out, if set, receives the JSON answer, and read,
// if set, the response of a 201.
func call(ctx context.Context, c *http.Client, method, url, token, ctype string, body []byte, out any, read func(*http.Response)) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = res.Body.Close() }()
	if res.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("%s %s: HTTP %d %s", method, url, res.StatusCode, bytes.TrimSpace(b))
	}
	if read != nil {
		read(res)
		return nil
	}
	if out != nil {
		return json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(out)
	}
	return nil
}
