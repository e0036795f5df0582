package k6

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/iace/iace/media"
)

// TestScriptParses runs `node --check` on each script (copied to .mjs so
// node parses it as an ES module, as k6 does). k6 itself is not needed: node
// only parses, it does not resolve the k6/* imports.
func TestScriptParses(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not on PATH; cannot syntax-check the scripts")
	}
	for _, name := range []string{"calls.js", "api.js"} {
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			mjs := filepath.Join(t.TempDir(), strings.TrimSuffix(name, ".js")+".mjs")
			if err := os.WriteFile(mjs, src, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.CommandContext(t.Context(), node, "--check", mjs).CombinedOutput()
			if err != nil {
				t.Fatalf("node --check %s: %v\n%s", name, err, out)
			}
		})
	}
}

// TestScriptFrames checks the embedded frames: 160 bytes of mu-law each,
// silence all 0xFF, the tone loud enough for a voice-activity detector.
func TestScriptFrames(t *testing.T) {
	src, err := os.ReadFile("calls.js")
	if err != nil {
		t.Fatal(err)
	}
	frame := func(name string) []byte {
		m := regexp.MustCompile(`const ` + name + ` = '([A-Za-z0-9+/=]+)';`).FindSubmatch(src)
		if m == nil {
			t.Fatalf("no %s constant in calls.js", name)
		}
		raw, err := base64.StdEncoding.DecodeString(string(m[1]))
		if err != nil || len(raw) != 160 {
			t.Fatalf("%s: %d bytes, %v; want one 20 ms PCMU frame", name, len(raw), err)
		}
		return raw
	}
	for i, b := range frame("SILENCE") {
		if b != 0xFF {
			t.Fatalf("SILENCE byte %d is %#x", i, b)
		}
	}
	pcm := make([]int16, 160)
	media.DecodeULawTo(pcm, frame("TONE"))
	var peak int16
	for _, s := range pcm {
		peak = max(peak, s)
	}
	if peak < 4000 {
		t.Errorf("TONE peaks at %d, too quiet to count as speech", peak)
	}
}
