package cache

import (
	"maps"
	"slices"

	"github.com/iace/iace/store"
)

// The local layer shares one value between every reader, so each reader gets
// a deep copy: a caller appending to an agent's intents must not change what
// the next call reads. A test (TestReturnedValuesAreCopies) mutates every
// reference field.

func cloneAgent(a *store.Agent) store.Agent {
	c := *a
	if a.Intents != nil {
		c.Intents = make([]store.Intent, len(a.Intents))
		for i, in := range a.Intents {
			in.Keywords = slices.Clone(in.Keywords)
			c.Intents[i] = in
		}
	}
	c.Tools = slices.Clone(a.Tools)
	c.Numbers = slices.Clone(a.Numbers)
	c.Escalation.Keywords = slices.Clone(a.Escalation.Keywords)
	return c
}

func cloneCustomer(c *store.Customer) store.Customer {
	out := *c
	out.Attributes = maps.Clone(c.Attributes)
	if c.LastCallAt != nil {
		t := *c.LastCallAt
		out.LastCallAt = &t
	}
	return out
}
