package session_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/iace/iace/ai/local"
	"github.com/iace/iace/media"
	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

// orgAgents finds agents by organization and id only, as a store does; it
// answers no number, so a call that reaches an agent came through its token.
type orgAgents struct{ agents []store.Agent }

func (orgAgents) AgentForNumber(context.Context, store.PhoneNumber) (store.Agent, error) {
	return store.Agent{}, store.ErrNoAgent
}

func (a orgAgents) GetAgent(_ context.Context, org store.OrgID, id store.AgentID) (store.Agent, error) {
	for _, ag := range a.agents {
		if ag.OrgID == org && ag.ID == id {
			return ag, nil
		}
	}
	return store.Agent{}, store.ErrNotFound
}

var streamSecret = []byte("0123456789abcdef0123456789abcdef")

func newTokenServer(t *testing.T) (string, *session.Engine, chan session.CallSummary) {
	t.Helper()
	pacer, err := media.NewPacer(media.DefaultPacerConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	agent := store.DefaultAgent()
	agent.ID, agent.OrgID = "sales", "org-a"
	ended := make(chan session.CallSummary, 4)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := session.NewEngine(session.DefaultConfig(), session.Deps{
		Agents: orgAgents{agents: []store.Agent{agent}},
		STT:    local.NewSimTranscriber(),
		Chat:   local.NewRuleAgent(),
		Synth:  local.NewTones(),
		Pacer:  pacer,
		OnEnd:  func(_ context.Context, s session.CallSummary) { ended <- s },
		Log:    log,
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
	return "ws" + strings.TrimPrefix(srv.URL, "http"), eng, ended
}

func streamURL(t *testing.T, base string, c telnyx.StreamClaims) string {
	t.Helper()
	tok, err := telnyx.Mint(streamSecret, c, time.Now(), 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return base + "?token=" + url.QueryEscape(tok)
}

func TestStreamWithTokenRunsTheWebhooksCallWithItsAgent(t *testing.T) {
	base, eng, ended := newTokenServer(t)
	claims := telnyx.StreamClaims{CallID: "call-from-webhook", OrgID: "org-a", AgentID: "sales", CallControlID: "v3:test-ccid"}
	p := dialPeer(t, streamURL(t, base, claims), nil)
	p.expect("greeting audio", 3*time.Second, func(r received) bool { return r.event == "media" })
	info, live := eng.Registry().Get("call-from-webhook")
	if !live || info.OrgID != "org-a" || info.AgentID != "sales" {
		t.Fatalf("live call %+v (found %v): want the token's call, org and agent", info, live)
	}
	p.send(map[string]any{"event": "stop", "sequence_number": p.nextSeq(), "stream_id": "x",
		"stop": map[string]any{"call_control_id": "v3:test-ccid"}})
	select {
	case sum := <-ended:
		if sum.Info.ID != "call-from-webhook" || sum.Info.OrgID != "org-a" || sum.Info.AgentID != "sales" {
			t.Errorf("summary %+v: want the token's call, org and agent", sum.Info)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not end")
	}
	p.close()
}

func TestStreamWithTokenForAnotherOrgsAgentIsNotAccepted(t *testing.T) {
	base, eng, ended := newTokenServer(t)
	claims := telnyx.StreamClaims{CallID: "c2", OrgID: "org-b", AgentID: "sales", CallControlID: "v3:test-ccid"}
	p := dialPeer(t, streamURL(t, base, claims), nil)
	select {
	case <-p.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream was not closed")
	}
	p.close()
	if eng.Registry().Len() != 0 || len(ended) != 0 {
		t.Error("a call ran with another organization's agent")
	}
}
