package postgres

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// A cursor is the sort key of the last row of a page, as base64 of a JSON
// array (times as Unix microseconds). Clients treat it as opaque; it stays
// valid when rows are inserted before or after it (keyset pagination).

func encodeCursor(key ...any) string {
	for i, k := range key {
		if t, ok := k.(time.Time); ok {
			key[i] = t.UnixMicro()
		}
	}
	b, err := json.Marshal(key)
	if err != nil {
		panic(fmt.Sprintf("postgres: cursor of %v: %v", key, err)) // only strings and numbers go in
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor fills dst (pointers to string, int or time.Time) from a cursor
// of the same shape.
func decodeCursor(op, cursor string, dst ...any) error {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return invalid(op, "bad cursor")
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || len(raw) != len(dst) {
		return invalid(op, "bad cursor")
	}
	for i, d := range dst {
		var err error
		switch d := d.(type) {
		case *time.Time:
			var us int64
			err = json.Unmarshal(raw[i], &us)
			*d = time.UnixMicro(us).UTC()
		default:
			err = json.Unmarshal(raw[i], d)
		}
		if err != nil {
			return invalid(op, "bad cursor")
		}
	}
	return nil
}
