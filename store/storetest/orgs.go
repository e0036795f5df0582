package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iace/iace/store"
)

func testOrgs(t *testing.T, s store.Store) {
	ctx := t.Context()
	before := time.Now()
	o := must(s.CreateOrg(ctx, store.Organization{Name: "Acme"})).of(t)
	after := time.Now()
	if o.ID == "" {
		t.Fatal("CreateOrg left the id empty")
	}
	between(t, "CreatedAt", o.CreatedAt, before, after)
	same(t, "GetOrg", must(s.GetOrg(ctx, o.ID)).of(t), o)

	p := must(s.CreateOrg(ctx, store.Organization{Name: "Other"})).of(t)
	if p.ID == o.ID {
		t.Error("two organizations got the same id")
	}
	given := must(s.CreateOrg(ctx, store.Organization{ID: "org-given", Name: "Given", CreatedAt: base})).of(t)
	same(t, "an org with its own id and time", must(s.GetOrg(ctx, "org-given")).of(t), given)
	_, err := s.CreateOrg(ctx, store.Organization{ID: "org-given", Name: "Again"})
	wantErr(t, "CreateOrg with a taken id", err, store.ErrConflict)
	_, err = s.GetOrg(ctx, "no-such-org")
	wantErr(t, "GetOrg of an unknown id", err, store.ErrNotFound)
}

func testTimes(t *testing.T, s store.Store) {
	ctx := t.Context()
	paris := time.FixedZone("CET", 3600)
	// 9:26:53.589793238 in Paris is 8:26:53.589793 UTC, the nanoseconds cut.
	local := time.Date(2025, 3, 14, 9, 26, 53, 589793238, paris)
	want := time.Date(2025, 3, 14, 8, 26, 53, 589793000, time.UTC)

	o := must(s.CreateOrg(ctx, store.Organization{Name: "Clock", CreatedAt: local})).of(t)
	same(t, "CreateOrg returns the time it keeps", o.CreatedAt, want)
	same(t, "GetOrg", must(s.GetOrg(ctx, o.ID)).of(t).CreatedAt, want)

	f := fixture{s: s, org: o}
	f.agent = must(s.CreateAgent(ctx, store.Agent{OrgID: o.ID, Name: "A"})).of(t)
	c := f.call(t, store.Call{StartedAt: local, AnsweredAt: ptr(local.Add(time.Second))})
	same(t, "call StartedAt", c.StartedAt, want)
	same(t, "call AnsweredAt", *c.AnsweredAt, want.Add(time.Second))
	d := must(s.GetCall(ctx, o.ID, c.ID)).of(t)
	same(t, "stored call", d.Call, c)
	ok(t, s.AppendTurns(ctx, o.ID, c.ID, []store.Turn{turn(1, store.SpeakerCaller, "hi", local)}))
	d = must(s.GetCall(ctx, o.ID, c.ID)).of(t)
	same(t, "turn StartedAt", d.Turns[0].StartedAt, want)
	same(t, "turn EndedAt", d.Turns[0].EndedAt, want.Add(1500*time.Millisecond))
}

func testInvalid(t *testing.T, s store.Store) {
	f := newFixture(t, s, "Rules")
	ctx, org := t.Context(), f.org.ID
	emb := unit(1, 0, 1)
	cases := []struct {
		name string
		err  func() error
	}{
		{"an org without a name", func() error { _, err := s.CreateOrg(ctx, store.Organization{}); return err }},
		{"a user without an org", func() error {
			_, err := s.CreateUser(ctx, store.User{Email: "a@example.com", Role: store.RoleAdmin})
			return err
		}},
		{"a user without an email", func() error {
			_, err := s.CreateUser(ctx, store.User{OrgID: org, Role: store.RoleAdmin})
			return err
		}},
		{"a user with an unknown role", func() error {
			_, err := s.CreateUser(ctx, store.User{OrgID: org, Email: "b@example.com", Role: "owner"})
			return err
		}},
		{"an agent without a name", func() error { _, err := s.CreateAgent(ctx, store.Agent{OrgID: org}); return err }},
		{"an agent without an org", func() error { _, err := s.CreateAgent(ctx, store.Agent{Name: "A"}); return err }},
		{"a number without digits", func() error { return s.AssignNumber(ctx, store.Number{OrgID: org, AgentID: f.agent.ID}) }},
		{"a number without an agent", func() error { return s.AssignNumber(ctx, store.Number{OrgID: org, E164: "+15550100"}) }},
		{"a customer without a phone", func() error {
			_, err := s.CreateCustomer(ctx, store.Customer{OrgID: org, Name: "C"})
			return err
		}},
		{"a customer without an org", func() error {
			_, err := s.CreateCustomer(ctx, store.Customer{Phone: "+15550101"})
			return err
		}},
		{"a call without an agent", func() error {
			_, err := s.CreateCall(ctx, store.Call{OrgID: org, Status: store.CallRinging})
			return err
		}},
		{"a call without an org", func() error {
			_, err := s.CreateCall(ctx, store.Call{AgentID: f.agent.ID, Status: store.CallRinging})
			return err
		}},
		{"a call with an unknown status", func() error {
			_, err := s.CreateCall(ctx, store.Call{OrgID: org, AgentID: f.agent.ID, Status: "dialing"})
			return err
		}},
		{"a turn with seq 0", func() error {
			c := f.call(t, store.Call{})
			return s.AppendTurns(ctx, org, c.ID, []store.Turn{turn(0, store.SpeakerCaller, "x", base)})
		}},
		{"a turn without a known speaker", func() error {
			c := f.call(t, store.Call{})
			return s.AppendTurns(ctx, org, c.ID, []store.Turn{turn(1, "bot", "x", base)})
		}},
		{"a pattern without a trigger", func() error {
			_, err := s.CreatePattern(ctx, store.Pattern{OrgID: org, Embedding: emb})
			return err
		}},
		{"a pattern without an org", func() error {
			_, err := s.CreatePattern(ctx, store.Pattern{Trigger: "t", Embedding: emb})
			return err
		}},
		{"a pattern embedding of the wrong length", func() error {
			_, err := s.CreatePattern(ctx, store.Pattern{OrgID: org, Trigger: "t", Embedding: emb[:100]})
			return err
		}},
		{"a pattern without an embedding", func() error {
			_, err := s.CreatePattern(ctx, store.Pattern{OrgID: org, Trigger: "t"})
			return err
		}},
		{"a pattern of an unknown status", func() error {
			_, err := s.CreatePattern(ctx, store.Pattern{OrgID: org, Trigger: "t", Embedding: emb, Status: "maybe"})
			return err
		}},
		{"a pattern of an unknown source", func() error {
			_, err := s.CreatePattern(ctx, store.Pattern{OrgID: org, Trigger: "t", Embedding: emb, Source: "dreamt"})
			return err
		}},
		{"a pattern with more examples than it keeps", func() error {
			_, err := s.CreatePattern(ctx, store.Pattern{OrgID: org, Trigger: "t", Embedding: emb,
				Examples: make([]string, store.MaxPatternExamples+1)})
			return err
		}},
		{"a pattern with an example too long", func() error {
			_, err := s.CreatePattern(ctx, store.Pattern{OrgID: org, Trigger: "t", Embedding: emb,
				Examples: []string{strings.Repeat("x", store.MaxPatternExampleLen+1)}})
			return err
		}},
		{"a pattern with an empty example", func() error {
			_, err := s.CreatePattern(ctx, store.Pattern{OrgID: org, Trigger: "t", Embedding: emb, Examples: []string{""}})
			return err
		}},
		{"a pattern with more source calls than it keeps", func() error {
			calls := make([]store.CallID, store.MaxPatternSourceCalls+1)
			for i := range calls {
				calls[i] = store.CallID(fmt.Sprint("c", i))
			}
			_, err := s.CreatePattern(ctx, store.Pattern{OrgID: org, Trigger: "t", Embedding: emb, SourceCallIDs: calls})
			return err
		}},
		{"a pattern with negative uses", func() error {
			_, err := s.CreatePattern(ctx, store.Pattern{OrgID: org, Trigger: "t", Embedding: emb, Uses: -1})
			return err
		}},
		{"a similar-patterns query of the wrong length", func() error {
			_, err := s.SimilarPatterns(ctx, org, store.PatternFilter{}, emb[:10], 5)
			return err
		}},
		{"a similar-patterns k of 0", func() error {
			_, err := s.SimilarPatterns(ctx, org, store.PatternFilter{}, emb, 0)
			return err
		}},
		{"a transcript search without words", func() error {
			_, _, err := s.SearchTranscripts(ctx, org, "  ", store.Page{})
			return err
		}},
		{"a calls cursor that is not one", func() error {
			_, _, err := s.ListCalls(ctx, org, store.CallFilter{}, store.Page{Cursor: "not a cursor!"})
			return err
		}},
		{"a refresh token without a hash", func() error {
			u := must(s.CreateUser(ctx, store.User{OrgID: org, Email: "hashless@example.com", Role: store.RoleViewer})).of(t)
			_, err := s.CreateRefreshToken(ctx, store.RefreshToken{OrgID: org, UserID: u.ID, ExpiresAt: at(time.Hour)})
			return err
		}},
		{"a webhook event without an id", func() error { _, err := s.MarkEventProcessed(ctx, ""); return err }},
	}
	for _, c := range cases {
		wantErr(t, c.name, c.err(), store.ErrInvalid)
	}
}

func testUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	before := time.Now()
	u := must(s.CreateUser(ctx, store.User{OrgID: a.org.ID, Email: "  Ada@Example.COM ", PasswordHash: "$argon2id$v=19$x", Role: store.RoleAdmin})).of(t)
	after := time.Now()
	if u.ID == "" {
		t.Fatal("CreateUser left the id empty")
	}
	same(t, "email is stored lower-case", u.Email, "ada@example.com")
	between(t, "CreatedAt", u.CreatedAt, before, after)
	same(t, "GetUser", must(s.GetUser(ctx, a.org.ID, u.ID)).of(t), u)
	same(t, "UserByEmail in another case", must(s.UserByEmail(ctx, "ADA@example.com")).of(t), u)
	_, err := s.UserByEmail(ctx, "nobody@example.com")
	wantErr(t, "UserByEmail of an unknown email", err, store.ErrNotFound)

	_, err = s.CreateUser(ctx, store.User{OrgID: b.org.ID, Email: "ada@EXAMPLE.com", Role: store.RoleViewer})
	wantErr(t, "the same email in another organization", err, store.ErrConflict)
	_, err = s.CreateUser(ctx, store.User{OrgID: "no-such-org", Email: "ghost@example.com", Role: store.RoleViewer})
	wantErr(t, "a user of an unknown organization", err, store.ErrNotFound)

	v := must(s.CreateUser(ctx, store.User{OrgID: a.org.ID, Email: "bob@example.com", Role: store.RoleViewer})).of(t)
	w := must(s.CreateUser(ctx, store.User{OrgID: b.org.ID, Email: "carol@example.com", Role: store.RoleViewer})).of(t)
	users := must(s.ListUsers(ctx, a.org.ID)).of(t)
	slices.SortFunc(users, func(x, y store.User) int { return cmp.Compare(x.Email, y.Email) })
	same(t, "ListUsers of A", users, []store.User{u, v})
	same(t, "ListUsers of B", must(s.ListUsers(ctx, b.org.ID)).of(t), []store.User{w})

	v.Role = store.RoleSupervisor
	v.DisabledAt = ptr(at(time.Hour))
	v.PasswordHash = "$argon2id$v=19$new"
	v.Email = "Robert@example.com"
	got := must(s.UpdateUser(ctx, v)).of(t)
	v.Email = "robert@example.com"
	same(t, "UpdateUser", got, v)
	same(t, "GetUser after UpdateUser", must(s.GetUser(ctx, a.org.ID, v.ID)).of(t), v)
	v.Email = "ada@example.com"
	_, err = s.UpdateUser(ctx, v)
	wantErr(t, "UpdateUser to a taken email", err, store.ErrConflict)
	v.Role = "root"
	_, err = s.UpdateUser(ctx, v)
	wantErr(t, "UpdateUser to an unknown role", err, store.ErrInvalid)
}
