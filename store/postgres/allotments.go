package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/iace/iace/store"
)

// AllotNumber gives a number to an organization, so that it may route it
// (an operator's act). Allotting it again to the same organization does
// nothing; a number allotted to another is store.ErrConflict.
func (s *Store) AllotNumber(ctx context.Context, org store.OrgID, e164 store.PhoneNumber) error {
	const op = "allot number"
	switch {
	case org == "":
		return invalid(op, "org id is empty")
	case strings.TrimSpace(string(e164)) == "":
		return invalid(op, "number is empty")
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO number_allotments (e164, org_id) VALUES ($1, $2)
		ON CONFLICT (e164) DO UPDATE SET org_id = EXCLUDED.org_id WHERE number_allotments.org_id = EXCLUDED.org_id`,
		e164, org)
	if err != nil {
		return wrap(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s: %w: the number is allotted to another organization", op, store.ErrConflict)
	}
	return nil
}

// ReleaseNumber takes a number back from the organization it was allotted
// to, and its route with it.
func (s *Store) ReleaseNumber(ctx context.Context, org store.OrgID, e164 store.PhoneNumber) error {
	const op = "release number"
	tag, err := s.pool.Exec(ctx, `DELETE FROM number_allotments WHERE org_id = $1 AND e164 = $2`, org, e164)
	if err != nil {
		return wrap(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound(op)
	}
	return nil
}
