package embedded

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"

	"github.com/iace/iace/store"
)

const customerCols = `id, org_id, phone, name, email, attributes, memory_summary,
	call_count, last_call_at, created_at, updated_at, verifiers`

// nullableCustomerCols reads the customer of a LEFT JOIN, which may be absent.
func nullableCustomerCols(alias string) string {
	return orZero(customerCols, alias, []string{"call_count", "created_at", "updated_at"}, []string{"last_call_at"})
}

// customerRow receives a customers row.
type customerRow struct {
	c                store.Customer
	attrs, verifiers string
	last             sql.NullInt64
	created, updated int64
}

func (r *customerRow) dest() []any {
	c := &r.c
	return []any{&c.ID, &c.OrgID, &c.Phone, &c.Name, &c.Email, &r.attrs, &c.MemorySummary,
		&c.CallCount, &r.last, &r.created, &r.updated, &r.verifiers}
}

func (r *customerRow) customer() (store.Customer, error) {
	c := r.c
	if err := json.Unmarshal([]byte(r.attrs), &c.Attributes); err != nil {
		return store.Customer{}, err
	}
	if r.verifiers != "" { // '' when a LEFT JOIN found no customer
		if err := json.Unmarshal([]byte(r.verifiers), &c.Verifiers); err != nil {
			return store.Customer{}, err
		}
		if len(c.Verifiers) == 0 {
			c.Verifiers = nil
		}
	}
	c.LastCallAt = timePtr(r.last)
	c.CreatedAt = fromMicros(r.created)
	c.UpdatedAt = fromMicros(r.updated)
	return c, nil
}

func scanCustomer(sc scanner) (store.Customer, error) {
	var r customerRow
	if err := sc.Scan(r.dest()...); err != nil {
		return store.Customer{}, err
	}
	return r.customer()
}

// searchSep separates the fields of the search column, so a query cannot
// match across two of them.
const searchSep = "\x1f"

// searchText is what SearchCustomers matches: the name, phone and email,
// folded in Go because SQLite's lower() folds ASCII only.
func searchText(c *store.Customer) string {
	return strings.ToLower(c.Name + searchSep + string(c.Phone) + searchSep + c.Email)
}

func checkCustomer(op string, c *store.Customer) (attrs, verifiers string, err error) {
	if err := c.Check(); err != nil {
		return "", "", checked(op, err)
	}
	b, err := json.Marshal(c.Attributes)
	if err != nil {
		return "", "", invalid(op, "attributes: %v", err)
	}
	v := []byte("{}")
	if len(c.Verifiers) > 0 {
		if v, err = json.Marshal(c.Verifiers); err != nil {
			return "", "", invalid(op, "verifiers: %v", err)
		}
	}
	return string(b), string(v), nil
}

// CreateCustomer adds a customer; the phone is unique within the org.
func (s *Store) CreateCustomer(ctx context.Context, c store.Customer) (store.Customer, error) {
	const op = "create customer"
	attrs, verifiers, err := checkCustomer(op, &c)
	if err != nil {
		return store.Customer{}, err
	}
	if c.ID == "" {
		c.ID = store.CustomerID(newID())
	}
	now := s.nowUTC()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	c.CreatedAt, c.UpdatedAt = norm(c.CreatedAt), norm(c.UpdatedAt)
	c.LastCallAt = normPtr(c.LastCallAt)
	_, err = s.w.ExecContext(ctx, `INSERT INTO customers (`+customerCols+`, search)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.OrgID, c.Phone, c.Name, c.Email, attrs, c.MemorySummary,
		c.CallCount, nullMicros(c.LastCallAt), micros(c.CreatedAt), micros(c.UpdatedAt), verifiers, searchText(&c))
	if err != nil {
		return store.Customer{}, mapErr(op, err)
	}
	return c, nil
}

// GetCustomer reads a customer of the organization.
func (s *Store) GetCustomer(ctx context.Context, org store.OrgID, id store.CustomerID) (store.Customer, error) {
	c, err := scanCustomer(s.r.QueryRowContext(ctx,
		`SELECT `+customerCols+` FROM customers WHERE org_id = ? AND id = ?`, org, id))
	if err != nil {
		return store.Customer{}, mapErr("get customer", err)
	}
	return c, nil
}

// CustomerByPhone finds the organization's customer with that number.
func (s *Store) CustomerByPhone(ctx context.Context, org store.OrgID, phone store.PhoneNumber) (store.Customer, error) {
	c, err := scanCustomer(s.queryRow(ctx,
		`SELECT `+customerCols+` FROM customers WHERE org_id = ? AND phone = ?`,
		org, strings.TrimSpace(string(phone))))
	if err != nil {
		return store.Customer{}, mapErr("customer by phone", err)
	}
	return c, nil
}

// UpdateCustomer changes a customer's phone, name, email, attributes,
// memory summary and verifiers; UpdatedAt becomes now. The call statistics (CallCount,
// LastCallAt) are FinishCall's to keep and are not written here, so an
// update made from a stale read cannot undo a call's count.
func (s *Store) UpdateCustomer(ctx context.Context, c store.Customer) (store.Customer, error) {
	const op = "update customer"
	attrs, verifiers, err := checkCustomer(op, &c)
	if err != nil {
		return store.Customer{}, err
	}
	out, err := scanCustomer(s.w.QueryRowContext(ctx, `
		UPDATE customers SET phone = ?, name = ?, email = ?, attributes = ?, memory_summary = ?,
			verifiers = ?, updated_at = ?, search = ?
		WHERE org_id = ? AND id = ?
		RETURNING `+customerCols,
		c.Phone, c.Name, c.Email, attrs, c.MemorySummary, verifiers, micros(s.nowUTC()), searchText(&c),
		c.OrgID, c.ID))
	if err != nil {
		return store.Customer{}, mapErr(op, err)
	}
	return out, nil
}

// SearchCustomers lists the organization's customers whose name, phone or
// email contains query, case-insensitively, by name then id. An empty query
// lists them all.
func (s *Store) SearchCustomers(ctx context.Context, org store.OrgID, query string, p store.Page) ([]store.Customer, string, error) {
	const op = "search customers"
	cur, after, err := decodeCursor(op, listCustomers, p.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := pageLimit(p)
	q := strings.ToLower(strings.TrimSpace(strings.ReplaceAll(query, searchSep, "")))

	var (
		sb   strings.Builder
		args = []any{org}
	)
	sb.WriteString(`SELECT ` + customerCols + ` FROM customers WHERE org_id = ?`)
	if q != "" {
		sb.WriteString(` AND instr(search, ?) > 0`)
		args = append(args, q)
	}
	if after {
		sb.WriteString(` AND (name > ? OR (name = ? AND id > ?))`)
		args = append(args, cur.Text, cur.Text, cur.ID)
	}
	sb.WriteString(` ORDER BY name, id LIMIT ?`)
	args = append(args, limit+1)

	rows, err := s.query(ctx, sb.String(), args...)
	customers, err := collect(op, rows, err, scanCustomer)
	if err != nil {
		return nil, "", err
	}
	if len(customers) <= limit {
		return customers, "", nil
	}
	customers = customers[:limit]
	last := customers[limit-1]
	return customers, cursor{List: listCustomers, Text: last.Name, ID: string(last.ID)}.encode(), nil
}
