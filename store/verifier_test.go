package store

import (
	"errors"
	"strings"
	"testing"
)

func TestAVerifierMatchesItsAnswerOnly(t *testing.T) {
	h, err := HashVerifier("1980-03-07")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h, "1980") || strings.Contains(h, "0307") {
		t.Fatalf("the hash %q shows the answer", h)
	}
	if h2, _ := HashVerifier("1980-03-07"); h2 == h {
		t.Error("two hashes of one answer are equal: no salt")
	}
	for answer, want := range map[string]bool{
		"1980-03-07": true, "19800307": true, "1980 03 07": true,
		"1980-03-08": false, "": false, "-": false, "07-03-1980": false,
	} {
		if got := MatchVerifier(h, answer); got != want {
			t.Errorf("MatchVerifier(%q) = %v, want %v", answer, got, want)
		}
	}
	for _, bad := range []string{"", "1234", "$argon2id$v=19$m=1048576,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		strings.Replace(h, "t=2", "t=0", 1), h[:len(h)-4]} {
		if MatchVerifier(bad, "1980-03-07") {
			t.Errorf("the stored value %q matched", bad)
		}
	}
	if _, err := HashVerifier(" - "); !errors.Is(err, ErrInvalid) {
		t.Errorf("hashing an answer with no digit or letter: %v, want ErrInvalid", err)
	}
}

func TestPrivacySettingsAndVerifiersAreChecked(t *testing.T) {
	pin, err := HashVerifier("4321")
	if err != nil {
		t.Fatal(err)
	}
	agent := func(s AgentSettings) *Agent { return &Agent{OrgID: "o", Name: "a", Settings: s} }
	customer := func(v map[string]string) *Customer { return &Customer{OrgID: "o", Phone: "+15550001", Verifiers: v} }
	for name, err := range map[string]error{
		"a digits purpose too long":      agent(AgentSettings{CollectDigits: strings.Repeat("x", MaxCollectDigitsLen+1)}).Check(),
		"a digits purpose with newlines": agent(AgentSettings{CollectDigits: "order\nnumber"}).Check(),
		"an odd verifier name":           agent(AgentSettings{VerifyCaller: "Date of Birth"}).Check(),
		"an idle timeout of 2 s":         agent(AgentSettings{IdleTimeoutSeconds: 2}).Check(),
		"an idle timeout of two hours":   agent(AgentSettings{IdleTimeoutSeconds: 7200}).Check(),
		"a reprompt with a newline":      agent(AgentSettings{Reprompt: "hello?\nanyone?"}).Check(),
		"a reprompt too long":            agent(AgentSettings{Reprompt: strings.Repeat("x", MaxRepromptLen+1)}).Check(),
		"an end of turn of 50 ms":        agent(AgentSettings{EndOfTurnMinMS: 50}).Check(),
		"an end of turn of 10 s":         agent(AgentSettings{EndOfTurnMaxMS: 10000}).Check(),
		"an end of turn min above max":   agent(AgentSettings{EndOfTurnMinMS: 900, EndOfTurnMaxMS: 400}).Check(),
		"a blank backchannel":            agent(AgentSettings{Backchannels: []string{"yeah", " "}}).Check(),
		"a backchannel with markup":      agent(AgentSettings{Backchannels: []string{"<b>ok</b>"}}).Check(),
		"a backchannel too long":         agent(AgentSettings{Backchannels: []string{strings.Repeat("m", MaxBackchannelLen+1)}}).Check(),
		"too many backchannels":          agent(AgentSettings{Backchannels: make([]string, MaxBackchannels+1)}).Check(),
		"a PIN kept in clear":            customer(map[string]string{"pin": "4321"}).Check(),
		"a verifier with an odd name":    customer(map[string]string{"PIN!": pin}).Check(),
	} {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	a := agent(AgentSettings{CollectDigits: "  order number  ", VerifyCaller: "date_of_birth", IdleTimeoutSeconds: 20, Reprompt: " Hello? ",
		Backchannels: []string{" mm-hmm ", "I see", "d'accord"}, EndOfTurnMinMS: 300, EndOfTurnMaxMS: 1200})
	if err := errors.Join(a.Check(), customer(map[string]string{"pin": pin}).Check()); err != nil {
		t.Fatal(err)
	}
	if a.Settings.CollectDigits != "order number" || a.Settings.Reprompt != "Hello?" || a.Settings.Backchannels[0] != "mm-hmm" {
		t.Errorf("purpose %q, reprompt %q, backchannel %q: want them trimmed", a.Settings.CollectDigits, a.Settings.Reprompt, a.Settings.Backchannels[0])
	}
	full := DefaultAgent()
	full.Settings.VerifyCaller = "no such name!"
	if err := full.Validate(); err == nil || !strings.Contains(err.Error(), "verify_caller") {
		t.Errorf("Validate: %v, want it to name verify_caller", err)
	}
}
