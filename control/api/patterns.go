package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/iace/iace/store"
)

// PatternBody is a pattern as the API shows it.
type PatternBody struct {
	ID            store.PatternID     `json:"id"`
	AgentID       store.AgentID       `json:"agent_id,omitempty" doc:"Absent for an organization-wide pattern"`
	Kind          string              `json:"kind"`
	Trigger       string              `json:"trigger"`
	Response      string              `json:"response"`
	Status        store.PatternStatus `json:"status" doc:"active (used), pending (learned, awaiting approval) or disabled"`
	Source        store.PatternSource `json:"source" doc:"learned from calls, or manual"`
	Uses          int                 `json:"uses"`
	Successes     int                 `json:"successes"`
	SuccessRate   *float64            `json:"success_rate,omitempty" doc:"successes / uses; absent before the first use"`
	Examples      []string            `json:"examples,omitempty" doc:"How callers put it, newest last"`
	SourceCallIDs []store.CallID      `json:"source_call_ids,omitempty" doc:"The calls it was learned from, newest last"`
	CreatedAt     time.Time           `json:"created_at"`
	UpdatedAt     time.Time           `json:"updated_at"`
}

func patternOut(p store.Pattern) PatternBody {
	b := PatternBody{ID: p.ID, AgentID: p.AgentID, Kind: p.Kind, Trigger: p.Trigger, Response: p.Response,
		Status: p.Status, Source: p.Source, Uses: p.Uses, Successes: p.Successes,
		Examples: p.Examples, SourceCallIDs: p.SourceCallIDs, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
	if p.Uses > 0 {
		r := float64(p.Successes) / float64(p.Uses)
		b.SuccessRate = &r
	}
	return b
}

// patternWrite is a pattern an admin writes by hand.
type patternWrite struct {
	Body struct {
		AgentID  store.AgentID `json:"agent_id,omitempty" maxLength:"100" doc:"Absent: for every agent of the organization"`
		Kind     string        `json:"kind" minLength:"1" maxLength:"50" doc:"e.g. faq, objection, escalation"`
		Trigger  string        `json:"trigger" minLength:"1" maxLength:"300" doc:"What a caller says"`
		Response string        `json:"response" minLength:"1" maxLength:"1000" doc:"What answers it"`
	}
}

// patternStatusWrite approves or disables a pattern.
type patternStatusWrite struct {
	ID   string `path:"id" maxLength:"100"`
	Body struct {
		Status store.PatternStatus `json:"status" enum:"active,pending,disabled" doc:"active approves it, disabled stops its use"`
	}
}

// PatternFilters narrow pattern lists and searches.
type PatternFilters struct {
	AgentID string `query:"agent_id" maxLength:"100" doc:"Also matches organization-wide patterns"`
	Kind    string `query:"kind" maxLength:"50"`
	Status  string `query:"status" enum:"active,pending,disabled," doc:"Only patterns of this status (pending: awaiting approval)"`
}

func (f PatternFilters) filter() store.PatternFilter {
	return store.PatternFilter{AgentID: store.AgentID(f.AgentID), Kind: f.Kind, Status: store.PatternStatus(f.Status)}
}

type patternList struct {
	PatternFilters
	PageParams
}

type patternListOutput struct {
	Body struct {
		Items      []PatternBody `json:"items"`
		NextCursor string        `json:"next_cursor"`
	}
}

type patternIDPath struct {
	ID string `path:"id" maxLength:"100"`
}

type patternOutput struct{ Body PatternBody }

type similarInput struct {
	Text string `query:"text" required:"true" minLength:"1" maxLength:"1000" doc:"What a caller said"`
	K    int    `query:"k" minimum:"1" maximum:"100" default:"5"`
	PatternFilters
}

type scoredPatternBody struct {
	PatternBody
	Similarity float64 `json:"similarity" doc:"Cosine similarity to the text, -1..1"`
}

type similarOutput struct {
	Body struct {
		Items []scoredPatternBody `json:"items"`
	}
}

func (a *API) patternRoutes() {
	huma.Register(a.huma, op("listPatterns", http.MethodGet, "/patterns", "List learned patterns, newest first", "patterns", store.RoleViewer),
		func(ctx context.Context, in *patternList) (*patternListOutput, error) {
			list, next, err := a.deps.Store.ListPatterns(ctx, principal(ctx).OrgID, in.filter(), in.page())
			if err != nil {
				return nil, a.storeError(ctx, "patterns", err)
			}
			out := &patternListOutput{}
			out.Body.Items = make([]PatternBody, 0, len(list))
			for _, p := range list {
				out.Body.Items = append(out.Body.Items, patternOut(p))
			}
			out.Body.NextCursor = next
			return out, nil
		})

	o := op("similarPatterns", http.MethodGet, "/patterns/similar", "Patterns most similar to a text", "patterns", store.RoleViewer)
	o.Errors = append(o.Errors, http.StatusServiceUnavailable)
	huma.Register(a.huma, o, func(ctx context.Context, in *similarInput) (*similarOutput, error) {
		if a.deps.Embed == nil {
			return nil, huma.Error503ServiceUnavailable("no embedding provider is configured")
		}
		vecs, err := a.deps.Embed.Embed(ctx, []string{in.Text})
		if err != nil || len(vecs) != 1 {
			a.log.WarnContext(ctx, "api: embedding failed", "request_id", requestID(ctx), "err", err)
			return nil, huma.Error503ServiceUnavailable("the embedding provider is unavailable; retry shortly")
		}
		list, err := a.deps.Store.SimilarPatterns(ctx, principal(ctx).OrgID, in.filter(), vecs[0], in.K)
		if err != nil {
			return nil, a.storeError(ctx, "patterns", err)
		}
		out := &similarOutput{}
		out.Body.Items = make([]scoredPatternBody, 0, len(list))
		for _, sp := range list {
			out.Body.Items = append(out.Body.Items, scoredPatternBody{PatternBody: patternOut(sp.Pattern), Similarity: sp.Similarity})
		}
		return out, nil
	})

	huma.Register(a.huma, op("getPattern", http.MethodGet, "/patterns/{id}", "Get a learned pattern", "patterns", store.RoleViewer),
		func(ctx context.Context, in *patternIDPath) (*patternOutput, error) {
			p, err := a.deps.Store.GetPattern(ctx, principal(ctx).OrgID, store.PatternID(in.ID))
			if err != nil {
				return nil, a.storeError(ctx, "pattern", err)
			}
			return &patternOutput{Body: patternOut(p)}, nil
		})

	o = op("createPattern", http.MethodPost, "/patterns", "Write a pattern by hand", "patterns", store.RoleAdmin)
	o.DefaultStatus = http.StatusCreated
	o.Description = "A curated question and answer for the organization, or one agent. It is embedded like a learned one, " +
		"starts active, and counts against the organization's cap of patterns (409 past it)."
	o.Errors = append(o.Errors, http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable)
	huma.Register(a.huma, o, func(ctx context.Context, in *patternWrite) (*patternOutput, error) {
		org := principal(ctx).OrgID
		if a.deps.Embed == nil {
			return nil, huma.Error503ServiceUnavailable("no embedding provider is configured")
		}
		if in.Body.AgentID != "" {
			if _, err := a.deps.Store.GetAgent(ctx, org, in.Body.AgentID); err != nil {
				return nil, a.storeError(ctx, "agent", err)
			}
		}
		vecs, err := a.deps.Embed.Embed(ctx, []string{in.Body.Trigger})
		if err != nil || len(vecs) != 1 {
			a.log.WarnContext(ctx, "api: embedding failed", "request_id", requestID(ctx), "err", err)
			return nil, huma.Error503ServiceUnavailable("the embedding provider is unavailable; retry shortly")
		}
		p, err := a.deps.Store.CreatePattern(ctx, store.Pattern{OrgID: org, AgentID: in.Body.AgentID, Kind: in.Body.Kind,
			Trigger: in.Body.Trigger, Response: in.Body.Response, Embedding: vecs[0],
			Status: store.PatternActive, Source: store.PatternManual})
		if err != nil {
			return nil, a.storeError(ctx, "pattern", err)
		}
		a.log.InfoContext(ctx, "pattern written", "request_id", requestID(ctx), "org_id", string(org), "pattern_id", string(p.ID))
		return &patternOutput{Body: patternOut(p)}, nil
	})

	o = op("setPatternStatus", http.MethodPatch, "/patterns/{id}", "Approve or disable a pattern", "patterns", store.RoleAdmin)
	o.Errors = append(o.Errors, http.StatusNotFound)
	huma.Register(a.huma, o, func(ctx context.Context, in *patternStatusWrite) (*patternOutput, error) {
		org := principal(ctx).OrgID
		p, err := a.deps.Store.SetPatternStatus(ctx, org, store.PatternID(in.ID), in.Body.Status)
		if err != nil {
			return nil, a.storeError(ctx, "pattern", err)
		}
		a.log.InfoContext(ctx, "pattern status set", "request_id", requestID(ctx), "org_id", string(org), "pattern_id", in.ID,
			"status", string(p.Status))
		return &patternOutput{Body: patternOut(p)}, nil
	})

	o = op("deletePattern", http.MethodDelete, "/patterns/{id}", "Forget a learned pattern", "patterns", store.RoleAdmin)
	o.DefaultStatus = http.StatusNoContent
	huma.Register(a.huma, o, func(ctx context.Context, in *patternIDPath) (*struct{}, error) {
		org := principal(ctx).OrgID
		if err := a.deps.Store.DeletePattern(ctx, org, store.PatternID(in.ID)); err != nil {
			return nil, a.storeError(ctx, "pattern", err)
		}
		a.log.InfoContext(ctx, "pattern deleted", "request_id", requestID(ctx), "org_id", string(org), "pattern_id", in.ID)
		return nil, nil
	})
}
