package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// AgentID identifies an agent.
type AgentID string

// Intent is one keyword rule of an agent (see ai.Intent).
type Intent struct {
	Name     string   `json:"name"`
	Keywords []string `json:"keywords"`
	Reply    string   `json:"reply"`
	// Action follows the reply: "" (nothing), "end_call" or "transfer".
	Action string `json:"action,omitempty"`
}

// Agent is a configured AI phone agent: what it says and how it decides.
type Agent struct {
	ID           AgentID  `json:"id"`
	OrgID        OrgID    `json:"org_id,omitempty"`
	Name         string   `json:"name"`
	Greeting     string   `json:"greeting"`
	SystemPrompt string   `json:"system_prompt"`
	Voice        string   `json:"voice,omitempty"`
	Language     string   `json:"language,omitempty"`
	Fallback     string   `json:"fallback"`
	Intents      []Intent `json:"intents"`
	// TransferNumber is where a call goes when it escalates to a human (E.164).
	TransferNumber string          `json:"transfer_number,omitempty"`
	Settings       AgentSettings   `json:"settings"`
	Tools          []string        `json:"tools,omitempty"`
	Escalation     EscalationRules `json:"escalation"`
	// Numbers are the dialed numbers (E.164) this agent answers, in an agents
	// file; a database keeps them as Number rows.
	Numbers   []string  `json:"numbers,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Limits on agent files: an agent file is configuration, not data.
const (
	maxAgentFileBytes = 1 << 20
	maxIntents        = 200
	maxTextLen        = 4000
)

// ErrNoAgent is returned when no agent answers a number.
var ErrNoAgent = errors.New("store: no agent for this number")

// Validate reports every problem of the agent at once.
func (a *Agent) Validate() error {
	var errs []error
	if a.ID == "" {
		errs = append(errs, errors.New("id is empty"))
	}
	if strings.TrimSpace(a.Greeting) == "" {
		errs = append(errs, errors.New("greeting is empty"))
	}
	if strings.TrimSpace(a.Fallback) == "" {
		errs = append(errs, errors.New("fallback is empty"))
	}
	for _, s := range []string{a.Greeting, a.Fallback, a.SystemPrompt} {
		if len(s) > maxTextLen {
			errs = append(errs, fmt.Errorf("a text is longer than %d bytes", maxTextLen))
		}
	}
	if len(a.Intents) > maxIntents {
		errs = append(errs, fmt.Errorf("%d intents, at most %d", len(a.Intents), maxIntents))
	}
	for i, in := range a.Intents {
		if len(in.Keywords) == 0 {
			errs = append(errs, fmt.Errorf("intent %d (%s): no keywords", i, in.Name))
		}
		if strings.TrimSpace(in.Reply) == "" {
			errs = append(errs, fmt.Errorf("intent %d (%s): empty reply", i, in.Name))
		}
		if len(in.Reply) > maxTextLen {
			errs = append(errs, fmt.Errorf("intent %d (%s): reply longer than %d bytes", i, in.Name, maxTextLen))
		}
		switch in.Action {
		case "", "end_call", "transfer":
		default:
			errs = append(errs, fmt.Errorf("intent %d (%s): unknown action %q (want end_call or transfer)", i, in.Name, in.Action))
		}
	}
	if err := a.Settings.Check(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("agent %q: %w", a.ID, err)
	}
	return nil
}

// DefaultAgent is the built-in agent that answers every number when nothing
// else is configured, so a fresh install holds a conversation.
func DefaultAgent() Agent {
	return Agent{
		ID:           "demo",
		Name:         "IACE demo agent",
		Greeting:     "Hello, thanks for calling. How can I help you today?",
		SystemPrompt: "You are a friendly, brief phone assistant for a small company. Answer in one or two short sentences.",
		Voice:        "en-us",
		Language:     "en",
		Fallback:     "Sorry, could you say that again?",
		Intents: []Intent{
			{Name: "hours", Keywords: []string{"hours", "open", "close", "opening"}, Reply: "We are open Monday to Friday, nine to five."},
			{Name: "price", Keywords: []string{"price", "cost", "how much"}, Reply: "Our basic plan costs twenty dollars a month."},
			{Name: "address", Keywords: []string{"address", "where are you", "location"}, Reply: "We are at one hundred Main Street."},
			{Name: "human", Keywords: []string{"human", "agent", "representative", "operator", "person"}, Reply: "Of course, let me connect you to a colleague.", Action: "transfer"},
			{Name: "goodbye", Keywords: []string{"goodbye", "bye", "that's all", "thank you"}, Reply: "Thanks for calling. Goodbye!", Action: "end_call"},
		},
		// The demo hands over when asked (the human intent) or pressed 0;
		// see ai/escalate's labelled set for rules tried on real wording.
		Escalation: EscalationRules{TransferToHumanTools: true, TransferOnDTMFZero: true},
	}
}

// StaticAgents answers agent lookups from a fixed set, loaded once: the built-in
// default or a JSON file. It is immutable, so safe for concurrent use.
type StaticAgents struct {
	byID     map[AgentID]*Agent
	byNumber map[string]*Agent
	fallback *Agent
	order    []*Agent
}

// NewStaticAgents builds a lookup over agents; the first agent answers numbers
// no agent lists.
func NewStaticAgents(agents []Agent) (*StaticAgents, error) {
	if len(agents) == 0 {
		return nil, errors.New("store: no agents")
	}
	s := &StaticAgents{byID: map[AgentID]*Agent{}, byNumber: map[string]*Agent{}}
	var errs []error
	for i := range agents {
		a := &agents[i]
		if err := a.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := s.byID[a.ID]; dup {
			errs = append(errs, fmt.Errorf("agent %q: duplicate id", a.ID))
		}
		s.byID[a.ID] = a
		s.order = append(s.order, a)
		for _, n := range a.Numbers {
			if other, dup := s.byNumber[n]; dup {
				errs = append(errs, fmt.Errorf("agent %q: number already belongs to agent %q", a.ID, other.ID))
			}
			s.byNumber[n] = a
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s.fallback = &agents[0]
	return s, nil
}

// LoadAgentsFile reads a JSON file holding an array of agents (or one agent).
func LoadAgentsFile(path string) (*StaticAgents, error) {
	f, err := os.Open(path) //nolint:gosec // G304: the operator names the agents file (--agents-file); reading it is the point
	if err != nil {
		return nil, fmt.Errorf("store: agents file: %w", err)
	}
	defer f.Close()
	agents, err := DecodeAgents(f)
	if err != nil {
		return nil, fmt.Errorf("store: agents file %s: %w", path, err)
	}
	return NewStaticAgents(agents)
}

// DecodeAgents reads a JSON array of agents, or a single agent object, capped in size.
func DecodeAgents(r io.Reader) ([]Agent, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxAgentFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxAgentFileBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxAgentFileBytes)
	}
	trimmed := strings.TrimSpace(string(data))
	var agents []Agent
	if strings.HasPrefix(trimmed, "{") {
		var a Agent
		err = json.Unmarshal(data, &a)
		agents = []Agent{a}
	} else {
		err = json.Unmarshal(data, &agents)
	}
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return agents, nil
}

// AgentForNumber returns the agent answering the dialed number, or the
// first agent for a number none lists.
func (s *StaticAgents) AgentForNumber(_ context.Context, number PhoneNumber) (Agent, error) {
	if a, ok := s.byNumber[string(number)]; ok {
		return *a, nil
	}
	if s.fallback == nil {
		return Agent{}, ErrNoAgent
	}
	return *s.fallback, nil
}

// All returns every agent, in file order.
func (s *StaticAgents) All() []Agent {
	out := make([]Agent, 0, len(s.byID))
	for _, a := range s.order {
		out = append(out, *a)
	}
	return out
}

// Agent returns the agent with the given id.
func (s *StaticAgents) Agent(id AgentID) (Agent, error) {
	if a, ok := s.byID[id]; ok {
		return *a, nil
	}
	return Agent{}, ErrNoAgent
}

// GetAgent returns the agent with the given id in the organization, as a
// store does: an agent of another organization is not found.
func (s *StaticAgents) GetAgent(_ context.Context, org OrgID, id AgentID) (Agent, error) {
	if a, ok := s.byID[id]; ok && a.OrgID == org {
		return *a, nil
	}
	return Agent{}, ErrNotFound
}
