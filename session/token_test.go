package session_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/media"
	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
	"github.com/iace/iace/store/embedded"
)

var streamSecret = []byte("0123456789abcdef0123456789abcdef")

// tokenRig is a media endpoint that admits streams only with a token, over
// a real (embedded) store holding org-a's agent "sales" and the calls the
// webhook would have recorded.
type tokenRig struct {
	base  string
	eng   *session.Engine
	store *embedded.Store
	ended chan session.CallSummary
}

func newTokenServer(t *testing.T) *tokenRig {
	t.Helper()
	st, err := embedded.Open(t.Context(), embedded.Config{Path: filepath.Join(t.TempDir(), "iace.db"), Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	for _, org := range []store.OrgID{"org-a", "org-b"} {
		if _, err := st.CreateOrg(t.Context(), store.Organization{ID: org, Name: string(org)}); err != nil {
			t.Fatal(err)
		}
	}
	agent := store.DefaultAgent()
	agent.ID, agent.OrgID = "sales", "org-a"
	if _, err := st.CreateAgent(t.Context(), agent); err != nil {
		t.Fatal(err)
	}
	pacer, err := media.NewPacer(media.DefaultPacerConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan session.CallSummary, 4)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := session.NewEngine(session.DefaultConfig(), session.Deps{
		Agents:  st,
		Streams: st,
		STT:     local.NewSimTranscriber(),
		Chat:    local.NewRuleAgent(),
		Synth:   local.NewTones(),
		Pacer:   pacer,
		OnEnd:   func(_ context.Context, s session.CallSummary) { ended <- s },
		Log:     log,
	})
	if err != nil {
		t.Fatal(err)
	}
	conn := telnyx.DefaultConnConfig()
	conn.StreamSecret = streamSecret
	srv := httptest.NewServer(telnyx.NewHandler(conn, eng, telnyx.NewMetrics(nil), log))
	t.Cleanup(func() {
		srv.Close()
		pacer.Close()
	})
	return &tokenRig{base: "ws" + strings.TrimPrefix(srv.URL, "http"), eng: eng, store: st, ended: ended}
}

// recordCall writes the call row the webhook writes before it answers.
func (r *tokenRig) recordCall(t *testing.T, id store.CallID) store.Call {
	t.Helper()
	c, err := r.store.CreateCall(t.Context(), store.Call{ID: id, OrgID: "org-a", AgentID: "sales",
		CallControlID: "v3:test-ccid", CallSessionID: "a1b2", Direction: "incoming",
		From: "+15551230001", To: "+15559870002", Status: store.CallRinging})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func streamURL(t *testing.T, base string, c telnyx.StreamClaims) string {
	t.Helper()
	tok, err := telnyx.Mint(streamSecret, c, time.Now(), 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return base + "?token=" + url.QueryEscape(tok)
}

// hangUp sends stop and returns the call's summary.
func (r *tokenRig) hangUp(t *testing.T, p *peer) session.CallSummary {
	t.Helper()
	p.send(map[string]any{"event": "stop", "sequence_number": p.nextSeq(), "stream_id": "x",
		"stop": map[string]any{"call_control_id": "v3:test-ccid"}})
	select {
	case sum := <-r.ended:
		p.close()
		return sum
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not end")
	}
	return session.CallSummary{}
}

// refused waits for the server to close p and checks that no call ran.
func (r *tokenRig) refused(t *testing.T, p *peer, why string) {
	t.Helper()
	select {
	case <-p.closed:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: the stream was not closed", why)
	}
	p.close()
	if p.closeCode != telnyx.ClosePolicy {
		t.Errorf("%s: close code %d, want %d (policy violation)", why, p.closeCode, telnyx.ClosePolicy)
	}
	if r.eng.Registry().Len() != 0 || len(r.ended) != 0 {
		t.Errorf("%s: a call ran", why)
	}
}

func TestStreamWithTokenRunsTheWebhooksCallWithItsAgent(t *testing.T) {
	r := newTokenServer(t)
	r.recordCall(t, "call-from-webhook")
	claims := telnyx.StreamClaims{CallID: "call-from-webhook", OrgID: "org-a", AgentID: "sales", CallControlID: "v3:test-ccid"}
	p := dialPeer(t, streamURL(t, r.base, claims), nil)
	p.expect("greeting audio", 3*time.Second, func(r received) bool { return r.event == "media" })
	info, live := r.eng.Registry().Get("call-from-webhook")
	if !live || info.OrgID != "org-a" || info.AgentID != "sales" {
		t.Fatalf("live call %+v (found %v): want the token's call, org and agent", info, live)
	}
	sum := r.hangUp(t, p)
	if sum.Info.ID != "call-from-webhook" || sum.Info.OrgID != "org-a" || sum.Info.AgentID != "sales" {
		t.Errorf("summary %+v: want the token's call, org and agent", sum.Info)
	}
}

func TestStreamWithTokenForAnotherOrgsAgentIsNotAccepted(t *testing.T) {
	r := newTokenServer(t)
	r.recordCall(t, "c2")
	claims := telnyx.StreamClaims{CallID: "c2", OrgID: "org-b", AgentID: "sales", CallControlID: "v3:test-ccid"}
	r.refused(t, dialPeer(t, streamURL(t, r.base, claims), nil), "a token naming another organization")
}

func TestAStreamTokenOpensOneStreamOnly(t *testing.T) {
	r := newTokenServer(t)
	r.recordCall(t, "call-1")
	u := streamURL(t, r.base, telnyx.StreamClaims{CallID: "call-1", OrgID: "org-a", AgentID: "sales", CallControlID: "v3:test-ccid"})
	p := dialPeer(t, u, nil)
	p.expect("greeting audio", 3*time.Second, func(r received) bool { return r.event == "media" })
	r.hangUp(t, p)

	// The same token, leaked or replayed after the call: refused.
	r.refused(t, dialPeer(t, u, nil), "the token a second time")
	// A fresh token for the same call cannot open a second stream either.
	again := streamURL(t, r.base, telnyx.StreamClaims{CallID: "call-1", OrgID: "org-a", AgentID: "sales", CallControlID: "v3:test-ccid"})
	r.refused(t, dialPeer(t, again, nil), "a second token for a call that had its stream")
	// Nor one for a call that was never recorded.
	ghost := streamURL(t, r.base, telnyx.StreamClaims{CallID: "never-recorded", OrgID: "org-a", AgentID: "sales", CallControlID: "v3:test-ccid"})
	r.refused(t, dialPeer(t, ghost, nil), "a token for a call the webhook never recorded")
}

func TestTheCallsIdentityComesFromItsRecordNotTheStartFrame(t *testing.T) {
	r := newTokenServer(t)
	claims := func(id store.CallID) telnyx.StreamClaims {
		return telnyx.StreamClaims{CallID: string(id), OrgID: "org-a", AgentID: "sales", CallControlID: "v3:test-ccid"}
	}
	for _, tc := range []struct {
		name  string
		start map[string]any
	}{
		{"a spoofed caller number", map[string]any{"from": "+15550006666"}},
		{"another dialed number", map[string]any{"to": "+15550007777"}},
		{"another call's control id", map[string]any{"call_control_id": "v3:someone-elses-call"}},
	} {
		id := store.CallID("spoof-" + strings.ReplaceAll(tc.name, " ", "-"))
		r.recordCall(t, id)
		r.refused(t, dialPeerStart(t, streamURL(t, r.base, claims(id)), tc.start), tc.name)
	}

	// A start frame that leaves the numbers out still gets the recorded ones.
	rec := r.recordCall(t, "quiet-start")
	p := dialPeerStart(t, streamURL(t, r.base, claims("quiet-start")), map[string]any{"from": "", "to": ""})
	p.expect("greeting audio", 3*time.Second, func(r received) bool { return r.event == "media" })
	sum := r.hangUp(t, p)
	if sum.Info.From != rec.From || sum.Info.To != rec.To || sum.Info.CallControlID != rec.CallControlID {
		t.Errorf("call identity %s -> %s (%s), want the recorded %s -> %s (%s)",
			sum.Info.From, sum.Info.To, sum.Info.CallControlID, rec.From, rec.To, rec.CallControlID)
	}
}
