package store

import (
	"errors"
	"slices"
	"strings"
)

// TransferPolicy says where an organization's calls may be transferred: a
// call handed to a human is a call IACE pays for, so a destination an
// attacker chooses (a premium-rate or far international number) is toll
// fraud. Every transfer is checked with Allows: the control API's, the
// session's and the webhook's.
type TransferPolicy struct {
	// Allow lists the E.164 prefixes a destination must start with: a
	// country calling code ("+44") or a longer prefix ("+4420"). Empty
	// means the default, DefaultTransferPrefixes: the US and Canada. A NANP
	// country other than the US and Canada (Jamaica's +1876...) is allowed
	// only by a prefix that names its area code, never by "+1" alone.
	Allow []string
}

// MaxTransferPrefixes caps a TransferPolicy's allow-list.
const MaxTransferPrefixes = 100

// ErrTransferDenied is what a destination a TransferPolicy refuses wraps
// (a *TransferDeniedError says which rule).
var ErrTransferDenied = errors.New("store: transfer destination refused")

// TransferRule names the rule of a TransferPolicy that refused a
// destination.
type TransferRule string

// The rules, in the order Allows applies them.
const (
	// TransferRuleNotE164: the destination is not an E.164 number (a SIP
	// URI, a national number, a NANP number without its ten digits).
	TransferRuleNotE164 TransferRule = "e164"
	// TransferRulePremiumRate: the destination is in a premium-rate or
	// revenue-share range (PremiumRatePrefixes, or a NANP 976 exchange),
	// refused whatever the allow-list says.
	TransferRulePremiumRate TransferRule = "premium_rate"
	// TransferRuleNotAllowed: the destination is not on the organization's
	// allow-list (or the default's).
	TransferRuleNotAllowed TransferRule = "allow_list"
)

// TransferDeniedError is a destination a TransferPolicy refused, and why.
// Its message masks the number, so it may be logged.
type TransferDeniedError struct {
	Number PhoneNumber
	Rule   TransferRule
	// Range is the range that decided, when one did: the premium-rate
	// prefix, or the area code prefix ("+1876") of a NANP country other
	// than the US and Canada, which the allow-list must name.
	Range string
}

func (e *TransferDeniedError) Error() string {
	return "store: transfer to " + Mask(string(e.Number)) + " refused: " + e.Reason()
}

// Unwrap makes every TransferDeniedError an ErrTransferDenied.
func (e *TransferDeniedError) Unwrap() error { return ErrTransferDenied }

// Reason says which rule refused the destination, without the number, for
// a person to act on.
func (e *TransferDeniedError) Reason() string {
	switch e.Rule {
	case TransferRuleNotE164:
		return "rule e164: the destination is not an E.164 number (+ then 7 to 15 digits, 10 after +1)"
	case TransferRulePremiumRate:
		return "rule premium_rate: " + e.Range + " is a premium-rate or revenue-share range; transfers there are always refused"
	case TransferRuleNotAllowed:
		if e.Range != "" {
			return "rule allow_list: " + e.Range + " is a NANP country other than the US and Canada; the organization's transfer allow-list must name " + e.Range
		}
		return "rule allow_list: the destination is not on the organization's transfer allow-list"
	}
	return "rule " + string(e.Rule)
}

// DefaultTransferPrefixes is the allow-list of an organization that has not
// set one: the NANP (+1) without its countries other than the US and Canada,
// that is domestic calls for IACE's Telnyx deployments. An organization
// elsewhere sets its own list; until then its transfers abroad are refused,
// never dialled.
func DefaultTransferPrefixes() []string { return []string{"+1"} }

// premiumRatePrefixes are refused whatever an allow-list says: the ranges
// where the caller pays a premium shared with the number's holder, which
// toll fraud dials (sources: each country's numbering plan, and ITU-T
// E.164's list of assigned codes as published in the ITU Operational
// Bulletin):
//   - NANP 900: premium pay-per-call services (NANPA; 47 CFR 64.1506 puts
//     interstate pay-per-call on 900). The 976 exchange of every area code,
//     intrastate pay-per-call, is checked in premiumRange.
//   - UK, Ofcom National Telephone Numbering Plan: 09 premium rate
//     services, 087 revenue-sharing service numbers, 070 personal numbers
//     (which Ofcom warns are used to fake mobile numbers).
//   - Germany, Bundesnetzagentur: 0900 premium services, 0137 mass-traffic
//     (televoting) services.
//   - France, ARCEP: 089 value-added numbers at the highest tariffs.
//   - Italy, AGCOM: 899 premium services.
//   - Spain, CNMC: 803, 806, 807 and 905 additional-charge services.
//   - Netherlands, ACM: 0900, 0906 and 0909 paid information numbers.
//   - Australia, ACMA: 190 premium services.
//   - ITU-T E.164 shared codes: +979 International Premium Rate Service;
//     +881 Global Mobile Satellite System, +882 and +883 International
//     Networks and +870 Inmarsat, charged at satellite rates and the
//     ranges most dialled in international revenue-share fraud.
var premiumRatePrefixes = []string{
	"+1900",
	"+449", "+4487", "+4470",
	"+49900", "+49137",
	"+3389",
	"+39899",
	"+34803", "+34806", "+34807", "+34905",
	"+31900", "+31906", "+31909",
	"+61190",
	"+979", "+881", "+882", "+883", "+870",
}

// PremiumRatePrefixes returns the prefixes every TransferPolicy refuses
// (besides the 976 exchange of every NANP area code).
func PremiumRatePrefixes() []string { return slices.Clone(premiumRatePrefixes) }

// nanpOtherCountries are the NANP area codes of countries other than the
// US and Canada (NANPA, "Area codes by country"): calls there are
// international, with international rates, though they are dialled as +1.
// US territories (Puerto Rico, the US Virgin Islands, Guam...) are domestic.
var nanpOtherCountries = map[string]bool{
	"242": true, // Bahamas
	"246": true, // Barbados
	"264": true, // Anguilla
	"268": true, // Antigua and Barbuda
	"284": true, // British Virgin Islands
	"345": true, // Cayman Islands
	"441": true, // Bermuda
	"473": true, // Grenada
	"649": true, // Turks and Caicos Islands
	"658": true, // Jamaica
	"664": true, // Montserrat
	"721": true, // Sint Maarten
	"758": true, // Saint Lucia
	"767": true, // Dominica
	"784": true, // Saint Vincent and the Grenadines
	"809": true, // Dominican Republic
	"829": true, // Dominican Republic
	"849": true, // Dominican Republic
	"868": true, // Trinidad and Tobago
	"869": true, // Saint Kitts and Nevis
	"876": true, // Jamaica
}

// premiumRange returns the premium-rate range s (a number or a prefix of
// one) lies in, or "".
func premiumRange(s string) string {
	for _, p := range premiumRatePrefixes {
		if strings.HasPrefix(s, p) {
			return p
		}
	}
	// NANP numbers are +1 NPA NXX XXXX: the 976 exchange of any area code.
	if len(s) >= 8 && strings.HasPrefix(s, "+1") && s[5:8] == "976" {
		return s[:5] + "976"
	}
	return ""
}

// digits reports whether s is made of ASCII digits only.
func digits(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < '0' || r > '9' })
}

// isE164 reports whether s is + then 7 to 15 digits, not starting with 0,
// and exactly 10 digits after +1 (the NANP's numbers are all that long).
func isE164(s string) bool {
	d, ok := strings.CutPrefix(s, "+")
	if !ok || len(d) < 7 || len(d) > 15 || d[0] == '0' || !digits(d) {
		return false
	}
	return d[0] != '1' || len(d) == 11
}

// Effective is the allow-list that applies: Allow, or the default when it
// is empty.
func (p TransferPolicy) Effective() []string {
	if len(p.Allow) == 0 {
		return DefaultTransferPrefixes()
	}
	return slices.Clone(p.Allow)
}

// Allows reports whether a call may be transferred to number: nil, or a
// *TransferDeniedError (wrapping ErrTransferDenied) naming the rule that
// refuses it. It is pure: the caller loads the organization's policy
// (Organization.TransferPolicy) and asks before every transfer.
func (p TransferPolicy) Allows(number PhoneNumber) error {
	n := string(number)
	if !isE164(n) {
		return &TransferDeniedError{Number: number, Rule: TransferRuleNotE164}
	}
	if r := premiumRange(n); r != "" {
		return &TransferDeniedError{Number: number, Rule: TransferRulePremiumRate, Range: r}
	}
	longest := ""
	for _, pre := range p.Effective() {
		if strings.HasPrefix(n, pre) && len(pre) > len(longest) {
			longest = pre
		}
	}
	if longest == "" {
		return &TransferDeniedError{Number: number, Rule: TransferRuleNotAllowed}
	}
	if strings.HasPrefix(n, "+1") && nanpOtherCountries[n[2:5]] && len(longest) < len("+1NPA") {
		return &TransferDeniedError{Number: number, Rule: TransferRuleNotAllowed, Range: n[:5]}
	}
	return nil
}

// Check applies the write rules of a transfer policy: at most
// MaxTransferPrefixes prefixes, each + and 1 to 15 digits not starting
// with 0, none inside a premium-rate range (it could allow nothing). It
// trims, sorts and de-duplicates Allow, and leaves it nil when empty.
func (p *TransferPolicy) Check() error {
	if len(p.Allow) > MaxTransferPrefixes {
		return invalidf("%d transfer prefixes, at most %d", len(p.Allow), MaxTransferPrefixes)
	}
	out := make([]string, 0, len(p.Allow))
	for _, pre := range p.Allow {
		pre = strings.TrimSpace(pre)
		d, ok := strings.CutPrefix(pre, "+")
		if !ok || d == "" || len(d) > 15 || d[0] == '0' || !digits(d) {
			return invalidf("transfer prefix %q is not + and a country calling code (e.g. +44 or +4420)", pre)
		}
		if r := premiumRange(pre); r != "" {
			return invalidf("transfer prefix %s is inside the premium-rate range %s, where transfers are always refused", pre, r)
		}
		out = append(out, pre)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		out = nil
	}
	p.Allow = out
	return nil
}
