package main

import (
	"context"
	"flag"
	"fmt"
	"regexp"

	"github.com/iace/iace/store"
)

// e164 is a phone number as Telnyx and the control API write it.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// numberFlags are the flags of `iace number`.
type numberFlags struct {
	org string
}

func (f *numberFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.org, "org", "", "the organization the numbers are allotted to or released from")
}

// numberCommand runs `iace number allot|release`: the operator gives
// numbers to an organization, whose admins may then route them to agents
// (POST /api/v1/numbers), or takes them back, which drops their routes on
// every node. Admins cannot claim numbers themselves: one organization
// could otherwise take calls meant for another.
func numberCommand(ctx context.Context, c cmdContext, args []string) error {
	var f numberFlags
	fs := silentFlagSet("number")
	f.bind(fs)
	positional, serveArgs, err := parseArgs(lookup("number"), fs, args, c.getenv)
	if err != nil {
		return err
	}
	if len(positional) == 0 || positional[0] != "allot" && positional[0] != "release" {
		return usageErrorf("number", "want allot or release first%s", given(positional[:min(1, len(positional))]))
	}
	verb, numbers := positional[0], positional[1:]
	if f.org == "" || len(numbers) == 0 {
		return usageErrorf("number", "--org and at least one number are required")
	}
	for _, n := range numbers {
		if !e164.MatchString(n) {
			return usageErrorf("number", "number %s: want E.164, + and 7 to 15 digits", store.Mask(n))
		}
	}
	org := f.org
	cfg, err := serveConfig(serveArgs, c.getenv)
	if err != nil {
		return err
	}
	st, _, err := openCommandStores(ctx, cfg, c.stderr)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	if _, err := st.backend.GetOrg(ctx, store.OrgID(org)); err != nil {
		return fmt.Errorf("organization %s: %w", org, err)
	}
	for _, n := range numbers {
		// Through the cache: a release drops the route on every node.
		if verb == "allot" {
			err = st.cached.AllotNumber(ctx, store.OrgID(org), store.PhoneNumber(n))
		} else {
			err = st.cached.ReleaseNumber(ctx, store.OrgID(org), store.PhoneNumber(n))
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", verb, store.Mask(n), err)
		}
		done := map[string]string{"allot": "allotted", "release": "released"}[verb]
		fmt.Fprintf(c.stdout, "%s %s: organization %s\n", done, n, org)
	}
	return nil
}
