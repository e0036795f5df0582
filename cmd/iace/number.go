package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/iace/iace/store"
)

const numberUsage = "usage: iace number allot|release --org ID +E164 [+E164...] [serve settings]"

// e164 is a phone number as Telnyx and the control API write it.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// numberCommand runs `iace number allot|release`: the operator gives
// numbers to an organization, whose admins may then route them to agents
// (POST /api/v1/numbers), or takes them back, which drops their routes on
// every node. Admins cannot claim numbers themselves: one organization
// could otherwise take calls meant for another.
func numberCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "allot" && args[0] != "release" {
		return errors.New(numberUsage)
	}
	verb := args[0]
	var org string
	var numbers, rest []string
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--org" || a == "-org":
			next := args[i+1:]
			if len(next) == 0 {
				return errors.New(numberUsage)
			}
			org = next[0]
			i++
		case strings.HasPrefix(a, "--org=") || strings.HasPrefix(a, "-org="):
			org = a[strings.Index(a, "=")+1:]
		case strings.HasPrefix(a, "+"):
			if !e164.MatchString(a) {
				return fmt.Errorf("number %s: want E.164, + and 7 to 15 digits", store.Mask(a))
			}
			numbers = append(numbers, a)
		default:
			rest = append(rest, args[i:]...)
			i = len(args)
		}
	}
	if org == "" || len(numbers) == 0 {
		return errors.New(numberUsage)
	}
	cfg, err := loadConfig(rest, getenv, stderr)
	if err != nil {
		return err
	}
	st, _, err := openCommandStores(ctx, cfg, stderr)
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
		fmt.Fprintf(stdout, "%s %s: organization %s\n", done, n, org)
	}
	return nil
}
