package session

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/store"
)

// toolLookup is the tool that tells the model who is calling.
const toolLookup = "lookup_customer"

var lookupTool = ai.Tool{Name: toolLookup,
	Description: "Look up the caller by their phone number: their name, how often they called and what to remember about them.",
	Parameters:  `{"type":"object","properties":{}}`}

// CustomerLookup finds an organization's customer by phone number (the
// store, cached).
type CustomerLookup interface {
	CustomerByPhone(ctx context.Context, org store.OrgID, phone store.PhoneNumber) (store.Customer, error)
}

// lookupTimeout bounds a customer lookup: the caller is waiting.
const lookupTimeout = time.Second

// maxToolRounds bounds the model's consecutive lookups in one turn.
const maxToolRounds = 2

// customerFacts is what lookup_customer answers the model.
type customerFacts struct {
	Found      bool   `json:"found"`
	Name       string `json:"name,omitempty"`
	CallCount  int    `json:"previous_calls,omitempty"`
	LastCallAt string `json:"last_call_at,omitempty"`
	Memory     string `json:"memory,omitempty"`
	Error      string `json:"error,omitempty"`
}

// tools are the tools this call offers the model.
func (s *Session) tools() []ai.Tool {
	if s.lookup() == nil {
		return sessionTools
	}
	return append(sessionTools[:len(sessionTools):len(sessionTools)], lookupTool)
}

// lookup returns the call's customer lookup, or nil when the engine has no
// customer store or the caller's number is unknown.
func (s *Session) lookup() func(context.Context) string {
	cl := s.eng.deps.Customers
	if cl == nil || s.start.From == "" || s.agent.OrgID == "" {
		return nil
	}
	org, phone := s.agent.OrgID, store.PhoneNumber(s.start.From)
	return func(ctx context.Context) string {
		ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
		defer cancel()
		var f customerFacts
		c, err := cl.CustomerByPhone(ctx, org, phone)
		switch {
		case err == nil:
			f = customerFacts{Found: true, Name: c.Name, CallCount: c.CallCount, Memory: c.MemorySummary}
			if c.LastCallAt != nil {
				f.LastCallAt = c.LastCallAt.UTC().Format(time.RFC3339)
			}
		case errors.Is(err, store.ErrNotFound):
			f = customerFacts{Found: false}
		default:
			f = customerFacts{Error: "the customer records are unavailable right now"}
		}
		b, _ := json.Marshal(f) // a struct of strings and ints
		return string(b)
	}
}
