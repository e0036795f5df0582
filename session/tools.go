package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/store"
)

// The tools that tell the model about the caller. Caller ID is easily
// spoofed, so the number alone discloses nothing personal: the caller must
// first answer the agent's verifier (store.AgentSettings.VerifyCaller).
const (
	toolLookup = "lookup_customer"
	toolVerify = "verify_caller"
)

var lookupTool = ai.Tool{Name: toolLookup,
	Description: "Look up the customer the caller's phone number belongs to. Caller ID can be faked, so until " +
		toolVerify + " has succeeded this only says whether a customer record exists and how the caller can be " +
		"verified; after that it also gives their name, how often they called and what to remember about them. " +
		"Never tell the caller anything about the customer before verification.",
	Parameters: `{"type":"object","properties":{}}`}

// verifyTool is the verify_caller tool of an agent whose callers answer the
// verifier named check ("pin", "date_of_birth"...).
func verifyTool(check string) ai.Tool {
	return ai.Tool{Name: toolVerify,
		Description: fmt.Sprintf("Verify that the caller is the customer their number belongs to: ask them for their %s "+
			"and pass what they said as answer (a date as YYYY-MM-DD). At most %d attempts per call; after that, offer "+
			"a colleague instead. On success the result holds the customer's details.",
			strings.ReplaceAll(check, "_", " "), maxVerifyAttempts),
		Parameters: `{"type":"object","properties":{"answer":{"type":"string","description":"What the caller said"}},"required":["answer"]}`}
}

// CustomerLookup finds an organization's customer by phone number (the
// store, cached).
type CustomerLookup interface {
	CustomerByPhone(ctx context.Context, org store.OrgID, phone store.PhoneNumber) (store.Customer, error)
}

// lookupTimeout bounds a customer lookup: the caller is waiting.
const lookupTimeout = time.Second

// maxToolRounds bounds the model's consecutive customer tool calls in one
// turn (a verification, then a lookup).
const maxToolRounds = 2

// maxVerifyAttempts bounds a call's verify_caller attempts: a PIN has few
// digits, and a caller who cannot answer three times is not let guess on.
const maxVerifyAttempts = 3

// customerFacts is what lookup_customer and verify_caller answer the model.
// The personal fields are filled only for a verified caller.
type customerFacts struct {
	Found      bool   `json:"found"`
	Verified   bool   `json:"verified"`
	Name       string `json:"name,omitempty"`
	CallCount  int    `json:"previous_calls,omitempty"`
	LastCallAt string `json:"last_call_at,omitempty"`
	Memory     string `json:"memory,omitempty"`
	// RecentCalls are the customer's latest calls, newest first.
	RecentCalls  []recentCall `json:"recent_calls,omitempty"`
	AttemptsLeft *int         `json:"attempts_left,omitempty"`
	Note         string       `json:"note,omitempty"`
	Error        string       `json:"error,omitempty"`
}

// customerTools answers a call's customer tools. The session makes it once
// and hands it to every turn; a cancelled turn's goroutines may still be
// answering when the next turn's start, so the verification state is
// locked (never across the store read).
type customerTools struct {
	customers CustomerLookup
	org       store.OrgID
	phone     store.PhoneNumber
	check     string // the verifier the caller must answer; "" for none
	log       *slog.Logger

	mu       sync.Mutex
	verified bool
	attempts int
	// found is the caller's customer record, once read (at the call's
	// start, by fetchCaller, or by a tool), with their latest calls; a
	// tool answers from it without reading the store again.
	found  *store.Customer
	recent []recentCall
}

// recentCall is one of the caller's latest calls, as a verified caller's
// customer facts give it to the model.
type recentCall struct {
	Date    string `json:"date"`
	Outcome string `json:"outcome,omitempty"`
	Summary string `json:"handoff_summary,omitempty"`
}

// remember keeps the caller's customer record and latest calls read at
// the call's start.
func (ct *customerTools) remember(c store.Customer, recent []recentCall) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	ct.found, ct.recent = &c, recent
}

// known returns the caller's customer record if it was read.
func (ct *customerTools) known() (store.Customer, bool) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if ct.found == nil {
		return store.Customer{}, false
	}
	return *ct.found, true
}

// tools are the tools this call offers the model.
func (s *Session) tools() []ai.Tool {
	base := sessionTools
	if !s.agent.Escalation.TransferToHumanTools {
		base = sessionToolsNoTransfer // the agent does not let the model hand callers over
	}
	ct := s.customerTools()
	if ct == nil {
		return base
	}
	out := make([]ai.Tool, 0, len(base)+2)
	out = append(out, base...)
	out = append(out, lookupTool)
	if ct.check != "" {
		out = append(out, verifyTool(ct.check))
	}
	return out
}

// customerTools returns the call's customer tools, made on first use, or
// nil when the engine has no customer store or the caller's number is
// unknown. Only the run goroutine calls it.
func (s *Session) customerTools() *customerTools {
	cl := s.eng.deps.Customers
	if cl == nil || s.start.From == "" || s.agent.OrgID == "" {
		return nil
	}
	if s.custTools == nil {
		s.custTools = &customerTools{customers: cl, org: s.agent.OrgID, phone: store.PhoneNumber(s.start.From),
			check: s.agent.Settings.VerifyCaller, log: s.log}
	}
	return s.custTools
}

// answer runs one of the model's customer tool calls and returns the
// result for the model, a JSON object.
func (ct *customerTools) answer(ctx context.Context, tc ai.ToolCall) string {
	var f customerFacts
	if tc.Name == toolVerify {
		f = ct.verify(ctx, tc.Arguments)
	} else {
		f = ct.lookup(ctx)
	}
	b, _ := json.Marshal(f) // a struct of strings, ints and bools
	return string(b)
}

func (ct *customerTools) isVerified() bool {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	return ct.verified
}

// customer reads the caller's customer record, or returns the answer that
// says why there is none. A record read at the call's start is not read
// again.
func (ct *customerTools) customer(ctx context.Context) (store.Customer, *customerFacts) {
	if c, ok := ct.known(); ok {
		return c, nil
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	c, err := ct.customers.CustomerByPhone(ctx, ct.org, ct.phone)
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, store.ErrNotFound):
		return store.Customer{}, &customerFacts{Found: false}
	default:
		return store.Customer{}, &customerFacts{Error: "the customer records are unavailable right now"}
	}
}

// lookup answers lookup_customer: everything for a verified caller, that
// the record exists and how to verify for any other.
func (ct *customerTools) lookup(ctx context.Context) customerFacts {
	c, none := ct.customer(ctx)
	if none != nil {
		return *none
	}
	if ct.isVerified() {
		return ct.disclose(c)
	}
	f := customerFacts{Found: true, Note: "personal details are not available on this line; do not guess them"}
	if ct.check != "" {
		f.Note = fmt.Sprintf("the caller is not verified: ask for their %s and call %s before using anything personal",
			strings.ReplaceAll(ct.check, "_", " "), toolVerify)
	}
	return f
}

// disclose is the full answer about a verified caller's customer record,
// with their latest calls when they were read at the call's start.
func (ct *customerTools) disclose(c store.Customer) customerFacts {
	ct.mu.Lock()
	recent := ct.recent
	ct.mu.Unlock()
	f := customerFacts{Found: true, Verified: true, Name: c.Name, CallCount: c.CallCount, Memory: c.MemorySummary,
		RecentCalls: recent}
	if c.LastCallAt != nil {
		f.LastCallAt = c.LastCallAt.UTC().Format(time.RFC3339)
	}
	return f
}

// verify answers verify_caller: it compares the caller's answer with the
// customer's stored verifier (store.MatchVerifier: a hash, compared in
// constant time) and, on a match, marks the caller verified for the rest
// of the call. Each answer given counts as an attempt, up to
// maxVerifyAttempts; neither the answer nor the verifier is logged.
func (ct *customerTools) verify(ctx context.Context, args string) customerFacts {
	var in struct {
		Answer string `json:"answer"`
	}
	if ct.check == "" {
		return customerFacts{Error: "caller verification is not set up for this line"}
	}
	if err := json.Unmarshal([]byte(args), &in); err != nil || store.NormalizeAnswer(in.Answer) == "" {
		return customerFacts{Error: fmt.Sprintf("give the caller's %s as answer", strings.ReplaceAll(ct.check, "_", " "))}
	}
	ct.mu.Lock()
	verified, attempt := ct.verified, ct.attempts+1
	if !verified && attempt <= maxVerifyAttempts {
		ct.attempts = attempt
	}
	ct.mu.Unlock()
	if !verified && attempt > maxVerifyAttempts {
		return customerFacts{AttemptsLeft: new(0), Note: "too many attempts: the caller cannot be verified on this call; offer a colleague"}
	}
	c, none := ct.customer(ctx)
	if none != nil {
		return *none
	}
	if verified {
		return ct.disclose(c)
	}
	hash, ok := c.Verifiers[ct.check]
	if ok && store.MatchVerifier(hash, in.Answer) {
		ct.mu.Lock()
		ct.verified = true
		ct.mu.Unlock()
		ct.log.Info("caller verified", "verifier", ct.check, "attempt", attempt)
		return ct.disclose(c)
	}
	ct.log.Info("caller verification failed", "verifier", ct.check, "attempt", attempt)
	f := customerFacts{Found: true, AttemptsLeft: new(maxVerifyAttempts - attempt), Note: "the answer does not match"}
	if !ok {
		f.Note = "the customer has no " + strings.ReplaceAll(ct.check, "_", " ") + " on file: they cannot be verified on this call"
	}
	return f
}
