// Package docs_test checks that the repository's documents and code point
// only at what exists inside the repository: every relative Markdown link
// and image resolves to a file (and its #anchor to a heading, by GitHub's
// rules), every repository path a Go comment or a Markdown text names
// exists (and the section it cites, for the protocol documents), and no
// file points outside the repository. External links are not fetched.
package docs_test

import (
	"bufio"
	"bytes"
	"fmt"
	"go/scanner"
	"go/token"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// repoRoot is the root module's directory, one up from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !bytes.HasPrefix(mod, []byte("module github.com/iace/iace\n")) {
		t.Fatalf("%s is not the root of the iace module (go.mod: %v)", root, err)
	}
	return root
}

func TestMarkdownLinksResolve(t *testing.T) {
	report(t, checkMarkdownLinks(repoRoot(t)))
}

func TestRepositoryPathsNamedInCommentsAndDocsExist(t *testing.T) {
	root := repoRoot(t)
	report(t, checkNamedPaths(root))
	names, err := filepath.Glob(filepath.Join(root, "docs", "protocols", "*.md"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no documents in docs/protocols (%v)", err)
	}
	for i, n := range names {
		names[i] = regexp.QuoteMeta(strings.TrimSuffix(filepath.Base(n), ".md"))
	}
	report(t, checkProtocolNames(root, names))
}

func TestNothingPointsOutsideTheRepository(t *testing.T) {
	report(t, checkNoOutsidePaths(repoRoot(t)))
}

// TestTheChecksFindWhatIsBroken runs the checks on a small tree with one
// of each mistake, and on its mended twin: the checks above can fail.
func TestTheChecksFindWhatIsBroken(t *testing.T) {
	root := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("docs/protocols/wire.md", "# Wire\n\n## 1. Frames\n\n### 1.2 `start` and stop\n\n## Frames\n\n## Frames\n")
	write("docs/GUIDE.md", strings.Join([]string{
		"# Guide",
		"See [the wire](protocols/wire.md#12-start-and-stop), [again](protocols/wire.md#frames-1),",
		"[the folder](protocols/), [home](../README.md), [here](#guide) and ![a picture](img/missing.png).",
		"[gone](protocols/nowhere.md), [bad anchor](protocols/wire.md#2-nothing), [out](../../elsewhere.md).",
		"A [reference][wire] and an [undefined one][nothing].",
		"```sh",
		"# not a heading; [not a link](nowhere.md)",
		"```",
		"Inline code is not a link: `[x](nowhere.md)`.",
		"",
		"[wire]: protocols/wire.md#1-frames",
		"",
	}, "\n"))
	write("README.md", "# Readme\n\nThe rules: [guide](docs/GUIDE.md#guide). The notes are in "+"../"+"shared/notes.md.\n")
	write("media/doc.go", "// Package media follows docs/protocols/wire.md section 1.2 and docs/protocols/wire.md 3.\n"+
		"// See docs/MISSING.md; not this: https://example.com/docs/other.md.\n// Built at "+"/"+"root/x.\npackage media\n")
	write("media/frame.go", "package media\n\n// Frames are 20 ms (wire.md 1.2).\nconst frame = 20\n")

	got := slices.Concat(checkMarkdownLinks(root), checkNamedPaths(root), checkProtocolNames(root, []string{"wire"}), checkNoOutsidePaths(root))
	want := []string{
		"docs/GUIDE.md:3: ![a picture](img/missing.png): no such file",
		"docs/GUIDE.md:4: [gone](protocols/nowhere.md): no such file",
		"docs/GUIDE.md:4: [bad anchor](protocols/wire.md#2-nothing): no heading #2-nothing in docs/protocols/wire.md",
		"docs/GUIDE.md:4: [out](../../elsewhere.md): outside the repository",
		"docs/GUIDE.md:5: [undefined one][nothing]: no definition of [nothing]",
		"media/doc.go:1: docs/protocols/wire.md 3: no section 3 in docs/protocols/wire.md",
		"media/doc.go:2: docs/MISSING.md: no such file",
		"README.md:3: " + "../" + "shared: points outside the repository",
		"media/doc.go:3: " + "/" + "root/: an absolute path on a machine",
		"media/frame.go:3: wire.md: name it docs/protocols/wire.md",
	}
	var lines []string
	for _, p := range got {
		lines = append(lines, p.String())
	}
	slices.Sort(lines)
	slices.Sort(want)
	if !slices.Equal(lines, want) {
		t.Errorf("problems found:\n\t%s\nwant:\n\t%s", strings.Join(lines, "\n\t"), strings.Join(want, "\n\t"))
	}

	// Mended, the same tree passes.
	write("docs/GUIDE.md", "# Guide\n\nSee [the wire](protocols/wire.md#12-start-and-stop) and [home](../README.md).\n")
	write("README.md", "# Readme\n\nThe rules: [guide](docs/GUIDE.md#guide).\n")
	write("media/doc.go", "// Package media follows docs/protocols/wire.md section 1.2.\npackage media\n")
	write("media/frame.go", "package media\n\n// Frames are 20 ms (docs/protocols/wire.md 1.2).\nconst frame = 20\n")
	got = slices.Concat(checkMarkdownLinks(root), checkNamedPaths(root), checkProtocolNames(root, []string{"wire"}), checkNoOutsidePaths(root))
	if len(got) != 0 {
		t.Errorf("the mended tree still has problems: %v", got)
	}
}

// problem is one broken reference, at a line of a file (slash-separated,
// relative to the root).
type problem struct {
	file string
	line int
	msg  string
}

func (p problem) String() string { return fmt.Sprintf("%s:%d: %s", p.file, p.line, p.msg) }

func report(t *testing.T, ps []problem) {
	t.Helper()
	for _, p := range ps {
		t.Error(p)
	}
}

// skipDirs are directories that hold no documents of the repository: its
// git data, dependencies, and what builds, runs and load runs leave behind
// (.gitignore).
var skipDirs = map[string]bool{".git": true, "node_modules": true, "bin": true, "dist": true, "data": true, "heard": true}

// files returns the files under root whose names end in one of exts, as
// slash-separated paths relative to root.
func files(root string, exts ...string) []string {
	var out []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil //nolint:nilerr // an unreadable entry is skipped, not a reason to stop
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if skipDirs[d.Name()] || rel == "loadtest/out" {
				return filepath.SkipDir
			}
			return nil
		}
		for _, e := range exts {
			if strings.HasSuffix(d.Name(), e) {
				out = append(out, rel)
				break
			}
		}
		return nil
	})
	return out
}

// mdLine is a line of a Markdown document outside code blocks, with its
// code spans replaced by their text in quotes-free form.
type mdLine struct {
	n    int
	text string
}

// mdDoc is what the checks need of a Markdown document.
type mdDoc struct {
	lines   []mdLine
	anchors map[string]bool
	// sections are the headings' texts, for "section 1.2" references.
	sections []string
	defs     map[string]bool
}

var (
	fenceRE   = regexp.MustCompile("^ {0,3}(`{3,}|~{3,})")
	headingRE = regexp.MustCompile(`^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$`)
	defRE     = regexp.MustCompile(`^ {0,3}\[([^\]]+)\]:[ \t]*(<[^>]*>|\S+)`)
	linkRE    = regexp.MustCompile(`(!?)\[([^\]]*)\]\([ \t]*(<[^>]*>|[^)\s]+)(?:[ \t]+"[^"]*")?[ \t]*\)`)
	refRE     = regexp.MustCompile(`(!?)\[([^\]]+)\]\[([^\]]*)\]`)
	htmlRE    = regexp.MustCompile(`<(?:a|img)\b[^>]*?\b(?:href|src)="([^"]+)"`)
	schemeRE  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	tagRE     = regexp.MustCompile(`<[^>]+>`)
)

// readMarkdown reads the document at root/rel.
func readMarkdown(root, rel string) (*mdDoc, error) {
	f, err := os.Open(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc := &mdDoc{anchors: map[string]bool{}, defs: map[string]bool{}}
	seen := map[string]int{}
	var fence string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if m := fenceRE.FindStringSubmatch(line); m != nil {
			switch {
			case fence == "":
				fence = m[1]
			case m[1][0] == fence[0] && len(m[1]) >= len(fence) && strings.TrimSpace(line) == m[1]:
				fence = ""
			}
			continue
		}
		if fence != "" {
			continue
		}
		text := stripCode(line)
		if m := headingRE.FindStringSubmatch(text); m != nil {
			title := headingText(m[2])
			doc.sections = append(doc.sections, title)
			s := slug(title)
			if k := seen[s]; k > 0 {
				doc.anchors[fmt.Sprintf("%s-%d", s, k)] = true
			} else {
				doc.anchors[s] = true
			}
			seen[s]++
		}
		if m := defRE.FindStringSubmatch(text); m != nil {
			doc.defs[refLabel(m[1])] = true
		}
		doc.lines = append(doc.lines, mdLine{n: n, text: text})
	}
	return doc, sc.Err()
}

// stripCode replaces each code span with its content, so that a link
// shown as code is not taken for one while a link whose text is code
// still is.
func stripCode(line string) string {
	var b strings.Builder
	for i := 0; i < len(line); {
		if line[i] != '`' {
			b.WriteByte(line[i])
			i++
			continue
		}
		n := 0
		for i+n < len(line) && line[i+n] == '`' {
			n++
		}
		ticks := line[i : i+n]
		end := -1
		for j := i + n; j < len(line); {
			k := strings.Index(line[j:], ticks)
			if k < 0 {
				break
			}
			k += j
			m := 0
			for k+m < len(line) && line[k+m] == '`' {
				m++
			}
			if m == n {
				end = k
				break
			}
			j = k + m
		}
		if end < 0 {
			b.WriteString(ticks)
			i += n
			continue
		}
		// The span's text, with what could read as link syntax defused.
		b.WriteString(strings.NewReplacer("[", "(", "]", ")").Replace(line[i+n : end]))
		i = end + n
	}
	return b.String()
}

// headingText is a heading as GitHub renders it to text: links and
// images become their text, emphasis marks and HTML tags go.
func headingText(s string) string {
	s = linkRE.ReplaceAllString(s, "$2")
	s = tagRE.ReplaceAllString(s, "")
	return strings.ReplaceAll(s, "*", "")
}

// slug is GitHub's anchor for a heading's text: lower case, letters,
// digits, hyphens and underscores kept, each space a hyphen, everything
// else dropped (a repeated slug gets -1, -2... in readMarkdown).
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func refLabel(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

// docs caches the documents read by one check.
type docs struct {
	root string
	m    map[string]*mdDoc
}

func (d *docs) get(rel string) *mdDoc {
	if doc, ok := d.m[rel]; ok {
		return doc
	}
	doc, err := readMarkdown(d.root, rel)
	if err != nil {
		doc = nil
	}
	d.m[rel] = doc
	return doc
}

func checkMarkdownLinks(root string) []problem {
	d := &docs{root: root, m: map[string]*mdDoc{}}
	var ps []problem
	for _, rel := range files(root, ".md") {
		doc := d.get(rel)
		if doc == nil {
			ps = append(ps, problem{rel, 0, "cannot be read"})
			continue
		}
		for _, l := range doc.lines {
			check := func(shown, target string) {
				if msg := d.resolve(rel, target); msg != "" {
					ps = append(ps, problem{rel, l.n, shown + ": " + msg})
				}
			}
			if m := defRE.FindStringSubmatch(l.text); m != nil {
				check("["+m[1]+"]: "+m[2], strings.Trim(m[2], "<>"))
				continue
			}
			for _, m := range linkRE.FindAllStringSubmatch(l.text, -1) {
				check(m[0], strings.Trim(m[3], "<>"))
			}
			for _, m := range refRE.FindAllStringSubmatch(l.text, -1) {
				label := m[3]
				if label == "" {
					label = m[2]
				}
				if !doc.defs[refLabel(label)] {
					ps = append(ps, problem{rel, l.n, m[0] + ": no definition of [" + label + "]"})
				}
			}
			for _, m := range htmlRE.FindAllStringSubmatch(l.text, -1) {
				check(m[0], m[1])
			}
		}
	}
	return ps
}

// resolve checks a link target written in the document from (relative to
// root) and says what is wrong with it, or "".
func (d *docs) resolve(from, target string) string {
	if schemeRE.MatchString(target) || strings.HasPrefix(target, "//") {
		return "" // external: not fetched
	}
	p, frag, _ := strings.Cut(target, "#")
	if u, err := url.PathUnescape(p); err == nil {
		p = u
	}
	rel := from
	if p != "" {
		if strings.HasPrefix(p, "/") {
			rel = path.Clean(strings.TrimPrefix(p, "/")) // GitHub: from the repository's root
		} else {
			rel = path.Join(path.Dir(from), p)
		}
		if rel == ".." || strings.HasPrefix(rel, "../") {
			return "outside the repository"
		}
		if _, err := os.Stat(filepath.Join(d.root, filepath.FromSlash(rel))); err != nil {
			return "no such file"
		}
	}
	if frag == "" || !strings.HasSuffix(rel, ".md") {
		return ""
	}
	doc := d.get(rel)
	if doc == nil || !doc.anchors[strings.ToLower(frag)] {
		return "no heading #" + frag + " in " + rel
	}
	return ""
}

// pathRE finds repository-relative file paths in text: at least one
// directory, then a file name with one of the extensions the repository's
// documents and code name. Only paths whose first directory is one at the
// repository's root are checked: anything else may be relative to its
// package, or a URL.
var (
	pathRE    = regexp.MustCompile(`(?:^|[^\w./-])((?:[\w-]+/)+[\w.-]+\.(?:md|go|sh|js|json|ya?ml|sql|png|wav|txt))\b`)
	sectionRE = regexp.MustCompile(`^,?[ \t]*(?:sections?[ \t]+|§[ \t]*)?(\d+(?:\.\d+)*)`)
)

// checkNamedPaths checks the paths named in Go comments and in Markdown
// prose, and the sections cited after a Markdown document's path.
func checkNamedPaths(root string) []problem {
	top := map[string]bool{}
	if entries, err := os.ReadDir(root); err == nil {
		for _, e := range entries {
			if e.IsDir() && !skipDirs[e.Name()] {
				top[e.Name()] = true
			}
		}
	}
	d := &docs{root: root, m: map[string]*mdDoc{}}
	var ps []problem
	check := func(file string, line int, text string) {
		for _, m := range pathRE.FindAllStringSubmatchIndex(text, -1) {
			name := text[m[2]:m[3]]
			first, _, _ := strings.Cut(name, "/")
			if !top[first] {
				continue
			}
			if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(name))); err != nil {
				ps = append(ps, problem{file, line, name + ": no such file"})
				continue
			}
			if !strings.HasSuffix(name, ".md") {
				continue
			}
			s := sectionRE.FindStringSubmatch(text[m[3]:])
			if s == nil {
				continue
			}
			if doc := d.get(name); doc == nil || !hasSection(doc, s[1]) {
				ps = append(ps, problem{file, line, name + " " + s[1] + ": no section " + s[1] + " in " + name})
			}
		}
	}
	for _, rel := range files(root, ".go") {
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			ps = append(ps, problem{rel, 0, "cannot be read"})
			continue
		}
		fset := token.NewFileSet()
		file := fset.AddFile(rel, -1, len(src))
		var s scanner.Scanner
		s.Init(file, src, func(token.Position, string) {}, scanner.ScanComments)
		for {
			pos, tok, lit := s.Scan()
			if tok == token.EOF {
				break
			}
			if tok != token.COMMENT {
				continue
			}
			start := fset.Position(pos).Line
			for i, l := range strings.Split(lit, "\n") {
				check(rel, start+i, l)
			}
		}
	}
	for _, rel := range files(root, ".md") {
		if doc := d.get(rel); doc != nil {
			for _, l := range doc.lines {
				check(rel, l.n, linkRE.ReplaceAllString(l.text, "$2"))
			}
		}
	}
	return ps
}

// hasSection reports whether doc has a heading numbered n ("1.2 ...",
// "1. ...").
func hasSection(doc *mdDoc, n string) bool {
	for _, s := range doc.sections {
		if rest, ok := strings.CutPrefix(s, n); ok {
			rest = strings.TrimPrefix(rest, ".")
			if rest == "" || rest[0] == ' ' {
				return true
			}
		}
	}
	return false
}

// checkProtocolNames finds one of the documents names (docs/protocols/<name>.md,
// names quoted for a regular expression) named without its directory in Go,
// JavaScript or shell source: code names them by their path, so that a
// reader, and checkNamedPaths, can find them.
func checkProtocolNames(root string, names []string) []problem {
	re := regexp.MustCompile(`(?:^|[^\w/.-])((?:` + strings.Join(names, "|") + `)\.md)\b`)
	var ps []problem
	for _, rel := range files(root, ".go", ".js", ".sh") {
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			ps = append(ps, problem{rel, 0, "cannot be read"})
			continue
		}
		for i, line := range strings.Split(string(src), "\n") {
			for _, m := range re.FindAllStringSubmatch(line, -1) {
				ps = append(ps, problem{rel, i + 1, m[1] + ": name it docs/protocols/" + m[1]})
			}
		}
	}
	return ps
}

// outsideRE finds what points outside the repository: the team's private
// notes beside it, and absolute paths of a development machine. The
// patterns are built from pieces so that this file does not match itself.
var outsideRE = regexp.MustCompile(`(` + regexp.QuoteMeta("../"+"shared") + `)|(?:^|[^\w.-])(/(?:` + "work" + `|` + "root" + `)/)`)

func checkNoOutsidePaths(root string) []problem {
	var ps []problem
	for _, rel := range files(root, ".go", ".md", ".sh", ".js", ".yml", ".yaml") {
		f, err := os.Open(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			ps = append(ps, problem{rel, 0, "cannot be read"})
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for n := 1; sc.Scan(); n++ {
			for _, m := range outsideRE.FindAllStringSubmatch(sc.Text(), -1) {
				if m[1] != "" {
					ps = append(ps, problem{rel, n, m[1] + ": points outside the repository"})
				} else {
					ps = append(ps, problem{rel, n, m[2] + ": an absolute path on a machine"})
				}
			}
		}
		_ = f.Close()
	}
	return ps
}
