package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/iace/iace/session"
	"github.com/iace/iace/store"
)

type agentRef struct {
	ID   store.AgentID `json:"id"`
	Name string        `json:"name"`
}

type customerRef struct {
	ID    store.CustomerID  `json:"id"`
	Name  string            `json:"name,omitempty"`
	Phone store.PhoneNumber `json:"phone"`
}

// CallBody is a call as lists show it.
type CallBody struct {
	ID               store.CallID      `json:"id"`
	AgentID          store.AgentID     `json:"agent_id"`
	Agent            *agentRef         `json:"agent,omitempty" doc:"Absent when the agent was deleted"`
	Customer         *customerRef      `json:"customer,omitempty" doc:"Absent for unknown callers"`
	Direction        string            `json:"direction"`
	From             store.PhoneNumber `json:"from"`
	To               store.PhoneNumber `json:"to"`
	Status           store.CallStatus  `json:"status" enum:"ringing,active,ended"`
	Outcome          store.Outcome     `json:"outcome,omitempty"`
	EndReason        string            `json:"end_reason,omitempty"`
	EscalationReason string            `json:"escalation_reason,omitempty"`
	StartedAt        time.Time         `json:"started_at"`
	AnsweredAt       *time.Time        `json:"answered_at,omitempty"`
	EndedAt          *time.Time        `json:"ended_at,omitempty"`
	DurationSeconds  float64           `json:"duration_seconds"`
	Sentiment        *store.Sentiment  `json:"sentiment,omitempty"`
	Summary          string            `json:"summary,omitempty" doc:"What the human who took the call over was told: why it was handed over, the caller's issue and mood; absent for a call never handed over"`
	Prediction       *predictionBody   `json:"prediction,omitempty" doc:"The outcome prediction when the call ended; absent when none was made"`
}

func callOut(it store.CallListItem) CallBody {
	c := it.Call
	b := CallBody{
		ID: c.ID, AgentID: c.AgentID, Direction: c.Direction, From: c.From, To: c.To, Status: c.Status,
		Outcome: c.Outcome, EndReason: c.EndReason, EscalationReason: c.EscalationReason, StartedAt: c.StartedAt,
		AnsweredAt: c.AnsweredAt, EndedAt: c.EndedAt, DurationSeconds: c.Duration.Seconds(), Sentiment: c.Sentiment,
		Summary: c.Summary, Prediction: predictionOut(c.Prediction),
	}
	if it.Agent != nil {
		b.Agent = &agentRef{ID: it.Agent.ID, Name: it.Agent.Name}
	}
	if it.Customer != nil {
		b.Customer = &customerRef{ID: it.Customer.ID, Name: it.Customer.Name, Phone: it.Customer.Phone}
	}
	return b
}

type turnBody struct {
	Seq         int            `json:"seq"`
	Speaker     store.Speaker  `json:"speaker" enum:"caller,agent"`
	Text        string         `json:"text"`
	StartedAt   time.Time      `json:"started_at"`
	EndedAt     time.Time      `json:"ended_at"`
	Interrupted bool           `json:"interrupted,omitempty"`
	Sentiment   *float64       `json:"sentiment,omitempty"`
	Latency     *store.Latency `json:"latency,omitempty"`
}

// eventBody is one step of a call's life: the lifecycle points of its
// record (started, answered, escalated, ended) and the events its session
// kept (the kinds of session.EventKind).
type eventBody struct {
	At     time.Time `json:"at"`
	Type   string    `json:"type" enum:"started,answered,greeting,caller_turn,agent_turn,barge_in,dtmf,transfer_requested,holding_phrase,supervisor_role,whisper,recovered,escalated,ended"`
	Detail string    `json:"detail,omitempty" doc:"The direction (started), the digit pressed (dtmf: only when the agent collects digits, and never shown to viewers), the provider that failed (holding_phrase), the supervisor's new role (supervisor_role: monitor, whisper, barge or takeover), the reason (escalated, ended); a whisper's text is not kept"`
}

type callDetailBody struct {
	CallBody
	Turns  []turnBody  `json:"turns"`
	Events []eventBody `json:"events" doc:"In time order; events at the same time in the order they happened"`
}

// callEvents merges a call's lifecycle, from its times, with the events its
// session recorded, in time order. At equal times the call starts and is
// answered before its first event, and escalates and ends after its last.
// Unless showDigits, a keypad event says only that a key was pressed: the
// digits an agent collects (a PIN, an account number) are not for viewers.
func callEvents(d store.CallDetail, showDigits bool) []eventBody {
	c := d.Call
	ev := make([]eventBody, 0, len(d.Events)+4)
	ev = append(ev, eventBody{At: c.StartedAt, Type: "started", Detail: c.Direction})
	if c.AnsweredAt != nil {
		ev = append(ev, eventBody{At: *c.AnsweredAt, Type: "answered"})
	}
	for _, e := range d.Events {
		detail := e.Detail
		if e.Kind == string(session.EventDTMF) && !showDigits {
			detail = ""
		}
		ev = append(ev, eventBody{At: e.At, Type: e.Kind, Detail: detail})
	}
	if c.EndedAt != nil {
		if c.Outcome == store.OutcomeEscalated {
			ev = append(ev, eventBody{At: *c.EndedAt, Type: "escalated", Detail: c.EscalationReason})
		}
		ev = append(ev, eventBody{At: *c.EndedAt, Type: "ended", Detail: c.EndReason})
	}
	slices.SortStableFunc(ev, func(a, b eventBody) int { return a.At.Compare(b.At) })
	return ev
}

type callFilters struct {
	Status     string    `query:"status" enum:"ringing,active,ended"`
	Outcome    string    `query:"outcome" enum:"resolved,escalated,abandoned,failed"`
	AgentID    string    `query:"agent_id" maxLength:"100"`
	CustomerID string    `query:"customer_id" maxLength:"100"`
	From       time.Time `query:"from" doc:"Calls started at or after (RFC 3339)"`
	To         time.Time `query:"to" doc:"Calls started before (RFC 3339)"`
	PageParams
}

type callListOutput struct {
	Body struct {
		Items      []CallBody `json:"items"`
		NextCursor string     `json:"next_cursor"`
	}
}

// CallIDPath names a call in a path.
type CallIDPath struct {
	ID string `path:"id" maxLength:"100"`
}

type callDetailOutput struct{ Body callDetailBody }

type liveCallBody struct {
	ID        store.CallID      `json:"id"`
	AgentID   store.AgentID     `json:"agent_id"`
	From      store.PhoneNumber `json:"from"`
	To        store.PhoneNumber `json:"to"`
	StartedAt time.Time         `json:"started_at"`
	State     string            `json:"state" enum:"starting,listening,thinking,speaking,ending"`
	// SupervisorRole is what a supervisor's voice does on the call.
	SupervisorRole string `json:"supervisor_role" enum:"monitor,whisper,barge,takeover" doc:"What a supervisor's voice does on the call (POST /calls/{id}/role): monitor until switched"`
	// The live prediction, updated after each turn.
	Resolution     float64 `json:"resolution_probability" doc:"Probability that the call ends resolved (ai/predict), 0..1"`
	EscalationRisk float64 `json:"escalation_risk" doc:"Probability that the call goes to a human, 0..1"`
}

type liveCallsOutput struct {
	// Partial is set when the other nodes' calls could not be read (Redis
	// away): the list holds this node's calls only.
	Partial string `header:"X-IACE-Partial" doc:"other-nodes-unavailable when only the answering node's calls are listed"`
	Body    struct {
		Items []liveCallBody `json:"items"`
	}
}

type transferInput struct {
	CallIDPath
	Body struct {
		To string `json:"to,omitempty" pattern:"^\\+[1-9][0-9]{6,14}$" doc:"Where to; the agent's transfer number when absent"`
	}
}

type actionOutput struct {
	Body struct {
		CallID store.CallID `json:"call_id"`
		Action string       `json:"action"`
	}
}

func (a *API) callRoutes() {
	huma.Register(a.huma, op("listCalls", http.MethodGet, "/calls", "List calls, newest first", "calls", store.RoleViewer),
		func(ctx context.Context, in *callFilters) (*callListOutput, error) {
			f := store.CallFilter{
				Status: store.CallStatus(in.Status), Outcome: store.Outcome(in.Outcome),
				AgentID: store.AgentID(in.AgentID), CustomerID: store.CustomerID(in.CustomerID), From: in.From, To: in.To,
			}
			list, next, err := a.deps.Store.ListCalls(ctx, principal(ctx).OrgID, f, in.page())
			if err != nil {
				return nil, a.storeError(ctx, "calls", err)
			}
			out := &callListOutput{}
			out.Body.Items = make([]CallBody, 0, len(list))
			for _, it := range list {
				out.Body.Items = append(out.Body.Items, callOut(it))
			}
			out.Body.NextCursor = next
			return out, nil
		})

	// Viewers follow the live list over Server-Sent Events; the same list
	// read once is theirs too.
	o := op("liveCalls", http.MethodGet, "/calls/live", "Calls in progress, on every node", "calls", store.RoleViewer)
	huma.Register(a.huma, o, func(ctx context.Context, _ *struct{}) (*liveCallsOutput, error) {
		out := &liveCallsOutput{}
		out.Body.Items = []liveCallBody{}
		if a.deps.Live == nil {
			return out, nil
		}
		calls, err := a.deps.Live.Live(ctx, principal(ctx).OrgID)
		if err != nil {
			// This node's calls are listed; the other nodes' are missing.
			a.log.WarnContext(ctx, "api: live calls of the other nodes unavailable", "request_id", requestID(ctx), "err", err)
			out.Partial = "other-nodes-unavailable"
		}
		for _, c := range calls {
			out.Body.Items = append(out.Body.Items, liveCallOut(c))
		}
		return out, nil
	})

	huma.Register(a.huma, op("getCall", http.MethodGet, "/calls/{id}", "Get a call with its transcript and events", "calls", store.RoleViewer),
		func(ctx context.Context, in *CallIDPath) (*callDetailOutput, error) {
			d, err := a.deps.Store.GetCall(ctx, principal(ctx).OrgID, store.CallID(in.ID))
			if err != nil {
				return nil, a.storeError(ctx, "call", err)
			}
			out := &callDetailOutput{Body: callDetailBody{CallBody: callOut(d.CallListItem), Events: callEvents(d, rank(principal(ctx).Role) >= rank(store.RoleSupervisor))}}
			out.Body.Turns = make([]turnBody, 0, len(d.Turns))
			for _, t := range d.Turns {
				out.Body.Turns = append(out.Body.Turns, turnBody{Seq: t.Seq, Speaker: t.Speaker, Text: t.Text, StartedAt: t.StartedAt,
					EndedAt: t.EndedAt, Interrupted: t.Interrupted, Sentiment: t.Sentiment, Latency: t.Latency})
			}
			return out, nil
		})

	o = op("transferCall", http.MethodPost, "/calls/{id}/transfer", "Transfer a call in progress to a human", "calls", store.RoleSupervisor)
	o.Description = "The destination must be allowed by the organization's transfer policy (GET /org/transfer-policy): " +
		"a refused one is 403, naming the rule. Every transfer asked for is logged."
	o.Errors = append(o.Errors, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusBadGateway)
	huma.Register(a.huma, o, func(ctx context.Context, in *transferInput) (*actionOutput, error) {
		c, err := a.liveCall(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		to := in.Body.To
		if to == "" {
			ag, err := a.deps.Store.GetAgent(ctx, c.OrgID, c.AgentID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, a.storeError(ctx, "agent", err)
			}
			if to = ag.TransferNumber; to == "" {
				return nil, huma.Error422UnprocessableEntity("the agent has no transfer number; give \"to\"")
			}
		}
		return a.transferCall(ctx, c, to)
	})

	o = op("hangupCall", http.MethodPost, "/calls/{id}/hangup", "Hang up a call in progress", "calls", store.RoleSupervisor)
	o.Errors = append(o.Errors, http.StatusNotFound, http.StatusConflict, http.StatusBadGateway)
	huma.Register(a.huma, o, func(ctx context.Context, in *CallIDPath) (*actionOutput, error) {
		c, err := a.liveCall(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		if err := a.deps.Calls.Hangup(ctx, c.CallControlID); err != nil {
			a.log.WarnContext(ctx, "api: hangup failed", "request_id", requestID(ctx), "call_id", string(c.ID), "err", err)
			return nil, huma.Error502BadGateway("Call Control refused or failed the hang-up")
		}
		a.log.InfoContext(ctx, "call hung up", "request_id", requestID(ctx), "org_id", string(c.OrgID), "call_id", string(c.ID))
		return action(c.ID, "hangup"), nil
	})
}

func action(id store.CallID, what string) *actionOutput {
	out := &actionOutput{}
	out.Body.CallID, out.Body.Action = id, what
	return out
}

// liveCall is the organization's call id if it has not ended and Call
// Control can reach it.
func (a *API) liveCall(ctx context.Context, id string) (store.Call, error) {
	if a.deps.Calls == nil {
		return store.Call{}, huma.Error503ServiceUnavailable("Call Control is not configured (IACE_TELNYX_API_KEY)")
	}
	org := principal(ctx).OrgID
	if a.deps.Live != nil { // a live call is written to the store when it ends
		calls, _ := a.deps.Live.Live(ctx, org) // without the other nodes' list, the store tells
		for _, c := range calls {
			if c.ID == store.CallID(id) && c.CallControlID != "" {
				return store.Call{ID: c.ID, OrgID: c.OrgID, AgentID: c.AgentID, CallControlID: c.CallControlID, Status: store.CallActive}, nil
			}
		}
	}
	d, err := a.deps.Store.GetCall(ctx, org, store.CallID(id))
	if err != nil {
		return store.Call{}, a.storeError(ctx, "call", err)
	}
	switch {
	case d.Call.Status == store.CallEnded:
		return store.Call{}, huma.Error409Conflict("the call has ended")
	case d.Call.CallControlID == "":
		return store.Call{}, huma.Error409Conflict("the call has no Call Control id")
	}
	return d.Call, nil
}
