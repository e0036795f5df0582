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

// userCommand runs `iace user create`: it creates a user of the control API
// (and its organization, the first time), in the store serve uses.
func userCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: iace user create --org ID --email EMAIL [--role admin|supervisor|viewer] [--org-name NAME] [serve settings]")
	}
	fs := flag.NewFlagSet("iace user create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	org := fs.String("org", "", "organization id (created if it does not exist)")
	orgName := fs.String("org-name", "", "name of a new organization (default: its id)")
	email := fs.String("email", "", "the user's email, their login")
	role := fs.String("role", string(store.RoleAdmin), "admin, supervisor or viewer")
	var rest []string
	// The user flags come first; what follows are serve's settings (the store).
	for i := 1; i < len(args); i++ {
		name := strings.TrimLeft(strings.SplitN(args[i], "=", 2)[0], "-")
		if fs.Lookup(name) == nil {
			rest = append(rest, args[i:]...)
			args = args[:i]
			break
		}
		if !strings.Contains(args[i], "=") {
			i++ // its value
		}
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *org == "" || *email == "" {
		return errors.New("user create: --org and --email are required")
	}
	cfg, err := loadConfig(rest, getenv, stderr)
	if err != nil {
		return err
	}
	password := getenv(envUserPassword)
	if password == "" {
		fmt.Fprintf(stderr, "password for %s (or set %s): ", *email, envUserPassword)
		line, err := bufio.NewReader(io.LimitReader(stdin, 2048)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		password = strings.TrimRight(line, "\r\n")
	}
	if err := auth.ValidatePassword(password); err != nil {
		return err
	}

	st, log, err := openCommandStores(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	if _, err := st.backend.GetOrg(ctx, store.OrgID(*org)); errors.Is(err, store.ErrNotFound) {
		name := *orgName
		if name == "" {
			name = *org
		}
		if _, err := st.backend.CreateOrg(ctx, store.Organization{ID: store.OrgID(*org), Name: name}); err != nil {
			return fmt.Errorf("create organization: %w", err)
		}
		fmt.Fprintf(stdout, "created organization %s\n", *org)
	} else if err != nil {
		return err
	}
	svc, err := auth.NewService(auth.Config{SigningKey: auth.GenerateKey()}, st.backend, auth.Throttles{}, prometheus.NewRegistry(), log)
	if err != nil {
		return err
	}
	u, err := svc.CreateUser(ctx, store.OrgID(*org), *email, password, store.Role(*role))
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	fmt.Fprintf(stdout, "created %s user %s (%s) in organization %s\n", u.Role, u.Email, u.ID, u.OrgID)
	return nil
}
