package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/iace/iace/store"
)

func TestTransferPolicyAllows(t *testing.T) {
	none := store.TransferPolicy{}
	uk := store.TransferPolicy{Allow: []string{"+44"}}
	london := store.TransferPolicy{Allow: []string{"+4420"}}
	jamaica := store.TransferPolicy{Allow: []string{"+1", "+1876"}}
	for _, c := range []struct {
		name   string
		policy store.TransferPolicy
		number store.PhoneNumber
		rule   store.TransferRule // "" when allowed
	}{
		{"a US number is allowed by default", none, "+12125550123", ""},
		{"a Canadian number is allowed by default", none, "+14165550123", ""},
		{"a NANP premium 900 number is refused by default", none, "+19005550123", store.TransferRulePremiumRate},
		{"a NANP 976 exchange is refused in any area code", none, "+12129760123", store.TransferRulePremiumRate},
		{"a Jamaican number (NANP, another country) is refused by default", none, "+18765550123", store.TransferRuleNotAllowed},
		{"a Dominican number is refused by +1 alone", store.TransferPolicy{Allow: []string{"+1"}}, "+18095550123", store.TransferRuleNotAllowed},
		{"a Jamaican number is allowed when its area code is listed", jamaica, "+18765550123", ""},
		{"a UK number is refused by default", none, "+442079460123", store.TransferRuleNotAllowed},
		{"a UK number is allowed when +44 is listed", uk, "+442079460123", ""},
		{"a UK premium 09 number is refused even when +44 is listed", uk, "+449098790123", store.TransferRulePremiumRate},
		{"a UK 087 revenue-share number is refused even when +44 is listed", uk, "+448719460123", store.TransferRulePremiumRate},
		{"a UK personal 070 number is refused even when +44 is listed", uk, "+447010000123", store.TransferRulePremiumRate},
		{"a London number is allowed by +4420", london, "+442079460123", ""},
		{"a Manchester number is refused by +4420", london, "+441614960123", store.TransferRuleNotAllowed},
		{"a US number is refused when the list does not name +1", london, "+12125550123", store.TransferRuleNotAllowed},
		{"the international premium rate code is refused", store.TransferPolicy{Allow: []string{"+9"}}, "+979123456789", store.TransferRulePremiumRate},
		{"a satellite network number is refused", store.TransferPolicy{Allow: []string{"+8"}}, "+881612345678", store.TransferRulePremiumRate},
		{"a German 0900 number is refused", store.TransferPolicy{Allow: []string{"+49"}}, "+499001234567", store.TransferRulePremiumRate},
		{"a SIP URI is not a number", none, "sip:someone@example.com", store.TransferRuleNotE164},
		{"a number without its plus is refused", none, "12125550123", store.TransferRuleNotE164},
		{"a NANP number of the wrong length is refused", none, "+1212555012", store.TransferRuleNotE164},
		{"an empty number is refused", none, "", store.TransferRuleNotE164},
		{"a number too long for E.164 is refused", uk, "+4420794601234567", store.TransferRuleNotE164},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.policy.Allows(c.number)
			if c.rule == "" {
				if err != nil {
					t.Fatalf("Allows(%s) = %v, want allowed", c.number, err)
				}
				return
			}
			if !errors.Is(err, store.ErrTransferDenied) {
				t.Fatalf("Allows(%s) = %v, want ErrTransferDenied", c.number, err)
			}
			var denied *store.TransferDeniedError
			if !errors.As(err, &denied) || denied.Rule != c.rule {
				t.Fatalf("Allows(%s) = %v, want rule %q", c.number, err, c.rule)
			}
			if len(c.number) > 5 && strings.Contains(err.Error(), string(c.number)) {
				t.Errorf("the error shows the whole number: %v", err)
			}
		})
	}
}

func TestTransferPolicyCheck(t *testing.T) {
	p := store.TransferPolicy{Allow: []string{" +4420 ", "+1", "+4420"}}
	if err := p.Check(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.Allow, ","); got != "+1,+4420" {
		t.Errorf("normalised to %q, want sorted, trimmed, without duplicates", got)
	}
	for name, allow := range map[string][]string{
		"a prefix without its plus":        {"44"},
		"a prefix with a letter":           {"+44a"},
		"a prefix starting with zero":      {"+0"},
		"a bare plus":                      {"+"},
		"a prefix inside a premium range":  {"+1900"},
		"a prefix inside a UK premium one": {"+44909"},
		"a prefix longer than E.164":       {"+1234567890123456"},
		"too many prefixes":                make([]string, store.MaxTransferPrefixes+1),
	} {
		t.Run(name, func(t *testing.T) {
			for i := range allow {
				if allow[i] == "" {
					allow[i] = "+1"
				}
			}
			p := store.TransferPolicy{Allow: allow}
			if err := p.Check(); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("Check(%q) = %v, want ErrInvalid", allow, err)
			}
		})
	}
	if got := (store.TransferPolicy{}).Effective(); strings.Join(got, ",") != "+1" {
		t.Errorf("the default allows %v, want the NANP +1 only", got)
	}
}
