package openai_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/iace/iace/ai/openai"
	"github.com/iace/iace/session"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The client fits the interfaces the session consumes.
var (
	_ session.ChatModel   = (*openai.Client)(nil)
	_ session.Synthesizer = (*openai.Client)(nil)
)
