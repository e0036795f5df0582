package embedded

import (
	"context"
	"fmt"
	"strings"

	"github.com/iace/iace/store"
)

// AllotNumber gives a number to an organization, so that it may route it
// (an operator's act). Allotting it again to the same organization does
// nothing; a number allotted to another is ErrConflict.
func (s *Store) AllotNumber(ctx context.Context, org store.OrgID, e164 store.PhoneNumber) error {
	const op = "allot number"
	switch {
	case org == "":
		return invalid(op, "org id is empty")
	case strings.TrimSpace(string(e164)) == "":
		return invalid(op, "number is empty")
	}
	res, err := s.w.ExecContext(ctx, `
		INSERT INTO number_allotments (e164, org_id) VALUES (?, ?)
		ON CONFLICT (e164) DO UPDATE SET org_id = excluded.org_id
		WHERE number_allotments.org_id = excluded.org_id`,
		e164, org)
	if err != nil {
		return mapErr(op, err)
	}
	if affected, err := res.RowsAffected(); err != nil {
		return mapErr(op, err)
	} else if affected == 0 {
		return fmt.Errorf("embedded: %s: %w: the number is allotted to another organization", op, store.ErrConflict)
	}
	return nil
}

// ReleaseNumber takes a number back from the organization it was allotted
// to, and its route with it.
func (s *Store) ReleaseNumber(ctx context.Context, org store.OrgID, e164 store.PhoneNumber) error {
	const op = "release number"
	res, err := s.w.ExecContext(ctx, `DELETE FROM number_allotments WHERE org_id = ? AND e164 = ?`, org, e164)
	if err != nil {
		return mapErr(op, err)
	}
	return affectedOne(op, res)
}
