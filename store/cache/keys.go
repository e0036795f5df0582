package cache

import (
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/iace/iace/store"
)

// kind is what a key caches; it is the key's first byte.
type kind byte

const (
	kindAgent    kind = 'a' // an agent by organization and id
	kindNumber   kind = 'n' // a dialed number -> the agent that answers it (global)
	kindCustomer kind = 'c' // a customer by organization and id
	kindPhone    kind = 'p' // a caller's phone in an organization -> the customer id
)

// Keys are "<kind>:<part>[:<part>]" with each part query-escaped, so a ':' in
// an id cannot make two different keys equal. Redis keys add the configured
// prefix; the local layer and the invalidation messages use the bare key.
func agentKey(org store.OrgID, id store.AgentID) string {
	return "a:" + url.QueryEscape(string(org)) + ":" + url.QueryEscape(string(id))
}

func numberKey(e164 store.PhoneNumber) string {
	return "n:" + url.QueryEscape(string(e164))
}

func customerKey(org store.OrgID, id store.CustomerID) string {
	return "c:" + url.QueryEscape(string(org)) + ":" + url.QueryEscape(string(id))
}

func phoneKey(org store.OrgID, phone store.PhoneNumber) string {
	return "p:" + url.QueryEscape(string(org)) + ":" + url.QueryEscape(string(phone))
}

func keyKind(key string) kind {
	if key == "" {
		return 0
	}
	return kind(key[0])
}

// ref is what a number or phone key holds: the row it resolves to.
type ref struct {
	OrgID store.OrgID `json:"org_id"`
	ID    string      `json:"id"`
}

// value is one cached entry, immutable once stored: readers get copies.
type value struct {
	agent    *store.Agent
	customer *store.Customer
	ref      ref
}

// tombstone is what an invalidated key holds in Redis for a short while, so a
// read that loaded the old row before the write cannot put it back (SET NX).
// Cached values are JSON objects and never start with '-'.
const tombstone = "-"

func encodeValue(v value) ([]byte, error) {
	switch {
	case v.agent != nil:
		return json.Marshal(v.agent)
	case v.customer != nil:
		return json.Marshal(v.customer)
	default:
		return json.Marshal(v.ref)
	}
}

func decodeValue(k kind, data []byte) (value, error) {
	switch k {
	case kindAgent:
		var a store.Agent
		if err := json.Unmarshal(data, &a); err != nil {
			return value{}, err
		}
		return value{agent: &a}, nil
	case kindCustomer:
		var c store.Customer
		if err := json.Unmarshal(data, &c); err != nil {
			return value{}, err
		}
		return value{customer: &c}, nil
	case kindNumber, kindPhone:
		var r ref
		if err := json.Unmarshal(data, &r); err != nil {
			return value{}, err
		}
		if r.ID == "" {
			return value{}, fmt.Errorf("empty reference")
		}
		return value{ref: r}, nil
	default:
		return value{}, fmt.Errorf("unknown key kind %q", k)
	}
}
