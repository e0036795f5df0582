package embedded

import (
	"encoding/base64"
	"encoding/json"

	"github.com/iace/iace/store"
)

// cursor is the position after the last row of a page: the values of the
// row's sort key. It travels as base64url JSON, tagged with the list it
// belongs to so a cursor of one list is refused by another.
type cursor struct {
	List string `json:"l"`
	Time int64  `json:"t,omitempty"` // a time sort key, microseconds
	Text string `json:"s,omitempty"` // a text sort key (a name, a call id)
	ID   string `json:"i,omitempty"`
	Seq  int    `json:"n,omitempty"`
}

// The lists that take cursors.
const (
	listCalls       = "calls"
	listPatterns    = "patterns"
	listCustomers   = "customers"
	listTranscripts = "transcripts"
)

func (c cursor) encode() string {
	b, _ := json.Marshal(c) // a struct of strings and ints always marshals
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads the cursor of list; ok is false for the first page.
func decodeCursor(op, list, s string) (c cursor, ok bool, err error) {
	if s == "" {
		return cursor{}, false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.List != list {
		return cursor{}, false, invalid(op, "malformed cursor")
	}
	return c, true, nil
}

// defaultPageSize is a page's length when Page.Limit is not set.
const defaultPageSize = 50

// pageLimit is the number of rows a page holds.
func pageLimit(p store.Page) int {
	switch {
	case p.Limit <= 0:
		return defaultPageSize
	case p.Limit > store.MaxPageSize:
		return store.MaxPageSize
	default:
		return p.Limit
	}
}
