package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/argon2"

	"github.com/iace/iace/loadtest/storebench/dataset"
	"github.com/iace/iace/store"
	"github.com/iace/iace/store/postgres"
)

// seedConfig is what -seed writes.
type seedConfig struct {
	databaseURL string
	schema      string
	prefix      string // of every id, and the organization's id
	email       string
	password    string
	calls       int
	turns       int
	patterns    int
	workers     int
}

// hashFunc turns a password into the PHC string a user row keeps.
type hashFunc func(password string) (string, error)

// hashArgon2id hashes as control/auth does by default: argon2id, OWASP's
// small-server cost (19 MiB, two passes, one lane), a 16-byte random salt
// and a 32-byte key, in the PHC string format. Any hashFunc whose output
// the server verifies can replace it.
func hashArgon2id(password string) (string, error) {
	const (
		memoryKiB = 19 * 1024
		passes    = 2
		lanes     = 1
	)
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, passes, memoryKiB, lanes, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memoryKiB, passes, lanes,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// userCreator is the store method seedAdmin uses.
type userCreator interface {
	CreateUser(ctx context.Context, u store.User) (store.User, error)
}

// seedAdmin creates the organization's admin who logs in during the load.
func seedAdmin(ctx context.Context, users userCreator, org store.OrgID, email, password string, hash hashFunc) (store.User, error) {
	if email == "" || password == "" {
		return store.User{}, errors.New("seed: an email and a password are needed for the admin user")
	}
	h, err := hash(password)
	if err != nil {
		return store.User{}, fmt.Errorf("seed: hash the password: %w", err)
	}
	u, err := users.CreateUser(ctx, store.User{OrgID: org, Email: email, PasswordHash: h, Role: store.RoleAdmin})
	if errors.Is(err, store.ErrConflict) {
		return u, fmt.Errorf("seed: the user %s already exists (seeded before? use another -email): %w", email, err)
	}
	return u, err
}

// newDataset is the data set -seed writes: its calls end within the last
// 30 days, so that the analytics the load asks for (the last day by hour,
// the last 30 days by day) find them.
func newDataset(c seedConfig, now time.Time) *dataset.Gen {
	g := dataset.New(1, c.calls, c.turns, c.patterns)
	g.Org, g.Prefix = store.OrgID(c.prefix+"org"), c.prefix
	g.Span = 30 * 24 * time.Hour
	g.Start = now.UTC().Truncate(time.Hour).Add(-g.Span)
	return g
}

// seed writes an organization, its admin user, agents, customers, calls
// with transcripts and patterns into the PostgreSQL at c.databaseURL
// (migrating it first), through the store API.
func seed(ctx context.Context, c seedConfig, hash hashFunc, logf func(string, ...any)) error {
	if c.databaseURL == "" {
		return errors.New("seed: DATABASE_URL (or -database-url) is not set")
	}
	s, err := postgres.Open(ctx, postgres.Config{URL: c.databaseURL, Schema: c.schema, Migrate: true, MaxConns: int32(min(max(c.workers, 1)+1, 1<<16))})
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	defer func() { _ = s.Close() }()
	g := newDataset(c, time.Now())
	t0 := time.Now()
	steps, err := dataset.Seed(ctx, s, g, "API load "+c.prefix, c.workers, logf)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if _, err := seedAdmin(ctx, s, g.Org, c.email, c.password, hash); err != nil {
		return err
	}
	if err := analyze(ctx, c); err != nil {
		return fmt.Errorf("seed: analyze: %w", err)
	}
	for _, st := range steps {
		logf("%s: %v", st.Name, st.Took.Round(time.Millisecond))
	}
	logf("seeded organization %s (admin %s) in %v", g.Org, c.email, time.Since(t0).Round(time.Millisecond))
	return nil
}

// analyze refreshes the planner's statistics after the bulk load, as
// autovacuum would a minute later: without them the first analytics
// queries plan for empty tables.
func analyze(ctx context.Context, c seedConfig) error {
	cc, err := pgx.ParseConfig(c.databaseURL)
	if err != nil {
		return err
	}
	if c.schema != "" {
		cc.RuntimeParams["search_path"] = pgx.Identifier{c.schema}.Sanitize() + ", public"
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(ctx) }()
	for _, table := range []string{"agents", "customers", "calls", "turns", "patterns", "users"} {
		if _, err := conn.Exec(ctx, "ANALYZE "+pgx.Identifier{table}.Sanitize()); err != nil {
			return err
		}
	}
	return nil
}
