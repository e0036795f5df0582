package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// There is no container engine on the development machine, so the image is
// checked here by BuildKit's own Dockerfile parser and linter (what
// `docker buildx build` runs first) and by field checks; CI builds it
// (.github/workflows/image.yml).

// image is the parsed deploy/Dockerfile.
type image struct {
	stages []instructions.Stage
	meta   []instructions.ArgCommand
}

func parseDockerfile(t *testing.T, src string) (image, []string) {
	t.Helper()
	res, err := parser.Parse(strings.NewReader(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	var warnings []string
	for _, w := range res.Warnings {
		warnings = append(warnings, w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, desc, url, msg string, loc []parser.Range) {
		warnings = append(warnings, fmt.Sprintf("%s: %s (line %v)", rule, msg, loc))
	}})
	stages, meta, err := instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("instructions: %v", err)
	}
	return image{stages: stages, meta: meta}, warnings
}

func readDockerfile(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repositoryRoot(t), "deploy", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (im image) stage(name string) (instructions.Stage, bool) {
	for _, s := range im.stages {
		if s.Name == name {
			return s, true
		}
	}
	return instructions.Stage{}, false
}

// finalStages are the images someone runs: the stages that no other stage
// builds on (FROM) or copies from (COPY --from).
func (im image) finalStages() []instructions.Stage {
	used := map[string]bool{}
	for _, s := range im.stages {
		used[s.BaseName] = true
		for _, c := range s.Commands {
			if cp, ok := c.(*instructions.CopyCommand); ok && cp.From != "" {
				used[cp.From] = true
			}
		}
	}
	var out []instructions.Stage
	for _, s := range im.stages {
		if !used[s.Name] {
			out = append(out, s)
		}
	}
	return out
}

// checkImage returns what is wrong with a parsed Dockerfile: the checks a
// reviewer of the image would make.
func checkImage(im image, goToolchain, ldflags string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	build, ok := im.stage("build")
	if !ok {
		return []string{`no stage "build"`}
	}
	// The Go toolchain of the image is go.mod's.
	if want := "golang:" + strings.TrimPrefix(goToolchain, "go") + "-"; !strings.HasPrefix(build.BaseName, want) {
		bad("build stage FROM %s: want %s<debian release> (go.mod: toolchain %s)", build.BaseName, want, goToolchain)
	}
	var cgoOff, built bool
	for _, c := range build.Commands {
		switch c := c.(type) {
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				if kv.Key == "CGO_ENABLED" && kv.Value == "0" {
					cgoOff = true
				}
			}
		case *instructions.RunCommand:
			line := strings.Join(c.CmdLine, " ")
			if strings.Contains(line, "CGO_ENABLED=0") {
				cgoOff = true
			}
			if strings.Contains(line, "go build") {
				built = true
				if !strings.Contains(line, "-trimpath") {
					bad("go build without -trimpath: %s", line)
				}
				if !strings.Contains(line, `-ldflags "`+ldflags+`"`) {
					bad("go build ldflags differ from the Makefile's (%s): %s", ldflags, line)
				}
				if !strings.Contains(line, "./cmd/iace") {
					bad("go build does not build ./cmd/iace: %s", line)
				}
			}
		}
	}
	if !cgoOff {
		bad("build stage does not set CGO_ENABLED=0: the binary would need a C library the final image lacks")
	}
	if !built {
		bad("build stage runs no go build")
	}

	for _, s := range im.stages {
		if s.BaseName == "scratch" || slices.ContainsFunc(im.stages, func(o instructions.Stage) bool { return o.Name == s.BaseName }) {
			continue
		}
		if !pinned(s.BaseName) {
			bad("stage %s: base image %s is not pinned to a version tag or digest", s.Name, s.BaseName)
		}
	}

	finals := im.finalStages()
	if len(finals) < 2 {
		bad("want two final images (static and voice), found %d", len(finals))
	}
	for _, s := range finals {
		user, env, ports, health, entry := "", map[string]string{}, []string{}, (*instructions.HealthCheckCommand)(nil), []string(nil)
		for _, c := range s.Commands {
			switch c := c.(type) {
			case *instructions.UserCommand:
				user = c.User
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					env[kv.Key] = kv.Value
				}
			case *instructions.ExposeCommand:
				ports = append(ports, c.Ports...)
			case *instructions.HealthCheckCommand:
				health = c
			case *instructions.EntrypointCommand:
				entry = c.CmdLine
			}
		}
		uid, _, _ := strings.Cut(user, ":")
		if n, err := strconv.Atoi(uid); user == "" || uid == "root" || (err == nil && n == 0) || err != nil {
			bad("stage %s: USER %q: want a numeric non-root uid (Kubernetes' runAsNonRoot checks it)", s.Name, user)
		}
		if len(entry) == 0 || entry[0] != "/usr/local/bin/iace" {
			bad("stage %s: ENTRYPOINT %q: want /usr/local/bin/iace", s.Name, entry)
		}
		public := portOf(env["IACE_ADDR"], ":8080")
		internal := portOf(env["IACE_INTERNAL_ADDR"], "")
		if internal == "" || strings.HasPrefix(env["IACE_INTERNAL_ADDR"], "127.") {
			bad("stage %s: IACE_INTERNAL_ADDR %q: the internal listener must listen beyond loopback in a container", s.Name, env["IACE_INTERNAL_ADDR"])
		}
		for _, p := range []string{public, internal} {
			if !slices.Contains(ports, p) {
				bad("stage %s: EXPOSE %v lacks the listener port %s", s.Name, ports, p)
			}
		}
		if udp := env["IACE_WEBRTC_UDP_PORT"]; udp == "" || !slices.Contains(ports, udp+"/udp") {
			bad("stage %s: the WebRTC port %q is not exposed as UDP (EXPOSE %v)", s.Name, udp, ports)
		}
		if env["IACE_DATA_DIR"] == "" {
			bad("stage %s: IACE_DATA_DIR unset: the default ./data is relative to the working directory", s.Name)
		}
		if health != nil {
			test := strings.Join(health.Health.Test, " ")
			if !strings.Contains(test, "/"+internal) || !strings.Contains(test, "/healthz") {
				bad("stage %s: HEALTHCHECK %q does not ask /healthz on the internal port %s", s.Name, test, internal)
			}
		}
	}
	voice, ok := im.stage("voice")
	if !ok {
		bad(`no stage "voice"`)
	} else if !slices.ContainsFunc(voice.Commands, func(c instructions.Command) bool {
		r, ok := c.(*instructions.RunCommand)
		return ok && strings.Contains(strings.Join(r.CmdLine, " "), "espeak-ng")
	}) {
		bad("stage voice does not install espeak-ng")
	}
	return problems
}

// pinned: name:tag (not latest) or name@sha256:digest.
func pinned(ref string) bool {
	if strings.Contains(ref, "@sha256:") {
		return true
	}
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return false
	}
	tag := ref[i+1:]
	return tag != "" && tag != "latest"
}

// portOf is the port of a listen address, or of def when addr is empty.
func portOf(addr, def string) string {
	if addr == "" {
		addr = def
	}
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return ""
	}
	return addr[i+1:]
}

// toolchain and ldflags read what the Dockerfile must agree with.
func rootToolchain(t *testing.T) string {
	t.Helper()
	mod, err := os.ReadFile(filepath.Join(repositoryRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^toolchain (go\S+)$`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no toolchain line")
	}
	return string(m[1])
}

func makefileLDFlags(t *testing.T) string {
	t.Helper()
	mk, err := os.ReadFile(filepath.Join(repositoryRoot(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^LDFLAGS\s*:=\s*(.+)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("Makefile has no LDFLAGS line")
	}
	// The Makefile's $(VERSION) is the Dockerfile's ${VERSION} build arg.
	return strings.ReplaceAll(strings.TrimSpace(string(m[1])), "$(VERSION)", "${VERSION}")
}

func TestDockerfileParsesWithoutLintWarnings(t *testing.T) {
	_, warnings := parseDockerfile(t, readDockerfile(t))
	for _, w := range warnings {
		t.Error(w)
	}
	// The linter does speak: a mixed-case FROM ... as, an upper-case stage
	// name and MAINTAINER are its warnings.
	_, warnings = parseDockerfile(t, "FROM debian:trixie-slim as Base\nMAINTAINER someone\n")
	if len(warnings) < 3 {
		t.Errorf("the linter found %d problems in a Dockerfile with three: %q", len(warnings), warnings)
	}
}

func TestDockerfileBuildsAStaticNonRootImage(t *testing.T) {
	im, _ := parseDockerfile(t, readDockerfile(t))
	for _, p := range checkImage(im, rootToolchain(t), makefileLDFlags(t)) {
		t.Error(p)
	}
	// The image's ports are the server's: --addr's default, and the
	// internal listener the image moves off loopback.
	f := server(t)
	if s, ok := f.lookup("IACE_ADDR"); !ok || portOf(s.Default, "") != "8080" {
		t.Errorf("iace serve --addr default %q: the image exposes 8080", s.Default)
	}
	if s, ok := f.lookup("IACE_INTERNAL_ADDR"); !ok || portOf(s.Default, "") != "9090" {
		t.Errorf("iace serve --internal-addr default %q: the image exposes 9090", s.Default)
	}
}

// TestDockerfileChecksCatchMistakes breaks the Dockerfile in the ways the
// checks are there for, one at a time: each must be reported.
func TestDockerfileChecksCatchMistakes(t *testing.T) {
	good := readDockerfile(t)
	toolchain, ldflags := rootToolchain(t), makefileLDFlags(t)
	im, _ := parseDockerfile(t, good)
	if p := checkImage(im, toolchain, ldflags); len(p) > 0 {
		t.Fatalf("the Dockerfile itself fails: %v", p)
	}
	for _, tc := range []struct {
		name, old, new, want string
		last                 bool // replace the last occurrence, not the first
	}{
		{name: "runs as root", old: "USER 65532:65532", new: "USER 0", want: "non-root", last: true},
		{name: "runs as a user by name", old: "USER 65532:65532", new: "USER nonroot", want: "non-root"},
		{name: "cgo on", old: "ENV CGO_ENABLED=0", new: "ENV CGO_ENABLED=1", want: "CGO_ENABLED=0"},
		{name: "unpinned base", old: "debian:trixie-slim", new: "debian", want: "not pinned"},
		{name: "latest base", old: "gcr.io/distroless/static-debian13:nonroot", new: "gcr.io/distroless/static-debian13:latest", want: "not pinned"},
		{name: "another toolchain", old: "golang:1.26.10-trixie", new: "golang:1.25.0-trixie", want: "go.mod"},
		{name: "no metrics port", old: "EXPOSE 8080 9090 50000/udp", new: "EXPOSE 8080 50000/udp", want: "listener port 9090"},
		{name: "no WebRTC port", old: "EXPOSE 8080 9090 50000/udp", new: "EXPOSE 8080 9090", want: "UDP", last: true},
		{name: "internal listener on loopback", old: "IACE_INTERNAL_ADDR=:9090", new: "IACE_INTERNAL_ADDR=127.0.0.1:9090", want: "beyond loopback"},
		{name: "health on another path", old: "GET /healthz", new: "GET /status", want: "HEALTHCHECK"},
		{name: "no espeak-ng", old: "espeak-ng ca-certificates", new: "ca-certificates", want: "espeak-ng"},
		{name: "other ldflags", old: `-ldflags "-s -w -X main.version=${VERSION}"`, new: `-ldflags "-X main.version=${VERSION}"`, want: "ldflags"},
		{name: "no trimpath", old: "go build -trimpath", new: "go build", want: "-trimpath"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.old) {
				t.Fatalf("the Dockerfile no longer contains %q: update this case", tc.old)
			}
			broken := strings.Replace(good, tc.old, tc.new, 1)
			if tc.last {
				i := strings.LastIndex(good, tc.old)
				broken = good[:i] + tc.new + good[i+len(tc.old):]
			}
			im, _ := parseDockerfile(t, broken)
			p := checkImage(im, toolchain, ldflags)
			if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, tc.want) }) {
				t.Errorf("want a problem mentioning %q, got %q", tc.want, p)
			}
		})
	}
}

// TestDockerignoreKeepsWhatTheBuildReads checks the build context: every
// Go file and embedded file of every package ./cmd/iace is built from must
// survive .dockerignore, or `docker build` fails where `go build` works.
func TestDockerignoreKeepsWhatTheBuildReads(t *testing.T) {
	root := repositoryRoot(t)
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(f)
	_ = f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", "-json=Dir,Module,GoFiles,EmbedFiles", "./cmd/iace")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=auto", "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	ignored := func(rel string) bool {
		m, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	var files int
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			Dir        string
			Module     *struct{ Path string }
			GoFiles    []string
			EmbedFiles []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || p.Module.Path != "github.com/iace/iace" {
			continue // the standard library and module dependencies
		}
		for _, name := range append(p.GoFiles, p.EmbedFiles...) {
			rel, err := filepath.Rel(root, filepath.Join(p.Dir, name))
			if err != nil {
				t.Fatal(err)
			}
			files++
			if ignored(rel) {
				t.Errorf(".dockerignore leaves out %s, which go build ./cmd/iace reads", rel)
			}
		}
	}
	for _, rel := range []string{"go.mod", "go.sum"} {
		if ignored(rel) {
			t.Errorf(".dockerignore leaves out %s", rel)
		}
	}
	if files < 100 {
		t.Fatalf("go list found only %d files of ours: the check checked nothing", files)
	}
	// And it does leave out what the build must not see.
	for _, rel := range []string{".git/config", "bin/iace", "data/iace.db", "session/session_test.go", "deploy/go.mod"} {
		if !ignored(rel) {
			t.Errorf(".dockerignore lets %s into the build context", rel)
		}
	}
}
