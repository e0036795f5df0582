package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/control/auth"
	"github.com/iace/iace/store"
)

// envUserPassword gives `iace user create` its password without a prompt
// (scripts); a flag would show it in ps.
const envUserPassword = "IACE_USER_PASSWORD" //nolint:gosec // G101: the variable's name, not its value

// userFlags are the flags of `iace user create`.
type userFlags struct {
	org, orgName, email, role string
}

func (f *userFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.org, "org", "", "organization id (created if it does not exist)")
	fs.StringVar(&f.orgName, "org-name", "", "name of a new organization (default: its id)")
	fs.StringVar(&f.email, "email", "", "the user's email, their login")
	fs.StringVar(&f.role, "role", string(store.RoleAdmin), "admin, supervisor or viewer")
}

// userCommand runs `iace user create`: it creates a user of the control API
// (and its organization, the first time), in the store serve uses.
func userCommand(ctx context.Context, c cmdContext, args []string) error {
	var f userFlags
	fs := silentFlagSet("user")
	f.bind(fs)
	positional, serveArgs, err := parseArgs(lookup("user"), fs, args, c.getenv)
	if err != nil {
		return err
	}
	if len(positional) != 1 || positional[0] != "create" {
		return usageErrorf("user", "want create%s", given(positional))
	}
	if f.org == "" || f.email == "" {
		return usageErrorf("user", "--org and --email are required")
	}
	cfg, err := serveConfig(serveArgs, c.getenv)
	if err != nil {
		return err
	}
	password := c.getenv(envUserPassword)
	if password == "" {
		fmt.Fprintf(c.stderr, "password for %s (or set %s): ", f.email, envUserPassword)
		line, err := bufio.NewReader(io.LimitReader(c.stdin, 2048)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		password = strings.TrimRight(line, "\r\n")
	}
	if err := auth.ValidatePassword(password); err != nil {
		return err
	}

	st, log, err := openCommandStores(ctx, cfg, c.stderr)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	if _, err := st.backend.GetOrg(ctx, store.OrgID(f.org)); errors.Is(err, store.ErrNotFound) {
		name := f.orgName
		if name == "" {
			name = f.org
		}
		if _, err := st.backend.CreateOrg(ctx, store.Organization{ID: store.OrgID(f.org), Name: name}); err != nil {
			return fmt.Errorf("create organization: %w", err)
		}
		fmt.Fprintf(c.stdout, "created organization %s\n", f.org)
	} else if err != nil {
		return err
	}
	svc, err := auth.NewService(auth.Config{SigningKey: auth.GenerateKey()}, st.backend, auth.Throttles{}, prometheus.NewRegistry(), log)
	if err != nil {
		return err
	}
	u, err := svc.CreateUser(ctx, store.OrgID(f.org), f.email, password, store.Role(f.role))
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	fmt.Fprintf(c.stdout, "created %s user %s (%s) in organization %s\n", u.Role, u.Email, u.ID, u.OrgID)
	return nil
}
