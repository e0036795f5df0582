package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/iace/iace/store"
)

const customerCols = `id, org_id, phone, name, email, attributes, memory_summary, call_count, last_call_at, created_at, updated_at,
	verifiers`

func customerColsOf(alias string) string {
	cols := strings.Split(customerCols, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// customerRow scans a customer's columns, which a LEFT JOIN may leave NULL.
type customerRow struct {
	id, org, phone, name, email, memory *string
	attributes, verifiers               []byte
	count                               *int
	last, created, updated              *time.Time
}

func (r *customerRow) dest() []any {
	return []any{&r.id, &r.org, &r.phone, &r.name, &r.email, &r.attributes, &r.memory, &r.count, &r.last, &r.created, &r.updated,
		&r.verifiers}
}

// customer returns nil when the row was NULL (no customer joined).
func (r *customerRow) customer() (*store.Customer, error) {
	if r.id == nil {
		return nil, nil
	}
	c := &store.Customer{
		ID: store.CustomerID(*r.id), OrgID: store.OrgID(*r.org), Phone: store.PhoneNumber(*r.phone), Name: *r.name,
		Email: *r.email, MemorySummary: *r.memory, CallCount: *r.count, LastCallAt: r.last,
		CreatedAt: *r.created, UpdatedAt: *r.updated,
	}
	if err := jsonScan(r.attributes, &c.Attributes); err != nil {
		return nil, err
	}
	if err := jsonScan(r.verifiers, &c.Verifiers); err != nil {
		return nil, err
	}
	if len(c.Verifiers) == 0 {
		c.Verifiers = nil
	}
	return c, nil
}

func scanCustomer(r scanner) (store.Customer, error) {
	var row customerRow
	if err := r.Scan(row.dest()...); err != nil {
		return store.Customer{}, err
	}
	c, err := row.customer()
	if err != nil {
		return store.Customer{}, err
	}
	return *c, nil
}

func checkCustomer(op string, c *store.Customer) error { return checked(op, c.Check()) }

// customerJSON is a customer's JSON columns: its attributes, and its
// verifiers ('{}' for none: the column is NOT NULL).
func customerJSON(c *store.Customer) (attrs, verifiers []byte, err error) {
	if attrs, err = jsonValue(c.Attributes); err != nil {
		return nil, nil, err
	}
	if len(c.Verifiers) == 0 {
		return attrs, []byte("{}"), nil
	}
	verifiers, err = jsonValue(c.Verifiers)
	return attrs, verifiers, err
}

// CreateCustomer creates a customer; the phone is unique in the organization.
func (s *Store) CreateCustomer(ctx context.Context, c store.Customer) (store.Customer, error) {
	const op = "create customer"
	if err := checkCustomer(op, &c); err != nil {
		return store.Customer{}, err
	}
	if c.ID == "" {
		c.ID = store.CustomerID(newID())
	}
	c.CreatedAt = orNow(c.CreatedAt)
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	attrs, verifiers, err := customerJSON(&c)
	if err != nil {
		return store.Customer{}, wrap(ctx, op, err)
	}
	got, err := scanCustomer(s.pool.QueryRow(ctx, `INSERT INTO customers (`+customerCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING `+customerCols,
		c.ID, c.OrgID, c.Phone, c.Name, c.Email, attrs, c.MemorySummary, c.CallCount, normPtr(c.LastCallAt),
		c.CreatedAt, norm(c.UpdatedAt), verifiers))
	if err != nil {
		return store.Customer{}, wrap(ctx, op, err)
	}
	return got, nil
}

// GetCustomer returns a customer of the organization.
func (s *Store) GetCustomer(ctx context.Context, org store.OrgID, id store.CustomerID) (store.Customer, error) {
	c, err := scanCustomer(s.pool.QueryRow(ctx, `SELECT `+customerCols+` FROM customers WHERE org_id = $1 AND id = $2`, org, id))
	if err != nil {
		return store.Customer{}, wrap(ctx, "get customer", err)
	}
	return c, nil
}

// CustomerByPhone finds the organization's customer with a phone number.
func (s *Store) CustomerByPhone(ctx context.Context, org store.OrgID, phone store.PhoneNumber) (store.Customer, error) {
	c, err := scanCustomer(s.pool.QueryRow(ctx, `SELECT `+customerCols+` FROM customers WHERE org_id = $1 AND phone = $2`, org, phone))
	if err != nil {
		return store.Customer{}, wrap(ctx, "customer by phone", err)
	}
	return c, nil
}

// UpdateCustomer writes a customer's phone, name, email, attributes,
// memory summary and verifiers; UpdatedAt becomes now. The call statistics (CallCount,
// LastCallAt) are FinishCall's and are left as they are.
func (s *Store) UpdateCustomer(ctx context.Context, c store.Customer) (store.Customer, error) {
	const op = "update customer"
	if err := checkCustomer(op, &c); err != nil {
		return store.Customer{}, err
	}
	attrs, verifiers, err := customerJSON(&c)
	if err != nil {
		return store.Customer{}, wrap(ctx, op, err)
	}
	got, err := scanCustomer(s.pool.QueryRow(ctx, `UPDATE customers SET phone = $3, name = $4, email = $5, attributes = $6,
		memory_summary = $7, updated_at = $8, verifiers = $9 WHERE org_id = $1 AND id = $2 RETURNING `+customerCols,
		c.OrgID, c.ID, c.Phone, c.Name, c.Email, attrs, c.MemorySummary, now(), verifiers))
	if err != nil {
		return store.Customer{}, wrap(ctx, op, err)
	}
	return got, nil
}

// likeEscaper quotes LIKE's wildcards (backslash is LIKE's default escape).
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// SearchCustomers finds the organization's customers whose name, phone or
// email contains query, case-insensitively (an empty query lists them all),
// by name then id. The trigram indexes serve the substring match.
func (s *Store) SearchCustomers(ctx context.Context, org store.OrgID, query string, p store.Page) ([]store.Customer, string, error) {
	const op = "search customers"
	limit := pageLimit(p)
	args := []any{org, limit + 1}
	where := `org_id = $1`
	if q := strings.TrimSpace(query); q != "" {
		args = append(args, "%"+likeEscaper.Replace(q)+"%")
		where += ` AND (lower(name) LIKE lower($3) OR lower(phone) LIKE lower($3) OR lower(email) LIKE lower($3))`
	}
	if p.Cursor != "" {
		var name, id string
		if err := decodeCursor(op, p.Cursor, &name, &id); err != nil {
			return nil, "", err
		}
		n := len(args)
		args = append(args, name, id)
		where += ` AND (name COLLATE "C", id) > ($` + itoa(n+1) + ` COLLATE "C", $` + itoa(n+2) + `)`
	}
	rows, err := s.pool.Query(ctx, `SELECT `+customerCols+` FROM customers WHERE `+where+`
		ORDER BY name COLLATE "C", id LIMIT $2`, args...)
	out, err := collect(ctx, op, rows, err, scanCustomer)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		next = encodeCursor(last.Name, string(last.ID))
	}
	return out, next, nil
}
