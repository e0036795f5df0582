package auth

import (
	"testing"
	"time"

	"github.com/iace/iace/store"
)

// fuzzKeyring verifies with a fixed clock, so that its seed token stays
// valid.
func fuzzKeyring() *keyring {
	at := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)
	return newKeyring(Config{SigningKey: []byte("0123456789abcdef0123456789abcdef"), Now: func() time.Time { return at }}.withDefaults())
}

// FuzzParseAccess feeds arbitrary bearer tokens to the JWT check: it must
// not panic, and whatever it accepts carries every claim Authenticate
// relies on. The seed corpus (testdata/fuzz/FuzzParseAccess) holds a valid
// token, alg none, a wrong kid and broken encodings.
func FuzzParseAccess(f *testing.F) {
	k := fuzzKeyring()
	_, rth := newRefreshToken()
	valid, _, err := k.issue(store.User{ID: "u1", OrgID: "o1", Role: store.RoleAdmin}, "fam", rth)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Fuzz(func(t *testing.T, token string) {
		c, err := k.parse(token)
		if err != nil {
			return
		}
		if c.Subject == "" || c.Org == "" || c.SID == "" || !store.Role(c.Role).Valid() || c.ExpiresAt == nil {
			t.Errorf("accepted incomplete claims %+v", c)
		}
	})
}
