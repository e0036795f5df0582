package embedded_test

import (
	"path/filepath"
	"testing"

	"github.com/iace/iace/store"
	"github.com/iace/iace/store/embedded"
	"github.com/iace/iace/store/storetest"
)

// TestConformance runs the suite every backend passes, each subtest on a
// fresh database file.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openConformance(t, 0) })
}

// TestLimits runs the rules of the caps, on stores with small ones.
func TestLimits(t *testing.T) {
	storetest.RunLimits(t, openConformance)
}

func openConformance(t *testing.T, maxPatterns int) store.Store {
	s, err := embedded.Open(t.Context(), embedded.Config{Path: filepath.Join(t.TempDir(), "iace.db"), Migrate: true,
		MaxPatternsPerOrg: maxPatterns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}
