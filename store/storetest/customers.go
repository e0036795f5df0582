package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/iace/iace/store"
)

func testCustomers(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	pin := must(store.HashVerifier("4321")).of(t)
	before := time.Now()
	c := must(s.CreateCustomer(ctx, store.Customer{
		OrgID: a.org.ID, Phone: "+15551230001", Name: "Grace Hopper", Email: "grace@example.com",
		Attributes: map[string]string{"plan": "gold", "city": "Arlington"}, MemorySummary: "Asked about invoices.",
		Verifiers: map[string]string{"pin": pin},
	})).of(t)
	after := time.Now()
	if c.ID == "" {
		t.Fatal("CreateCustomer left the id empty")
	}
	between(t, "CreatedAt", c.CreatedAt, before, after)
	between(t, "UpdatedAt", c.UpdatedAt, before, after)
	if c.CallCount != 0 || c.LastCallAt != nil {
		t.Errorf("a new customer has %d calls, last %v", c.CallCount, c.LastCallAt)
	}
	same(t, "GetCustomer", must(s.GetCustomer(ctx, a.org.ID, c.ID)).of(t), c)
	same(t, "CustomerByPhone", must(s.CustomerByPhone(ctx, a.org.ID, "+15551230001")).of(t), c)
	_, err := s.CustomerByPhone(ctx, b.org.ID, "+15551230001")
	wantErr(t, "CustomerByPhone in another organization", err, store.ErrNotFound)

	_, err = s.CreateCustomer(ctx, store.Customer{OrgID: a.org.ID, Phone: "+15551230001", Name: "Twin"})
	wantErr(t, "a phone taken in the organization", err, store.ErrConflict)
	_, err = s.CreateCustomer(ctx, store.Customer{OrgID: a.org.ID, Phone: "+15551230009", Verifiers: map[string]string{"pin": "4321"}})
	wantErr(t, "a PIN in clear", err, store.ErrInvalid)
	other := must(s.CreateCustomer(ctx, store.Customer{OrgID: b.org.ID, Phone: "+15551230001", Name: "Namesake"})).of(t)
	same(t, "the same phone in another organization", must(s.CustomerByPhone(ctx, b.org.ID, "+15551230001")).of(t), other)

	// Give the customer a call, so there are statistics to keep.
	call := a.call(t, store.Call{CustomerID: c.ID, StartedAt: base})
	must(s.FinishCall(ctx, store.CallEnd{OrgID: a.org.ID, CallID: call.ID, EndedAt: at(time.Minute), Outcome: store.OutcomeResolved})).of(t)
	c = must(s.GetCustomer(ctx, a.org.ID, c.ID)).of(t)

	upd := c
	upd.Name, upd.Email, upd.MemorySummary = "Grace B. Hopper", "ghopper@example.com", "Prefers email."
	upd.Attributes = map[string]string{"plan": "platinum"}
	upd.Verifiers = map[string]string{"pin": pin, "date_of_birth": must(store.HashVerifier("1906-12-09")).of(t)}
	upd.Phone = "+15551230002"
	upd.CallCount, upd.LastCallAt = 99, nil // statistics are FinishCall's: UpdateCustomer keeps them
	before = time.Now()
	got := must(s.UpdateCustomer(ctx, upd)).of(t)
	after = time.Now()
	between(t, "UpdatedAt after UpdateCustomer", got.UpdatedAt, before, after)
	want := upd
	want.CallCount, want.LastCallAt, want.UpdatedAt = 1, ptr(at(time.Minute)), got.UpdatedAt
	same(t, "UpdateCustomer", got, want)
	same(t, "GetCustomer after UpdateCustomer", must(s.GetCustomer(ctx, a.org.ID, c.ID)).of(t), want)
	_, err = s.CustomerByPhone(ctx, a.org.ID, "+15551230001")
	wantErr(t, "CustomerByPhone of the old phone", err, store.ErrNotFound)

	second := a.customer(t, "+15551230003", "Second")
	second.Phone = "+15551230002"
	_, err = s.UpdateCustomer(ctx, second)
	wantErr(t, "UpdateCustomer to a taken phone", err, store.ErrConflict)
}

func testSearchCustomers(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	add := func(f fixture, id, phone, name, email string) store.Customer {
		return must(s.CreateCustomer(ctx, store.Customer{ID: store.CustomerID(id), OrgID: f.org.ID, Phone: store.PhoneNumber(phone), Name: name, Email: email})).of(t)
	}
	alice := add(a, "c1", "+15550100001", "Alice Martin", "alice@example.com")
	alicia := add(a, "c2", "+15550100002", "alicia keys", "keys@music.example")
	bob := add(a, "c3", "+15550200003", "Bob", "bob@builder.example")
	bob2 := add(a, "c0", "+15550200004", "Bob", "robert@example.com") // same name: by id
	pct := add(a, "c4", "+15550300005", "100% Sure", "")
	under := add(a, "c5", "+15550300006", "snake_case", "")
	add(b, "c6", "+15550100001", "Alice Other", "alice@other.example")

	search := func(q string) []store.Customer {
		t.Helper()
		got, next, err := s.SearchCustomers(ctx, a.org.ID, q, store.Page{})
		if err != nil {
			t.Fatalf("search %q: %v", q, err)
		}
		if next != "" {
			t.Errorf("search %q: a next cursor on the only page", q)
		}
		return got
	}
	// Names sort byte-wise, then by id: "100% Sure" < "Alice Martin" < "Bob"(c0) < "Bob"(c3) < "alicia keys" < "snake_case".
	same(t, "an empty query lists all, by name then id", search(""), []store.Customer{pct, alice, bob2, bob, alicia, under})
	same(t, "a name, in any case", search("ALI"), []store.Customer{alice, alicia})
	same(t, "the middle of a name", search("artin"), []store.Customer{alice})
	same(t, "a phone", search("555020"), []store.Customer{bob2, bob})
	same(t, "an email", search("Example.COM"), []store.Customer{alice, bob2})
	same(t, "% is a character, not a wildcard", search("0%"), []store.Customer{pct})
	same(t, "_ is a character, not a wildcard", search("e_c"), []store.Customer{under})
	same(t, "no match", len(search("zebra")), 0)

	all, pages := pageAll(t, 4, func(p store.Page) ([]store.Customer, string, error) {
		return s.SearchCustomers(ctx, a.org.ID, "", p)
	})
	same(t, "pages of 4", all, []store.Customer{pct, alice, bob2, bob, alicia, under})
	same(t, "page count", pages, 2)
	for i := range 30 {
		add(a, fmt.Sprintf("m%02d", i), fmt.Sprintf("+1555040%04d", i), fmt.Sprintf("Many %02d", 29-i), "")
	}
	many, _ := pageAll(t, 7, func(p store.Page) ([]store.Customer, string, error) {
		return s.SearchCustomers(ctx, a.org.ID, "many", p)
	})
	if len(many) != 30 {
		t.Fatalf("paging 30 matches by 7: %d", len(many))
	}
	for i, c := range many {
		if want := fmt.Sprintf("Many %02d", i); c.Name != want {
			t.Errorf("match %d: %q, want %q", i, c.Name, want)
		}
	}
}
