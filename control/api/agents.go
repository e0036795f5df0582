package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/iace/iace/store"
)

// intentBody is one keyword rule of an agent.
type intentBody struct {
	Name     string   `json:"name" maxLength:"100"`
	Keywords []string `json:"keywords" minItems:"1" maxItems:"50"`
	Reply    string   `json:"reply" minLength:"1" maxLength:"4000"`
	Action   string   `json:"action,omitempty" enum:"end_call,transfer" doc:"What follows the reply"`
}

// settingsBody are an agent's model settings.
type settingsBody struct {
	Model       string  `json:"model,omitempty" maxLength:"200" doc:"LLM model; empty for the server's default"`
	Temperature float64 `json:"temperature,omitempty" minimum:"0" maximum:"2"`
	MaxTokens   int     `json:"max_tokens,omitempty" minimum:"0" maximum:"8192"`
	STT         string  `json:"stt,omitempty" maxLength:"50"`
	TTS         string  `json:"tts,omitempty" maxLength:"50"`
	// The privacy settings (store.AgentSettings says what they mean).
	CollectDigits string `json:"collect_digits,omitempty" maxLength:"200" doc:"Why the agent collects keypad digits; only then are digits kept in the call's events (never shown to viewers). Empty: only that a key was pressed"`
	VerifyCaller  string `json:"verify_caller,omitempty" maxLength:"32" pattern:"^[a-z][a-z0-9_]*$" doc:"The customer verifier (e.g. pin, date_of_birth) a caller must answer before the agent is told anything personal about the customer; empty: never"`
	// Learning from finished calls (store.AgentSettings.Learning).
	Learning store.LearningMode `json:"learning,omitempty" enum:"on,off,approve" doc:"Whether finished calls teach the agent patterns: on (the default), off, or approve (learned patterns wait, pending, for approval)"`
	// The silence bound (store.AgentSettings.IdleTimeoutSeconds).
	IdleTimeoutSeconds int    `json:"idle_timeout_seconds,omitempty" minimum:"0" maximum:"3600" doc:"After this long without the caller speaking, the agent says reprompt once, and after as long again the call ends (caller_silent); 0: the node's default (--idle-timeout, 30 s), else 5 to 3600"`
	Reprompt           string `json:"reprompt,omitempty" maxLength:"300" doc:"What the agent says to a silent caller; empty: the node's (Are you still there?)"`
	// Barge-in and end of turn (store.AgentSettings.Backchannels, EndOfTurn*).
	Backchannels   []string `json:"backchannels,omitempty" maxItems:"64" doc:"Words and short phrases (mm-hmm, yeah, okay) that never interrupt the agent, when the transcriber streams interim words; at most 40 bytes each; empty: the English defaults"`
	EndOfTurnMinMS int      `json:"end_of_turn_min_ms,omitempty" minimum:"0" maximum:"5000" doc:"Silence that ends the caller's turn when they sound finished, ms; 0: the node's (--vad-min-silence), else 100 to 5000"`
	EndOfTurnMaxMS int      `json:"end_of_turn_max_ms,omitempty" minimum:"0" maximum:"5000" doc:"Silence that ends the caller's turn when they sound mid-sentence, ms; 0: the node's (--vad-max-silence), else 100 to 5000 and not below the min"`
}

// escalationBody are the rules that hand a call to a human.
type escalationBody struct {
	Keywords           []string `json:"keywords,omitempty" maxItems:"256" doc:"words and phrases that hand the caller over; escalate.RecommendedRules holds 213"`
	NegativeTurns      int      `json:"negative_turns,omitempty" minimum:"0" maximum:"100"`
	SentimentBelow     float64  `json:"sentiment_below,omitempty" minimum:"-1" maximum:"1"`
	RepeatedFallbacks  int      `json:"repeated_fallbacks,omitempty" minimum:"0" maximum:"100"`
	TransferOnDTMFZero bool     `json:"transfer_on_dtmf_zero,omitempty"`
	MaxDurationSeconds int      `json:"max_duration_seconds,omitempty" minimum:"0" maximum:"86400"`
	TransferToolOn     bool     `json:"transfer_to_human_tool,omitempty" doc:"Offer the model the transfer_to_human tool"`
	DryRun             bool     `json:"dry_run,omitempty" doc:"Record when a rule fires (would_escalate events) without handing the caller over"`
	PredictedRiskAbove float64  `json:"predicted_risk_above,omitempty" minimum:"0" maximum:"1" doc:"Hand over when the call's predicted escalation risk reaches this, from the second caller turn; 0: off"`
	WordsRiskAbove     float64  `json:"words_risk_above,omitempty" minimum:"0" maximum:"1" doc:"Hand over when the offline words model's probability that the call needs a person reaches this; 0: off; escalate.RecommendedRules holds 0.97"`
}

// AgentInput is what a client writes of an agent.
type AgentInput struct {
	Name           string         `json:"name" minLength:"1" maxLength:"200"`
	Greeting       string         `json:"greeting" minLength:"1" maxLength:"4000"`
	SystemPrompt   string         `json:"system_prompt,omitempty" maxLength:"4000"`
	Voice          string         `json:"voice,omitempty" maxLength:"100" doc:"TTS voice, e.g. aura-2-thalia-en or en-us"`
	Language       string         `json:"language,omitempty" maxLength:"20" pattern:"^[a-z]{2,3}(-[A-Za-z]{2,4})?$"`
	Fallback       string         `json:"fallback" minLength:"1" maxLength:"4000" doc:"What the agent says when it did not understand"`
	Intents        []intentBody   `json:"intents,omitempty" maxItems:"200"`
	TransferNumber string         `json:"transfer_number,omitempty" pattern:"^\\+[1-9][0-9]{6,14}$" doc:"E.164 number calls are transferred to"`
	Settings       settingsBody   `json:"settings,omitempty"`
	Tools          []string       `json:"tools,omitempty" maxItems:"10" enum:"transfer_to_human,end_call,lookup_customer"`
	Escalation     escalationBody `json:"escalation,omitempty"`
}

// agentBody is an agent as the API shows it.
type agentBody struct {
	ID store.AgentID `json:"id"`
	AgentInput
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func (in AgentInput) agent(org store.OrgID, id store.AgentID) store.Agent {
	a := store.Agent{
		ID: id, OrgID: org, Name: in.Name, Greeting: in.Greeting, SystemPrompt: in.SystemPrompt,
		Voice: in.Voice, Language: in.Language, Fallback: in.Fallback, TransferNumber: in.TransferNumber,
		Settings: store.AgentSettings(in.Settings),
		Tools:    in.Tools,
		Escalation: store.EscalationRules{
			Keywords: in.Escalation.Keywords, NegativeTurns: in.Escalation.NegativeTurns,
			SentimentBelow: in.Escalation.SentimentBelow, RepeatedFallbacks: in.Escalation.RepeatedFallbacks,
			TransferOnDTMFZero: in.Escalation.TransferOnDTMFZero, MaxDurationSeconds: in.Escalation.MaxDurationSeconds,
			TransferToHumanTools: in.Escalation.TransferToolOn, DryRun: in.Escalation.DryRun,
			PredictedRiskAbove: in.Escalation.PredictedRiskAbove, WordsRiskAbove: in.Escalation.WordsRiskAbove,
		},
	}
	for _, it := range in.Intents {
		a.Intents = append(a.Intents, store.Intent(it))
	}
	return a
}

func agentOut(a store.Agent) agentBody {
	b := agentBody{ID: a.ID, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt, AgentInput: AgentInput{
		Name: a.Name, Greeting: a.Greeting, SystemPrompt: a.SystemPrompt, Voice: a.Voice, Language: a.Language,
		Fallback: a.Fallback, TransferNumber: a.TransferNumber, Settings: settingsBody(a.Settings), Tools: a.Tools,
		Escalation: escalationBody{
			Keywords: a.Escalation.Keywords, NegativeTurns: a.Escalation.NegativeTurns,
			SentimentBelow: a.Escalation.SentimentBelow, RepeatedFallbacks: a.Escalation.RepeatedFallbacks,
			TransferOnDTMFZero: a.Escalation.TransferOnDTMFZero, MaxDurationSeconds: a.Escalation.MaxDurationSeconds,
			TransferToolOn: a.Escalation.TransferToHumanTools, DryRun: a.Escalation.DryRun,
			PredictedRiskAbove: a.Escalation.PredictedRiskAbove, WordsRiskAbove: a.Escalation.WordsRiskAbove,
		},
	}}
	for _, it := range a.Intents {
		b.Intents = append(b.Intents, intentBody(it))
	}
	return b
}

// checkAgent applies the rules a schema cannot say.
func checkAgent(a *store.Agent) error {
	if err := a.Validate(); err != nil {
		return huma.Error422UnprocessableEntity(err.Error())
	}
	if a.Escalation.TransferToHumanTools || a.Escalation.TransferOnDTMFZero {
		if a.TransferNumber == "" {
			return huma.Error422UnprocessableEntity("escalation rules transfer calls, so transfer_number is required")
		}
	}
	return nil
}

// AgentIDPath names an agent in a path.
type AgentIDPath struct {
	ID string `path:"id" maxLength:"100"`
}

type agentOutput struct{ Body agentBody }

type agentListOutput struct {
	Body struct {
		Items []agentBody `json:"items"`
	}
}

type agentWrite struct {
	Body AgentInput
}

type agentUpdate struct {
	AgentIDPath
	Body AgentInput
}

func (a *API) agentRoutes() {
	huma.Register(a.huma, op("listAgents", http.MethodGet, "/agents", "List the organization's agents", "agents", store.RoleViewer),
		func(ctx context.Context, _ *struct{}) (*agentListOutput, error) {
			list, err := a.deps.Store.ListAgents(ctx, principal(ctx).OrgID)
			if err != nil {
				return nil, a.storeError(ctx, "agents", err)
			}
			out := &agentListOutput{}
			out.Body.Items = make([]agentBody, 0, len(list))
			for _, ag := range list {
				out.Body.Items = append(out.Body.Items, agentOut(ag))
			}
			return out, nil
		})

	huma.Register(a.huma, op("getAgent", http.MethodGet, "/agents/{id}", "Get an agent", "agents", store.RoleViewer),
		func(ctx context.Context, in *AgentIDPath) (*agentOutput, error) {
			ag, err := a.deps.Store.GetAgent(ctx, principal(ctx).OrgID, store.AgentID(in.ID))
			if err != nil {
				return nil, a.storeError(ctx, "agent", err)
			}
			return &agentOutput{Body: agentOut(ag)}, nil
		})

	o := op("createAgent", http.MethodPost, "/agents", "Create an agent", "agents", store.RoleAdmin)
	o.DefaultStatus = http.StatusCreated
	huma.Register(a.huma, o, func(ctx context.Context, in *agentWrite) (*agentOutput, error) {
		ag := in.Body.agent(principal(ctx).OrgID, "")
		ag.ID = "new" // Validate wants an id; the store assigns the real one
		if err := checkAgent(&ag); err != nil {
			return nil, err
		}
		if err := a.checkTransferNumber(ctx, &ag); err != nil {
			return nil, err
		}
		ag.ID = ""
		created, err := a.deps.Store.CreateAgent(ctx, ag)
		if err != nil {
			return nil, a.storeError(ctx, "agent", err)
		}
		a.log.InfoContext(ctx, "agent created", "request_id", requestID(ctx), "org_id", string(created.OrgID), "agent_id", string(created.ID))
		return &agentOutput{Body: agentOut(created)}, nil
	})

	huma.Register(a.huma, op("updateAgent", http.MethodPut, "/agents/{id}", "Replace an agent's configuration", "agents", store.RoleAdmin),
		func(ctx context.Context, in *agentUpdate) (*agentOutput, error) {
			org := principal(ctx).OrgID
			old, err := a.deps.Store.GetAgent(ctx, org, store.AgentID(in.ID))
			if err != nil {
				return nil, a.storeError(ctx, "agent", err)
			}
			ag := in.Body.agent(org, old.ID)
			ag.CreatedAt = old.CreatedAt
			if err := checkAgent(&ag); err != nil {
				return nil, err
			}
			if err := a.checkTransferNumber(ctx, &ag); err != nil {
				return nil, err
			}
			updated, err := a.deps.Store.UpdateAgent(ctx, ag)
			if err != nil {
				return nil, a.storeError(ctx, "agent", err)
			}
			a.log.InfoContext(ctx, "agent updated", "request_id", requestID(ctx), "org_id", string(org), "agent_id", string(updated.ID))
			return &agentOutput{Body: agentOut(updated)}, nil
		})

	o = op("deleteAgent", http.MethodDelete, "/agents/{id}", "Delete an agent and release its numbers", "agents", store.RoleAdmin)
	o.DefaultStatus = http.StatusNoContent
	huma.Register(a.huma, o, func(ctx context.Context, in *AgentIDPath) (*struct{}, error) {
		org := principal(ctx).OrgID
		if err := a.deps.Store.DeleteAgent(ctx, org, store.AgentID(in.ID)); err != nil {
			return nil, a.storeError(ctx, "agent", err)
		}
		a.log.InfoContext(ctx, "agent deleted", "request_id", requestID(ctx), "org_id", string(org), "agent_id", in.ID)
		return nil, nil
	})
}
