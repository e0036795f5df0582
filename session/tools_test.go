package session

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/store"
)

// oneCustomer is a customer store holding c.
type oneCustomer struct{ c store.Customer }

func (o oneCustomer) CustomerByPhone(_ context.Context, org store.OrgID, phone store.PhoneNumber) (store.Customer, error) {
	if org != o.c.OrgID || phone != o.c.Phone {
		return store.Customer{}, store.ErrNotFound
	}
	return o.c, nil
}

// callWith is a session of a call from the customer's number to an agent
// that verifies callers with check ("" for none).
func callWith(t *testing.T, check string) *Session {
	t.Helper()
	pin, err := store.HashVerifier("4321")
	if err != nil {
		t.Fatal(err)
	}
	c := store.Customer{OrgID: "org-a", Phone: "+15551230001", Name: "Grace Hopper", MemorySummary: "Disputes an invoice.",
		Verifiers: map[string]string{"pin": pin}}
	return &Session{eng: &Engine{deps: Deps{Customers: oneCustomer{c}}}, log: slog.New(slog.DiscardHandler),
		start: &telnyx.Start{From: string(c.Phone)}, agent: store.Agent{OrgID: c.OrgID, Settings: store.AgentSettings{VerifyCaller: check}}}
}

func call(t *testing.T, s *Session, name, answer string) customerFacts {
	t.Helper()
	args, _ := json.Marshal(map[string]string{"answer": answer})
	var f customerFacts
	if err := json.Unmarshal([]byte(s.customerTools().answer(t.Context(), ai.ToolCall{Name: name, Arguments: string(args)})), &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestVerificationAttemptsAreLimitedPerCall(t *testing.T) {
	s := callWith(t, "pin")
	for i, answer := range []string{"1111", "2222", "3333"} {
		f := call(t, s, toolVerify, answer)
		if f.Verified || f.Name != "" || f.AttemptsLeft == nil || *f.AttemptsLeft != maxVerifyAttempts-1-i {
			t.Fatalf("wrong answer %d: %+v", i+1, f)
		}
	}
	if f := call(t, s, toolVerify, "4321"); f.Verified || f.Name != "" || f.AttemptsLeft == nil || *f.AttemptsLeft != 0 {
		t.Errorf("the right PIN after %d wrong ones: %+v, want it refused unchecked", maxVerifyAttempts, f)
	}
	if f := call(t, s, toolLookup, ""); f.Verified || f.Name != "" || f.Memory != "" {
		t.Errorf("lookup after the attempts ran out: %+v", f)
	}
}

func TestAVerifiedCallerStaysVerifiedForTheCall(t *testing.T) {
	s := callWith(t, "pin")
	if f := call(t, s, toolVerify, " 4-3-2-1 "); !f.Verified || f.Name != "Grace Hopper" {
		t.Fatalf("the right PIN: %+v", f)
	}
	for range 2 * maxVerifyAttempts {
		if f := call(t, s, toolLookup, ""); !f.Verified || f.Name != "Grace Hopper" || f.Memory == "" {
			t.Fatalf("lookup after verification: %+v", f)
		}
	}
}

// TestWithoutAVerifierNothingPersonalIsDisclosed: an agent that names no
// verifier cannot verify its callers, so its lookups never disclose.
func TestWithoutAVerifierNothingPersonalIsDisclosed(t *testing.T) {
	s := callWith(t, "")
	names := make([]string, 0, 4)
	for _, tool := range s.tools() {
		names = append(names, tool.Name)
	}
	if !slices.Contains(names, toolLookup) || slices.Contains(names, toolVerify) {
		t.Errorf("tools %v: want lookup_customer without verify_caller", names)
	}
	if f := call(t, s, toolLookup, ""); !f.Found || f.Name != "" || f.Memory != "" || f.Note == "" {
		t.Errorf("lookup: %+v", f)
	}
	if f := call(t, s, toolVerify, "4321"); f.Verified || f.Name != "" {
		t.Errorf("verify without a verifier: %+v", f)
	}

	s = callWith(t, "date_of_birth") // the customer has a PIN only
	if f := call(t, s, toolVerify, "1906-12-09"); f.Verified || f.Name != "" || !strings.Contains(f.Note, "date of birth") {
		t.Errorf("verify against a verifier the customer lacks: %+v", f)
	}
	if tools := s.tools(); !strings.Contains(tools[len(tools)-1].Description, "date of birth") {
		t.Errorf("verify_caller says %q: want it to name what to ask for", tools[len(tools)-1].Description)
	}
}
