package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestEveryCommandHasHelp: each subcommand answers -h, --help and `iace
// help <command>` with exit status 0 and its help on stdout, in one form:
// the usage line naming the command, then its flags, each with its default.
func TestEveryCommandHasHelp(t *testing.T) {
	tests := []struct {
		name  string
		flags []string // the flags its help must name, at least
		serve bool     // points to serve's settings
	}{
		{"serve", []string{"--addr", "--internal-addr", "--data-dir", "--drain-timeout", "--vad-barge-in-min", "--otlp-endpoint", "IACE_ADDR", "IACE_DATABASE_URL"}, false},
		{"migrate", nil, true},
		{"user", []string{"--org", "--org-name", "--email", "--role"}, true},
		{"number", []string{"--org"}, true},
		{"backup", []string{"--out", "--force", "--data-dir", "IACE_DATA_DIR"}, false},
		{"restore", []string{"--from", "--force", "--dry-run", "--data-dir", "IACE_DATA_DIR"}, false},
		{"fakes", []string{"--stt-final", "--llm-first-token", "--llm-chunk", "--tts-first-byte"}, false},
		{"completion", nil, false},
		{"version", nil, false},
		{"help", nil, false},
	}
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	var tested []string
	for _, tt := range tests {
		tested = append(tested, tt.name)
	}
	if !slices.Equal(names, tested) {
		t.Fatalf("commands %v, tested %v: every command needs its row here", names, tested)
	}
	for _, tt := range tests {
		cmd := lookup(tt.name)
		for _, args := range [][]string{{tt.name, "-h"}, {tt.name, "--help"}, {tt.name, "-help"}, {"help", tt.name}} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				if code := cli(t.Context(), args, env(nil), nil, &stdout, &stderr); code != exitOK || stderr.Len() > 0 {
					t.Fatalf("exit %d, stderr %q", code, stderr.String())
				}
				help := stdout.String()
				if !strings.HasPrefix(help, "Usage: iace "+tt.name) {
					t.Errorf("help does not start with the usage line:\n%s", help)
				}
				want := slices.Clone(tt.flags)
				own := 0
				newFlagSet(cmd).VisitAll(func(f *flag.Flag) {
					want = append(want, "--"+f.Name)
					own++
				})
				if own > 0 {
					want = append(want, "\nflag ") // the table's header
				}
				if tt.serve {
					want = append(want, "iace help serve")
				}
				for _, w := range want {
					if !strings.Contains(help, w) {
						t.Errorf("help lacks %q:\n%s", w, help)
					}
				}
				if strings.Contains(help, "\t") {
					t.Errorf("help has raw tabs:\n%s", help)
				}
			})
		}
	}
	// A command's own flags come with their defaults.
	var out bytes.Buffer
	cli(t.Context(), []string{"fakes", "--help"}, env(nil), nil, &out, &out)
	if !strings.Contains(out.String(), "250ms") || !strings.Contains(out.String(), "LLM: time to the first streamed token") {
		t.Errorf("fakes help lacks a default or a meaning:\n%s", out.String())
	}
	out.Reset()
	cli(t.Context(), []string{"help"}, env(nil), nil, &out, &out)
	for _, name := range names {
		if !strings.Contains(out.String(), "\n  "+name+" ") {
			t.Errorf("iace help does not list %s:\n%s", name, out.String())
		}
	}
}

// TestACommandLineIaceDoesNotTakeExitsTwo: an unknown command, a flag a
// command does not have, a bad flag value, a missing verb or argument:
// exit status 2, nothing on stdout, and on stderr a short message saying
// which help to read.
func TestACommandLineIaceDoesNotTakeExitsTwo(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"help", "serve", "user"}, "iace help help"},
		{[]string{"serve", "--no-such-flag"}, "iace help serve"},
		{[]string{"serve", "--drain-timeout", "soon"}, "iace help serve"},
		{[]string{"serve", "extra"}, "unexpected arguments"},
		{[]string{"migrate"}, "want up, down or status"},
		{[]string{"migrate", "sideways"}, `not "sideways"`},
		{[]string{"migrate", "up", "--no-such-flag"}, "iace help migrate"},
		{[]string{"migrate", "up", "down"}, "want up, down or status"},
		{[]string{"user"}, "want create"},
		{[]string{"user", "create", "--org"}, "flag needs an argument"},
		{[]string{"user", "create", "--email", "a@b.example"}, "--org and --email are required"},
		{[]string{"number", "allot", "--org", "acme"}, "at least one number"},
		{[]string{"number", "allot", "--org", "acme", "5550001234"}, "want E.164"},
		{[]string{"number", "lend", "--org", "acme", "+15550001234"}, "want allot or release"},
		{[]string{"backup"}, "--out is required"},
		{[]string{"backup", "--out"}, "flag needs an argument"},
		{[]string{"restore", "--data-dir", "x"}, "--from is required"},
		{[]string{"fakes", "--stt-final", "soon"}, "iace help fakes"},
		{[]string{"completion"}, "want bash or zsh"},
		{[]string{"completion", "fish"}, `no completion for "fish"`},
		{[]string{"version", "extra"}, "unexpected arguments"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := cli(t.Context(), tt.args, env(nil), nil, &stdout, &stderr)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr.String(), tt.want) || !strings.Contains(stderr.String(), "Run 'iace help") {
				t.Errorf("stderr %q lacks %q or where the help is", stderr.String(), tt.want)
			}
			if n := strings.Count(stderr.String(), "\n"); n > 2 {
				t.Errorf("stderr has %d lines, want a short message:\n%s", n, stderr.String())
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout %q", stdout.String())
			}
		})
	}
	t.Run("no command", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if code := cli(t.Context(), nil, env(nil), nil, &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "Commands:") {
			t.Errorf("exit %d, stderr %q", code, stderr.String())
		}
	})
}

// TestAFailureExitsOne: a command line iace takes that then fails (a bad
// setting, a missing database) exits with status 1.
func TestAFailureExitsOne(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--log-level", "loud"},
		{"backup", "--data-dir", t.TempDir(), "--out", filepath.Join(t.TempDir(), "b.db")},
	} {
		var stderr bytes.Buffer
		if code := cli(t.Context(), args, env(nil), nil, &bytes.Buffer{}, &stderr); code != exitError || !strings.HasPrefix(stderr.String(), "iace: ") {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr.String())
		}
	}
}

// TestServeSettingsGoWithEveryCommand: the store settings another command
// takes may come before or after its own flags and verb, from the
// environment too, and a flag wins over the environment.
func TestServeSettingsGoWithEveryCommand(t *testing.T) {
	flagDir, envDir := t.TempDir(), t.TempDir()
	for _, args := range [][]string{
		{"migrate", "--data-dir", flagDir, "--migrate", "up"},
		{"migrate", "up", "--data-dir=" + flagDir},
	} {
		if code := cli(t.Context(), args, env(map[string]string{"IACE_DATA_DIR": envDir}), nil, &bytes.Buffer{}, &bytes.Buffer{}); code != exitOK {
			t.Fatalf("%q: exit %d", args, code)
		}
	}
	if _, err := os.Stat(embeddedPath(flagDir)); err != nil {
		t.Errorf("migrate did not use --data-dir: %v", err)
	}
	if _, err := os.Stat(embeddedPath(envDir)); err == nil {
		t.Error("the environment won over the flag")
	}
	var out bytes.Buffer
	if code := cli(t.Context(), []string{"migrate", "status"}, env(map[string]string{"IACE_DATA_DIR": envDir}), nil, &out, &bytes.Buffer{}); code != exitOK ||
		!strings.Contains(out.String(), "pending") {
		t.Errorf("migrate status from IACE_DATA_DIR: exit %d, %q", code, out.String())
	}
}

// completionCases are command lines being typed, where the cursor is at the
// end of the last word, and what bash must offer there.
var completionCases = []struct {
	words []string
	want  []string
}{
	{[]string{"iace", "mig"}, []string{"migrate"}},
	{[]string{"iace", "migrate", ""}, []string{"up", "down", "status"}},
	{[]string{"iace", "migrate", "up", "--data-d"}, []string{"--data-dir"}},
	{[]string{"iace", "backup", "--f"}, []string{"--force"}},
	{[]string{"iace", "restore", "--d"}, []string{"--data-dir", "--dry-run"}},
	{[]string{"iace", "serve", "--vad-barge"}, []string{"--vad-barge-in-min"}},
	{[]string{"iace", "user", "create", "--or"}, []string{"--org", "--org-max-calls", "--org-name"}},
	{[]string{"iace", "help", "re"}, []string{"restore"}},
	{[]string{"iace", "completion", ""}, []string{"bash", "zsh"}},
	{[]string{"iace", "backup", "--out", "dat"}, []string{"data.db"}},
	{[]string{"iace", "backup", "--out", "=", "dat"}, []string{"data.db"}},
	{[]string{"iace", "serve", "--addr", ""}, nil},
}

// TestBashCompletion: the bash script parses (bash -n), and, sourced, its
// function offers the commands, verbs, flags and files it should.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash on this machine")
	}
	var script bytes.Buffer
	if code := cli(t.Context(), []string{"completion", "bash"}, env(nil), nil, &script, &script); code != exitOK {
		t.Fatalf("exit %d: %s", code, script.String())
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "iace.bash")
	if err := os.WriteFile(path, script.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(t.Context(), bash, "-n", path).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "data.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range completionCases {
		t.Run(strings.Join(tt.words, " "), func(t *testing.T) {
			var words strings.Builder
			for _, w := range tt.words {
				words.WriteString(" " + shellQuote(w))
			}
			prog := "source " + shellQuote(path) + "\nCOMP_WORDS=(" + words.String() + ")\nCOMP_CWORD=" +
				strconv.Itoa(len(tt.words)-1) + "\n_iace\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
			cmd := exec.CommandContext(t.Context(), bash, "--norc", "--noprofile", "-c", prog)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			got := strings.Fields(string(out))
			slices.Sort(got)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("offered %q, want %q", got, want)
			}
		})
	}
}

// TestZshCompletion: the zsh script parses (zsh -n) and loads under
// compinit, defining the completion of iace.
func TestZshCompletion(t *testing.T) {
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Skip("zsh is not installed on this machine (Debian package zsh); the bash script is tested")
	}
	var script bytes.Buffer
	if code := cli(t.Context(), []string{"completion", "zsh"}, env(nil), nil, &script, &script); code != exitOK {
		t.Fatalf("exit %d: %s", code, script.String())
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "_iace")
	if err := os.WriteFile(path, script.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(t.Context(), zsh, "-n", path).CombinedOutput(); err != nil {
		t.Fatalf("zsh -n: %v\n%s", err, out)
	}
	prog := "fpath=(" + shellQuote(dir) + " $fpath)\nautoload -Uz compinit\ncompinit -u -d " + shellQuote(filepath.Join(dir, "zcompdump")) +
		"\nprint -r -- ${_comps[iace]}\n"
	cmd := exec.CommandContext(t.Context(), zsh, "-f", "-c", prog)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "_iace" {
		t.Errorf("compinit with the script: %v, %q (want _iace)", err, out)
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
