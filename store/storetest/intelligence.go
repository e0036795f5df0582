package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iace/iace/store"
)

// jsonEqual reports whether a and b hold the same JSON value: a store keeps
// JSON as the same value, not necessarily the same bytes (PostgreSQL's
// jsonb orders keys its own way).
func jsonEqual(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// samePrediction compares predictions, their features as JSON values.
func samePrediction(t *testing.T, what string, got, want *store.CallPrediction) {
	t.Helper()
	if got == nil || want == nil {
		if got != want {
			t.Errorf("%s: prediction %+v, want %+v", what, got, want)
		}
		return
	}
	g, w := *got, *want
	g.Features, w.Features = nil, nil
	if !reflect.DeepEqual(g, w) || !jsonEqual(got.Features, want.Features) {
		t.Errorf("%s: prediction %+v features %s, want %+v features %s", what, g, got.Features, w, want.Features)
	}
}

// jsonObject is a JSON object of exactly n bytes (n >= 8).
func jsonObject(n int) json.RawMessage {
	return json.RawMessage(`{"x":"` + strings.Repeat("a", n-8) + `"}`)
}

// testCallIntelligence: FinishCall keeps a call's handoff summary and
// prediction once each, GetCall and ListCalls return them, and input beyond
// the caps is ErrInvalid and writes nothing.
func testCallIntelligence(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	summary := "Transferred: the caller asked for a person. Wants a refund for a late order; annoyed. Grace Hopper, gold plan."
	// Given with white space and keys out of any order: what comes back is
	// the same JSON object.
	pred := &store.CallPrediction{Resolution: 0.8, EscalationRisk: 0.15, ModelVersion: 3,
		Features: json.RawMessage(`{ "words": ["refund", "late"], "turns": 6, "sentiment": -0.25 }`)}

	c := a.call(t, store.Call{StartedAt: base})
	end := store.CallEnd{OrgID: a.org.ID, CallID: c.ID, EndedAt: at(time.Minute), Outcome: store.OutcomeEscalated,
		EndReason: "transfer", EscalationReason: string(store.EscalationCallerRequest), Summary: summary, Prediction: pred}
	other := end
	other.OrgID = b.org.ID
	_, err := s.FinishCall(ctx, other)
	wantErr(t, "FinishCall with a summary from another organization", err, store.ErrNotFound)
	same(t, "the call after another organization's finish", must(s.GetCall(ctx, a.org.ID, c.ID)).of(t).Call, c)

	ended := must(s.FinishCall(ctx, end)).of(t)
	same(t, "FinishCall's summary", ended.Summary, summary)
	samePrediction(t, "FinishCall's prediction", ended.Prediction, pred)
	same(t, "GetCall", must(s.GetCall(ctx, a.org.ID, c.ID)).of(t).Call, ended)
	items, _, err := s.ListCalls(ctx, a.org.ID, store.CallFilter{}, store.Page{})
	ok(t, err)
	if len(items) != 1 {
		t.Fatalf("ListCalls: %d calls, want 1", len(items))
	}
	same(t, "ListCalls", items[0].Call, ended)
	if _, err := s.GetCall(ctx, b.org.ID, c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetCall of another organization's call with a summary: %v", err)
	}

	// A replay that says otherwise changes nothing.
	replay := end
	replay.Summary = "Something else."
	replay.Prediction = &store.CallPrediction{Resolution: 0.1, EscalationRisk: 0.9, ModelVersion: 4}
	same(t, "FinishCall replayed with another summary and prediction", must(s.FinishCall(ctx, replay)).of(t), ended)
	same(t, "GetCall after a replay", must(s.GetCall(ctx, a.org.ID, c.ID)).of(t).Call, ended)

	// A call ended first without them (a hang-up webhook) takes each from
	// the first finish that carries it, and keeps its end as it was.
	hung := a.call(t, store.Call{StartedAt: at(time.Hour)})
	hungEnded := must(s.FinishCall(ctx, store.CallEnd{OrgID: a.org.ID, CallID: hung.ID, EndedAt: at(time.Hour + time.Minute),
		Outcome: store.OutcomeAbandoned, EndReason: "hangup"})).of(t)
	same(t, "a call ended without a summary or prediction", []any{hungEnded.Summary, hungEnded.Prediction},
		[]any{"", (*store.CallPrediction)(nil)})
	late := store.CallEnd{OrgID: a.org.ID, CallID: hung.ID, EndedAt: at(2 * time.Hour), Outcome: store.OutcomeResolved,
		EndReason: "session", Summary: "Handed over late."}
	want := hungEnded
	want.Summary = "Handed over late."
	same(t, "a summary for a call already ended", must(s.FinishCall(ctx, late)).of(t), want)
	late.Summary = "Another summary."
	late.Prediction = &store.CallPrediction{Resolution: 0.3, EscalationRisk: 0.6}
	got := must(s.FinishCall(ctx, late)).of(t)
	samePrediction(t, "a prediction for a call already ended", got.Prediction, late.Prediction)
	want.Prediction = got.Prediction
	same(t, "the call after its prediction came", got, want)
	late.Prediction = pred
	same(t, "a second prediction for a call already ended", must(s.FinishCall(ctx, late)).of(t), want)
	same(t, "GetCall of the call ended first", must(s.GetCall(ctx, a.org.ID, hung.ID)).of(t).Call, want)

	// They are FinishCall's: UpdateCall from a copy read before keeps them,
	// and CreateCall creates a call without them.
	stale := hungEnded
	stale.EndReason = "hangup (webhook)"
	updated := must(s.UpdateCall(ctx, stale)).of(t)
	same(t, "UpdateCall from a stale copy keeps the summary and prediction", []any{updated.Summary, updated.Prediction},
		[]any{want.Summary, want.Prediction})
	created := must(s.CreateCall(ctx, store.Call{OrgID: a.org.ID, AgentID: a.agent.ID, Status: store.CallActive,
		StartedAt: at(3 * time.Hour), Summary: "not yet", Prediction: pred})).of(t)
	same(t, "CreateCall with a summary and prediction", []any{created.Summary, created.Prediction},
		[]any{"", (*store.CallPrediction)(nil)})
	same(t, "GetCall of a call created with a summary", must(s.GetCall(ctx, a.org.ID, created.ID)).of(t).Call, created)

	// The caps: a summary and features at them are kept; beyond them, or a
	// prediction that is no probability, is ErrInvalid and writes nothing.
	big := a.call(t, store.Call{StartedAt: at(4 * time.Hour)})
	bad := store.CallEnd{OrgID: a.org.ID, CallID: big.ID, EndedAt: at(5 * time.Hour), Outcome: store.OutcomeResolved,
		Turns: []store.Turn{turn(1, store.SpeakerCaller, "hello", at(4*time.Hour+time.Second))}}
	valid := store.CallPrediction{Resolution: 0.5, EscalationRisk: 0.5, Features: json.RawMessage(`{"turns":1}`)}
	for name, tc := range map[string]struct {
		summary string
		edit    func(p *store.CallPrediction)
	}{
		"a summary too long":              {summary: strings.Repeat("s", store.MaxCallSummaryLen+1)},
		"a summary that is not UTF-8":     {summary: "caf\xe9"},
		"a summary with a NUL":            {summary: "a\x00b"},
		"features too long":               {edit: func(p *store.CallPrediction) { p.Features = jsonObject(store.MaxPredictionFeaturesLen + 1) }},
		"features that are an array":      {edit: func(p *store.CallPrediction) { p.Features = json.RawMessage(`[1, 2]`) }},
		"features that are a string":      {edit: func(p *store.CallPrediction) { p.Features = json.RawMessage(`"turns"`) }},
		"features that are null":          {edit: func(p *store.CallPrediction) { p.Features = json.RawMessage(`null`) }},
		"features that are not JSON":      {edit: func(p *store.CallPrediction) { p.Features = json.RawMessage(`{"turns":`) }},
		"features with trailing data":     {edit: func(p *store.CallPrediction) { p.Features = json.RawMessage(`{} {}`) }},
		"a negative resolution":           {edit: func(p *store.CallPrediction) { p.Resolution = -0.01 }},
		"a resolution above 1":            {edit: func(p *store.CallPrediction) { p.Resolution = 1.01 }},
		"a resolution that is NaN":        {edit: func(p *store.CallPrediction) { p.Resolution = math.NaN() }},
		"an escalation risk above 1":      {edit: func(p *store.CallPrediction) { p.EscalationRisk = 2 }},
		"an escalation risk that is -Inf": {edit: func(p *store.CallPrediction) { p.EscalationRisk = math.Inf(-1) }},
		"a negative model version":        {edit: func(p *store.CallPrediction) { p.ModelVersion = -1 }},
	} {
		e := bad
		e.Summary = tc.summary
		if tc.edit != nil {
			p := valid
			tc.edit(&p)
			e.Prediction = &p
		}
		_, err := s.FinishCall(ctx, e)
		wantErr(t, "FinishCall with "+name, err, store.ErrInvalid)
	}
	d := must(s.GetCall(ctx, a.org.ID, big.ID)).of(t)
	same(t, "the call after refused finishes", d.Call, big)
	same(t, "its turns after refused finishes", len(d.Turns), 0)

	atCaps := bad
	atCaps.Summary = strings.Repeat("é", store.MaxCallSummaryLen/2)
	atCaps.Prediction = &store.CallPrediction{Resolution: 1, EscalationRisk: 0, ModelVersion: 0,
		Features: jsonObject(store.MaxPredictionFeaturesLen)}
	got = must(s.FinishCall(ctx, atCaps)).of(t)
	same(t, "a summary at the cap", got.Summary, atCaps.Summary)
	samePrediction(t, "features at the cap", got.Prediction, atCaps.Prediction)
	same(t, "GetCall at the caps", must(s.GetCall(ctx, a.org.ID, big.ID)).of(t).Call, got)

	// A prediction without features (the session predicted before it had
	// any) is kept as it is.
	bare := a.call(t, store.Call{StartedAt: at(6 * time.Hour)})
	p := &store.CallPrediction{Resolution: 0.25, EscalationRisk: 0.75, ModelVersion: 2}
	got = must(s.FinishCall(ctx, store.CallEnd{OrgID: a.org.ID, CallID: bare.ID, Outcome: store.OutcomeFailed, Prediction: p})).of(t)
	same(t, "a prediction without features", got.Prediction, p)
	same(t, "GetCall of a prediction without features", must(s.GetCall(ctx, a.org.ID, bare.ID)).of(t).Call.Prediction, p)
}

// testCustomerMemory: SetCustomerMemory writes the memory summary, trimmed,
// and UpdatedAt, and nothing else; beyond its cap it is ErrInvalid.
func testCustomerMemory(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	c := a.customer(t, "+15557770001", "Ada")
	call := a.call(t, store.Call{CustomerID: c.ID, StartedAt: base})
	must(s.FinishCall(ctx, store.CallEnd{OrgID: a.org.ID, CallID: call.ID, EndedAt: at(time.Minute), Outcome: store.OutcomeResolved})).of(t)
	c = must(s.GetCustomer(ctx, a.org.ID, c.ID)).of(t)
	must(s.CustomerByPhone(ctx, a.org.ID, c.Phone)).of(t) // read by phone too: a cache holds both

	// Another field updated meanwhile (the memory writer read the customer
	// before): the memory write leaves it as it is.
	upd := c
	upd.Name, upd.Attributes = "Ada Lovelace", map[string]string{"plan": "gold"}
	updated := must(s.UpdateCustomer(ctx, upd)).of(t)

	before := time.Now()
	got := must(s.SetCustomerMemory(ctx, a.org.ID, c.ID, "  Prefers email.\nAsked about invoice 42. \n")).of(t)
	after := time.Now()
	between(t, "UpdatedAt after SetCustomerMemory", got.UpdatedAt, before, after)
	want := updated
	want.MemorySummary, want.UpdatedAt = "Prefers email.\nAsked about invoice 42.", got.UpdatedAt
	same(t, "SetCustomerMemory", got, want)
	same(t, "GetCustomer after SetCustomerMemory", must(s.GetCustomer(ctx, a.org.ID, c.ID)).of(t), want)
	same(t, "CustomerByPhone after SetCustomerMemory", must(s.CustomerByPhone(ctx, a.org.ID, c.Phone)).of(t), want)
	same(t, "the customer's statistics", []any{got.CallCount, got.LastCallAt}, []any{1, ptr(at(time.Minute))})

	atCap := strings.Repeat("m", store.MaxMemorySummaryLen)
	got = must(s.SetCustomerMemory(ctx, a.org.ID, c.ID, "\t"+atCap+"  ")).of(t)
	same(t, "a memory at the cap, trimmed", got.MemorySummary, atCap)
	for what, m := range map[string]string{
		"beyond the cap": atCap + "m",
		"not UTF-8":      "caf\xe9",
		"with a NUL":     "a\x00b",
	} {
		_, err := s.SetCustomerMemory(ctx, a.org.ID, c.ID, m)
		wantErr(t, "SetCustomerMemory "+what, err, store.ErrInvalid)
	}
	same(t, "the memory after refused writes", must(s.GetCustomer(ctx, a.org.ID, c.ID)).of(t).MemorySummary, atCap)
	got = must(s.SetCustomerMemory(ctx, a.org.ID, c.ID, " \n ")).of(t)
	same(t, "a blank memory clears it", got.MemorySummary, "")
	same(t, "GetCustomer after clearing", must(s.GetCustomer(ctx, a.org.ID, c.ID)).of(t), got)

	_, err := s.SetCustomerMemory(ctx, a.org.ID, "no-such-customer", "x")
	wantErr(t, "SetCustomerMemory of an unknown customer", err, store.ErrNotFound)
	_, err = s.SetCustomerMemory(ctx, b.org.ID, c.ID, "hijacked")
	wantErr(t, "SetCustomerMemory with another organization's id", err, store.ErrNotFound)

	// The cap holds for every write of a customer.
	long := got
	long.MemorySummary = atCap + "m"
	_, err = s.UpdateCustomer(ctx, long)
	wantErr(t, "UpdateCustomer with a memory beyond the cap", err, store.ErrInvalid)
	_, err = s.CreateCustomer(ctx, store.Customer{OrgID: a.org.ID, Phone: "+15557770002", MemorySummary: atCap + "m"})
	wantErr(t, "CreateCustomer with a memory beyond the cap", err, store.ErrInvalid)
	same(t, "the customer after a refused update", must(s.GetCustomer(ctx, a.org.ID, c.ID)).of(t), got)
}

// sameModel compares models, the model itself as a JSON value.
func sameModel(t *testing.T, what string, got, want store.PredictionModel) {
	t.Helper()
	g, w := got, want
	g.Model, w.Model = nil, nil
	if !reflect.DeepEqual(g, w) || !jsonEqual(got.Model, want.Model) {
		t.Errorf("%s:\n got  %+v model %s\n want %+v model %s", what, g, got.Model, w, want.Model)
	}
}

func versions(ms []store.PredictionModel) []int {
	out := make([]int, len(ms))
	for i, m := range ms {
		out[i] = m.Version
	}
	return out
}

// testPredictionModels: an organization's models are numbered 1, 2... by
// the store, the latest is found, the newest MaxPredictionModels are kept,
// and invalid models are ErrInvalid and write nothing.
func testPredictionModels(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	_, err := s.LatestPredictionModel(ctx, a.org.ID)
	wantErr(t, "LatestPredictionModel with none saved", err, store.ErrNotFound)
	same(t, "ListPredictionModels with none saved", len(must(s.ListPredictionModels(ctx, a.org.ID)).of(t)), 0)

	cet := time.FixedZone("CET", 3600)
	in := store.PredictionModel{OrgID: a.org.ID, Version: 42, TrainedAt: at(time.Hour + 123456789).In(cet), Examples: 120,
		ResolutionAUC: 0.81, EscalationAUC: 0.74,
		Model: json.RawMessage(`{"weights": {"turns": 0.5, "sentiment": -1.25}, "bias": [0.1, -0.2], "features": ["turns", "sentiment"]}`)}
	before := time.Now()
	m1 := must(s.SavePredictionModel(ctx, in)).of(t)
	after := time.Now()
	between(t, "CreatedAt", m1.CreatedAt, before, after)
	want := in
	want.Version, want.TrainedAt, want.CreatedAt = 1, at(time.Hour+123456000), m1.CreatedAt
	sameModel(t, "the first model saved", m1, want)
	sameModel(t, "LatestPredictionModel", must(s.LatestPredictionModel(ctx, a.org.ID)).of(t), m1)

	in.TrainedAt, in.CreatedAt, in.Examples, in.Version = at(2*time.Hour), at(3*time.Hour), 200, 1
	m2 := must(s.SavePredictionModel(ctx, in)).of(t)
	want = in
	want.Version = 2
	sameModel(t, "the second model saved, its CreatedAt given", m2, want)
	sameModel(t, "LatestPredictionModel after two", must(s.LatestPredictionModel(ctx, a.org.ID)).of(t), m2)
	list := must(s.ListPredictionModels(ctx, a.org.ID)).of(t)
	same(t, "ListPredictionModels", versions(list), []int{2, 1})
	if len(list) == 2 {
		sameModel(t, "the newest listed", list[0], m2)
		sameModel(t, "the oldest listed", list[1], m1)
	}

	// Versions are the organization's own.
	bm := must(s.SavePredictionModel(ctx, store.PredictionModel{OrgID: b.org.ID, TrainedAt: base, Model: json.RawMessage(`{}`)})).of(t)
	same(t, "another organization's first model", bm.Version, 1)
	same(t, "the first organization's latest after it", must(s.LatestPredictionModel(ctx, a.org.ID)).of(t).Version, 2)

	// Beyond the cap the oldest go.
	for range store.MaxPredictionModels {
		must(s.SavePredictionModel(ctx, in)).of(t)
	}
	last := store.MaxPredictionModels + 2
	var wantVersions []int
	for v := last; v > last-store.MaxPredictionModels; v-- {
		wantVersions = append(wantVersions, v)
	}
	same(t, "the models kept", versions(must(s.ListPredictionModels(ctx, a.org.ID)).of(t)), wantVersions)
	same(t, "the latest beyond the cap", must(s.LatestPredictionModel(ctx, a.org.ID)).of(t).Version, last)

	for name, edit := range map[string]func(m *store.PredictionModel){
		"no organization":               func(m *store.PredictionModel) { m.OrgID = "" },
		"no training time":              func(m *store.PredictionModel) { m.TrainedAt = time.Time{} },
		"negative examples":             func(m *store.PredictionModel) { m.Examples = -1 },
		"a resolution AUC above 1":      func(m *store.PredictionModel) { m.ResolutionAUC = 1.5 },
		"a negative escalation AUC":     func(m *store.PredictionModel) { m.EscalationAUC = -0.1 },
		"a NaN AUC":                     func(m *store.PredictionModel) { m.ResolutionAUC = math.NaN() },
		"no model":                      func(m *store.PredictionModel) { m.Model = nil },
		"a model that is an array":      func(m *store.PredictionModel) { m.Model = json.RawMessage(`[0.1, 0.2]`) },
		"a model that is null":          func(m *store.PredictionModel) { m.Model = json.RawMessage(`null`) },
		"a model that is not JSON":      func(m *store.PredictionModel) { m.Model = json.RawMessage(`{"w": [`) },
		"a model beyond the cap":        func(m *store.PredictionModel) { m.Model = jsonObject(store.MaxPredictionModelLen + 1) },
		"a model with a second element": func(m *store.PredictionModel) { m.Model = json.RawMessage(`{}{}`) },
	} {
		m := in
		edit(&m)
		_, err := s.SavePredictionModel(ctx, m)
		wantErr(t, "SavePredictionModel with "+name, err, store.ErrInvalid)
	}
	same(t, "the latest after refused saves", must(s.LatestPredictionModel(ctx, a.org.ID)).of(t).Version, last)
	unknown := in
	unknown.OrgID = "no-such-org"
	_, err = s.SavePredictionModel(ctx, unknown)
	wantErr(t, "SavePredictionModel of an unknown organization", err, store.ErrNotFound)

	in.Model = jsonObject(store.MaxPredictionModelLen)
	atCap := must(s.SavePredictionModel(ctx, in)).of(t)
	same(t, "a model at the cap", atCap.Version, last+1)
	sameModel(t, "the latest, at the cap", must(s.LatestPredictionModel(ctx, a.org.ID)).of(t), atCap)
}

// testPredictionModelsConcurrent: concurrent saves of one organization get
// distinct versions, and the cap still holds.
func testPredictionModelsConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	n := store.MaxPredictionModels + 2
	got := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m, err := s.SavePredictionModel(ctx, store.PredictionModel{OrgID: a.org.ID, TrainedAt: base, Examples: i,
				Model: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))})
			got[i], errs[i] = m.Version, err
		})
	}
	wg.Wait()
	ok(t, errors.Join(errs...))
	slices.Sort(got)
	var all []int
	for v := 1; v <= n; v++ {
		all = append(all, v)
	}
	same(t, "the versions of concurrent saves", got, all)
	slices.Reverse(all)
	same(t, "the models kept", versions(must(s.ListPredictionModels(ctx, a.org.ID)).of(t)), all[:store.MaxPredictionModels])
}

// testLabelledCalls: LabelledCalls returns the organization's ended calls
// with an outcome and prediction features, newest ended first, after a time
// and within a limit.
func testLabelledCalls(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "A")
	b := newFixture(t, s, "B")
	features := func(i int) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"turns": %d, "sentiment": -0.5}`, i))
	}
	pred := func(i int) *store.CallPrediction {
		return &store.CallPrediction{Resolution: 0.6, EscalationRisk: 0.2, ModelVersion: 1, Features: features(i)}
	}
	finish := func(f fixture, id store.CallID, ended time.Time, o store.Outcome, p *store.CallPrediction) store.LabelledCall {
		t.Helper()
		c := f.call(t, store.Call{ID: id, StartedAt: ended.Add(-time.Minute)})
		must(s.FinishCall(ctx, store.CallEnd{OrgID: f.org.ID, CallID: c.ID, EndedAt: ended, Outcome: o, Prediction: p})).of(t)
		var feats json.RawMessage
		if p != nil {
			feats = p.Features
		}
		return store.LabelledCall{CallID: c.ID, EndedAt: ended, Outcome: o, Features: feats}
	}
	first := finish(a, "call-m", at(time.Minute), store.OutcomeResolved, pred(1))
	// Two that ended at the same time: by id, descending.
	tiedLow := finish(a, "call-a", at(5*time.Minute), store.OutcomeEscalated, pred(2))
	tiedHigh := finish(a, "call-z", at(5*time.Minute), store.OutcomeAbandoned, pred(3))
	// Not labelled: no outcome, no features, no prediction, not ended.
	finish(a, "no-outcome", at(6*time.Minute), store.OutcomeNone, pred(4))
	finish(a, "no-features", at(7*time.Minute), store.OutcomeResolved, &store.CallPrediction{Resolution: 0.9})
	finish(a, "no-prediction", at(8*time.Minute), store.OutcomeResolved, nil)
	a.call(t, store.Call{ID: "active", StartedAt: at(time.Minute)})
	// Ended first by a hang-up, its prediction coming after: labelled, as
	// it ended.
	hung := finish(a, "hung-up", at(3*time.Minute), store.OutcomeFailed, nil)
	must(s.FinishCall(ctx, store.CallEnd{OrgID: a.org.ID, CallID: hung.CallID, EndedAt: at(9 * time.Minute),
		Outcome: store.OutcomeResolved, Prediction: pred(5)})).of(t)
	hung.Features = features(5)
	// Another organization's.
	theirs := finish(b, "theirs", at(4*time.Minute), store.OutcomeResolved, pred(6))

	check := func(what string, q store.LabelledQuery, want ...store.LabelledCall) {
		t.Helper()
		got, err := s.LabelledCalls(ctx, a.org.ID, q)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d calls %+v, want %d", what, len(got), got, len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if g.CallID != w.CallID || !g.EndedAt.Equal(w.EndedAt) || g.EndedAt.Location() != time.UTC || g.Outcome != w.Outcome ||
				!jsonEqual(g.Features, w.Features) {
				t.Errorf("%s: call %d:\n got  %+v %s\n want %+v %s", what, i, g, g.Features, w, w.Features)
			}
		}
	}
	check("every labelled call", store.LabelledQuery{}, tiedHigh, tiedLow, hung, first)
	check("after a time", store.LabelledQuery{After: at(3 * time.Minute)}, tiedHigh, tiedLow)
	check("after a time in another zone", store.LabelledQuery{After: at(3*time.Minute - time.Nanosecond).In(time.FixedZone("X", -7200))},
		tiedHigh, tiedLow, hung)
	check("after the newest", store.LabelledQuery{After: at(5 * time.Minute)})
	check("with a limit", store.LabelledQuery{Limit: 2}, tiedHigh, tiedLow)
	check("with a limit and a time", store.LabelledQuery{Limit: 1, After: at(2 * time.Minute)}, tiedHigh)
	check("with a negative limit", store.LabelledQuery{Limit: -1}, tiedHigh, tiedLow, hung, first)
	check("with a limit beyond the cap", store.LabelledQuery{Limit: store.MaxLabelledCalls + 1}, tiedHigh, tiedLow, hung, first)

	got := must(s.LabelledCalls(ctx, b.org.ID, store.LabelledQuery{})).of(t)
	if len(got) != 1 || got[0].CallID != theirs.CallID {
		t.Errorf("the other organization's labelled calls: %+v, want only its own", got)
	}
}
