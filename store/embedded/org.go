package embedded

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/iace/iace/store"
)

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// CreateOrg adds an organization.
func (s *Store) CreateOrg(ctx context.Context, o store.Organization) (store.Organization, error) {
	const op = "create org"
	if strings.TrimSpace(o.Name) == "" {
		return store.Organization{}, invalid(op, "name is empty")
	}
	if err := o.TransferPolicy.Check(); err != nil {
		return store.Organization{}, checked(op, err)
	}
	allow, err := allowJSON(o.TransferPolicy)
	if err != nil {
		return store.Organization{}, fmt.Errorf("embedded: %s: %w", op, err)
	}
	if o.ID == "" {
		o.ID = store.OrgID(newID())
	}
	if o.CreatedAt.IsZero() {
		o.CreatedAt = s.now()
	}
	o.CreatedAt = norm(o.CreatedAt)
	_, err = s.w.ExecContext(ctx, `INSERT INTO orgs (id, name, created_at, transfer_allow) VALUES (?, ?, ?, ?)`,
		o.ID, o.Name, micros(o.CreatedAt), allow)
	if err != nil {
		return store.Organization{}, mapErr(op, err)
	}
	return o, nil
}

const orgCols = `id, name, created_at, transfer_allow`

func scanOrg(sc scanner) (store.Organization, error) {
	var (
		o       store.Organization
		created int64
		allow   string
	)
	if err := sc.Scan(&o.ID, &o.Name, &created, &allow); err != nil {
		return store.Organization{}, err
	}
	o.CreatedAt = fromMicros(created)
	if err := json.Unmarshal([]byte(allow), &o.TransferPolicy.Allow); err != nil {
		return store.Organization{}, fmt.Errorf("transfer allow-list: %w", err)
	}
	if len(o.TransferPolicy.Allow) == 0 {
		o.TransferPolicy.Allow = nil
	}
	return o, nil
}

// allowJSON is a policy's allow-list as the column keeps it, a JSON array.
func allowJSON(p store.TransferPolicy) (string, error) {
	if len(p.Allow) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(p.Allow)
	return string(b), err
}

// GetOrg reads an organization.
func (s *Store) GetOrg(ctx context.Context, id store.OrgID) (store.Organization, error) {
	o, err := scanOrg(s.r.QueryRowContext(ctx, `SELECT `+orgCols+` FROM orgs WHERE id = ?`, id))
	if err != nil {
		return store.Organization{}, mapErr("get org", err)
	}
	return o, nil
}

// SetTransferPolicy replaces the organization's transfer policy.
func (s *Store) SetTransferPolicy(ctx context.Context, org store.OrgID, p store.TransferPolicy) (store.Organization, error) {
	const op = "set transfer policy"
	if err := p.Check(); err != nil {
		return store.Organization{}, checked(op, err)
	}
	allow, err := allowJSON(p)
	if err != nil {
		return store.Organization{}, fmt.Errorf("embedded: %s: %w", op, err)
	}
	o, err := scanOrg(s.w.QueryRowContext(ctx, `UPDATE orgs SET transfer_allow = ? WHERE id = ? RETURNING `+orgCols, allow, org))
	if err != nil {
		return store.Organization{}, mapErr(op, err)
	}
	return o, nil
}

const userCols = `id, org_id, email, password_hash, role, created_at, disabled_at`

func scanUser(sc scanner) (store.User, error) {
	var (
		u        store.User
		created  int64
		disabled sql.NullInt64
	)
	if err := sc.Scan(&u.ID, &u.OrgID, &u.Email, &u.PasswordHash, &u.Role, &created, &disabled); err != nil {
		return store.User{}, err
	}
	u.CreatedAt = fromMicros(created)
	u.DisabledAt = timePtr(disabled)
	return u, nil
}

// checkUser normalizes a user for writing and reports what is missing.
func checkUser(op string, u *store.User) error {
	if err := u.Check(); err != nil {
		return checked(op, err)
	}
	u.DisabledAt = normPtr(u.DisabledAt)
	return nil
}

// CreateUser adds a user; the email is stored lower-case and is unique
// across IACE.
func (s *Store) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	const op = "create user"
	if err := checkUser(op, &u); err != nil {
		return store.User{}, err
	}
	if u.ID == "" {
		u.ID = store.UserID(newID())
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = s.now()
	}
	u.CreatedAt = norm(u.CreatedAt)
	_, err := s.w.ExecContext(ctx, `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.OrgID, u.Email, u.PasswordHash, u.Role, micros(u.CreatedAt), nullMicros(u.DisabledAt))
	if err != nil {
		return store.User{}, mapErr(op, err)
	}
	return u, nil
}

// GetUser reads a user of the organization.
func (s *Store) GetUser(ctx context.Context, org store.OrgID, id store.UserID) (store.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx,
		`SELECT `+userCols+` FROM users WHERE org_id = ? AND id = ?`, org, id))
	if err != nil {
		return store.User{}, mapErr("get user", err)
	}
	return u, nil
}

// UserByEmail finds a user in any organization by email (login).
func (s *Store) UserByEmail(ctx context.Context, email string) (store.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx,
		`SELECT `+userCols+` FROM users WHERE email = ?`, strings.ToLower(strings.TrimSpace(email))))
	if err != nil {
		return store.User{}, mapErr("user by email", err)
	}
	return u, nil
}

// ListUsers lists the organization's users by email.
func (s *Store) ListUsers(ctx context.Context, org store.OrgID) ([]store.User, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+userCols+` FROM users WHERE org_id = ? ORDER BY email, id`, org)
	return collect("list users", rows, err, scanUser)
}

// UpdateUser changes a user's email, password hash, role and disabled time.
func (s *Store) UpdateUser(ctx context.Context, u store.User) (store.User, error) {
	const op = "update user"
	if err := checkUser(op, &u); err != nil {
		return store.User{}, err
	}
	out, err := scanUser(s.w.QueryRowContext(ctx, `
		UPDATE users SET email = ?, password_hash = ?, role = ?, disabled_at = ?
		WHERE org_id = ? AND id = ?
		RETURNING `+userCols,
		u.Email, u.PasswordHash, u.Role, nullMicros(u.DisabledAt), u.OrgID, u.ID))
	if err != nil {
		return store.User{}, mapErr(op, err)
	}
	return out, nil
}
