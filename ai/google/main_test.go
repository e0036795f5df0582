package google_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/ai/google"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The client fits the interface the learning code consumes.
var _ ai.Embedder = (*google.Client)(nil)
