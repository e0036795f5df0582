package auth

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestPasswordHash(t *testing.T) {
	p := Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}
	h1, err := HashPassword("correct horse battery staple", p)
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := HashPassword("correct horse battery staple", p)
	if h1 == h2 {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	for _, tc := range []struct {
		password string
		want     bool
	}{{"correct horse battery staple", true}, {"correct horse battery stapl", false}, {"", false}} {
		if ok, err := VerifyPassword(tc.password, h1); ok != tc.want || err != nil {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v", tc.password, ok, err, tc.want)
		}
	}
}

// TestKnownAnswer checks the PHC encoding against a test vector of the
// reference implementation (phc-winner-argon2 src/test.c: password
// "password", salt "somesalt", m=2^16 KiB, t=2, p=1).
func TestKnownAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("a 64 MiB hash")
	}
	const ref = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	ok, err := VerifyPassword("password", ref)
	if err != nil || !ok {
		t.Errorf("reference hash: %v, %v", ok, err)
	}
}

func TestDefaultArgon2(t *testing.T) {
	if testing.Short() {
		t.Skip("a real-cost hash")
	}
	start := time.Now()
	h, err := HashPassword("correct horse battery staple", DefaultArgon2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q", h)
	}
	t.Logf("one default argon2id hash took %v", time.Since(start))
}

func TestParsePHCRejects(t *testing.T) {
	good := "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$1CVnBTQiEaG8TOV1Ab5eQw4SanVyFkRvZ0kTFOpSPWs"
	if _, err := parsePHC(good); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{
		"argon2i":            strings.Replace(good, "argon2id", "argon2i", 1),
		"another version":    strings.Replace(good, "v=19", "v=16", 1),
		"a huge memory":      strings.Replace(good, "m=64", "m=4194304", 1),
		"many passes":        strings.Replace(good, "t=1", "t=1000", 1),
		"no threads":         strings.Replace(good, "p=1", "p=0", 1),
		"a repeated param":   strings.Replace(good, "p=1", "m=1", 1),
		"an unknown param":   strings.Replace(good, "p=1", "x=1", 1),
		"padded base64":      strings.Replace(good, "c29tZXNhbHQ", "c29tZXNhbHQ=", 1),
		"a short salt":       strings.Replace(good, "c29tZXNhbHQ", "c29t", 1),
		"a missing field":    strings.TrimSuffix(good, "$1CVnBTQiEaG8TOV1Ab5eQw4SanVyFkRvZ0kTFOpSPWs"),
		"bcrypt":             "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"empty":              "",
		"an overlong string": good + strings.Repeat("A", 600),
	} {
		if _, err := parsePHC(s); !errors.Is(err, errBadHash) {
			t.Errorf("%s: %v, want errBadHash", name, err)
		}
	}
}

func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$1CVnBTQiEaG8TOV1Ab5eQw4SanVyFkRvZ0kTFOpSPWs")
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parsePHC(s)
		if err != nil {
			return
		}
		// Whatever parses is within the bounds that keep verification cheap.
		if h.params.validate() != nil || len(h.salt) < minSaltBytes || len(h.key) > maxKeyBytes {
			t.Errorf("parsed out of bounds: %+v", h)
		}
	})
}

func TestHasherBusy(t *testing.T) {
	m := newMetrics(prometheus.NewRegistry())
	act := &activity{}
	h := newHasher(1, 1, 50*time.Millisecond, m, act)
	release := make(chan struct{})
	started := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- h.do(t.Context(), func() { close(started); <-release })
	}()
	<-started

	t.Run("a caller waits no longer than the wait", func(t *testing.T) {
		if err := h.do(t.Context(), func() { t.Error("ran without a slot") }); !errors.Is(err, ErrBusy) {
			t.Errorf("error %v, want ErrBusy", err)
		}
	})
	t.Run("a caller whose context ends stops waiting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := h.do(ctx, func() { t.Error("ran without a slot") }); !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
	})
	t.Run("past the queue, callers are refused at once", func(t *testing.T) {
		h.wait = time.Hour
		waiting := make(chan error)
		go func() { waiting <- h.do(t.Context(), func() {}) }()
		for h.waiting.Load() == 0 {
			runtime.Gosched()
		}
		if err := h.do(t.Context(), func() { t.Error("ran without a slot") }); !errors.Is(err, ErrBusy) {
			t.Errorf("error %v, want ErrBusy", err)
		}
		close(release)
		if err := <-waiting; err != nil {
			t.Errorf("the queued caller: %v", err)
		}
	})
	if err := <-done; err != nil {
		t.Error(err)
	}
	// Five callers overlapped, refused ones included: busy once, idle
	// once, at the end.
	if got := act.String(); got != "busy idle" {
		t.Errorf("told %q, want %q", got, "busy idle")
	}
	if err := h.do(t.Context(), func() {}); err != nil {
		t.Fatal(err)
	}
	if got := act.String(); got != "busy idle busy idle" {
		t.Errorf("after one more hash, told %q", got)
	}
}

// activity records what the hasher tells.
type activity struct {
	mu  sync.Mutex
	got []string
}

func (a *activity) Busy() { a.mu.Lock(); a.got = append(a.got, "busy"); a.mu.Unlock() }
func (a *activity) Idle() { a.mu.Lock(); a.got = append(a.got, "idle"); a.mu.Unlock() }
func (a *activity) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return strings.Join(a.got, " ")
}

func TestTTLCacheIsBounded(t *testing.T) {
	c := newTTLCache[int](3)
	now := time.Now()
	for i := range 10 {
		c.put(string(rune('a'+i)), i, now.Add(time.Minute), now)
		if len(c.entries) > 3 {
			t.Fatalf("%d entries, bound 3", len(c.entries))
		}
	}
	if v, ok := c.get("j", now); !ok || v != 9 {
		t.Errorf("the last entry: %v, %v", v, ok)
	}
	if _, ok := c.get("j", now.Add(time.Minute)); ok {
		t.Error("an expired entry was served")
	}
}

func TestTTLCacheKeepsChangesOverOlderReads(t *testing.T) {
	c := newTTLCache[string](10)
	now := time.Now()
	v := c.version() // a read starts
	c.put("u", "viewer", now.Add(time.Minute), now)
	c.fill("u", "admin", now.Add(time.Minute), now, v) // and ends, after the change
	if got, _ := c.get("u", now); got != "viewer" {
		t.Errorf("a read older than the change replaced it: %q", got)
	}
	v = c.version()
	c.fill("u", "supervisor", now.Add(time.Minute), now, v)
	if got, _ := c.get("u", now); got != "supervisor" {
		t.Errorf("a read after the change was not kept: %q", got)
	}
	v = c.version()
	c.clear()
	c.fill("u", "admin", now.Add(time.Minute), now, v)
	if _, ok := c.get("u", now); ok {
		t.Error("a read older than a clear was kept")
	}
}
