package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/iace/iace/ai/deepgram/deepgramtest"
	"github.com/iace/iace/ai/openai/openaitest"
	"github.com/iace/iace/media/telnyx/callcontrol/callcontroltest"
)

// The key every fake accepts.
const fakeKey = "fake-key"

// fakeFlags are the vendor latencies of `iace fakes`.
type fakeFlags struct {
	sttFinal, llmFirst, llmChunk, ttsFirst time.Duration
}

func (f *fakeFlags) bind(fs *flag.FlagSet) {
	fs.DurationVar(&f.sttFinal, "stt-final", 150*time.Millisecond, "Deepgram: from Finalize to the final transcript")
	fs.DurationVar(&f.llmFirst, "llm-first-token", 250*time.Millisecond, "LLM: time to the first streamed token")
	fs.DurationVar(&f.llmChunk, "llm-chunk", 20*time.Millisecond, "LLM: time between streamed chunks")
	fs.DurationVar(&f.ttsFirst, "tts-first-byte", 150*time.Millisecond, "Aura: time to the first audio byte")
}

// fakes runs `iace fakes`: the in-repo fakes of Deepgram, an OpenAI-compatible
// LLM and Telnyx Call Control on loopback ports, with the vendor latencies of
// a realistic call, so iace serve can be load-tested through its real
// clients. It prints how to point iace serve at them and runs until ctx ends.
func fakes(ctx context.Context, args []string, stdout, _ io.Writer) error {
	var f fakeFlags
	fs := silentFlagSet("fakes")
	f.bind(fs)
	positional, _, err := parseArgs(lookup("fakes"), fs, args, nil)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return usageErrorf("fakes", "unexpected arguments %q", positional)
	}
	dg := deepgramtest.NewServer(deepgramtest.Config{
		APIKey:          fakeKey,
		Transcripts:     []string{"what are your opening hours", "how much does it cost", "goodbye"},
		Repeat:          true,
		TimeToFinal:     f.sttFinal,
		TimeToFirstByte: f.ttsFirst,
	})
	defer dg.Close()
	llm := openaitest.Start(openaitest.Options{APIKey: fakeKey})
	defer llm.Close()
	llm.SetDefaultChat(openaitest.ChatReply{
		Text:           []string{"We are open ", "Monday to Friday, ", "nine to five. ", "Anything else?"},
		FirstByteDelay: f.llmFirst,
		ChunkDelay:     f.llmChunk,
	})
	tx := callcontroltest.NewServer(fakeKey)
	defer tx.Close()

	fmt.Fprintf(stdout, `fakes running (Ctrl-C to stop). Point iace serve at them:

  %s=%s %s=%s %s=%s \
    iace serve --llm-base-url %s --deepgram-url %s --telnyx-api-url %s

latencies: STT final %v, LLM first token %v (then %v a chunk), TTS first byte %v
`, envLLMKey, fakeKey, envDeepgramKey, fakeKey, envTelnyxKey, fakeKey, llm.URL, dg.URL(), tx.BaseURL(),
		f.sttFinal, f.llmFirst, f.llmChunk, f.ttsFirst)
	<-ctx.Done()
	// What reached the fake Telnyx, so a run can check what the server did
	// (or did not) ask of Call Control.
	byAction := map[string]int{}
	cmds := tx.Commands()
	for _, c := range cmds {
		byAction[c.Action]++
	}
	fmt.Fprintf(stdout, "telnyx call control: %d commands %v\n", len(cmds), byAction)
	return nil
}
