package api

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// WriteMarkdown writes the reference of the API described by doc as
// Markdown: one section per tag, one entry per operation with its role,
// parameters, body fields and answers. docs/API.md is this output.
func WriteMarkdown(w io.Writer, doc *huma.OpenAPI) error {
	type entry struct {
		method, path string
		op           *huma.Operation
	}
	byTag := map[string][]entry{}
	var tags []string
	for path, item := range doc.Paths {
		for _, m := range []struct {
			name string
			op   *huma.Operation
		}{{"GET", item.Get}, {"POST", item.Post}, {"PUT", item.Put}, {"PATCH", item.Patch}, {"DELETE", item.Delete}} {
			if m.op == nil {
				continue
			}
			tag := "other"
			if len(m.op.Tags) > 0 {
				tag = m.op.Tags[0]
			}
			if _, seen := byTag[tag]; !seen {
				tags = append(tags, tag)
			}
			byTag[tag] = append(byTag[tag], entry{m.name, path, m.op})
		}
	}
	slices.Sort(tags)

	var b strings.Builder
	events := map[string]bool{} // event schemas whose fields are written already
	fmt.Fprintf(&b, "# %s %s\n\n", doc.Info.Title, doc.Info.Version)
	b.WriteString("<!-- Generated from the routes by `go test ./control/api -run TestAPIDocIsCurrent -update`; do not edit. -->\n\n")
	fmt.Fprintf(&b, "%s\n\n", doc.Info.Description)
	fmt.Fprintf(&b, "Base path `%s`. The machine-readable description is served at `%s/openapi.json` (OpenAPI 3.1). "+
		"Errors are `application/problem+json` (RFC 9457); every answer carries `X-Request-Id`.\n\n", Prefix, Prefix)
	for _, tag := range tags {
		entries := byTag[tag]
		slices.SortFunc(entries, func(x, y entry) int {
			if c := strings.Compare(x.path, y.path); c != 0 {
				return c
			}
			return strings.Compare(x.method, y.method)
		})
		fmt.Fprintf(&b, "## %s\n\n", tag)
		for _, e := range entries {
			fmt.Fprintf(&b, "### `%s %s%s`\n\n%s", e.method, Prefix, e.path, e.op.Summary)
			if role, _ := e.op.Extensions[roleExtension].(string); role != "" {
				fmt.Fprintf(&b, " (role: %s)", role)
			} else {
				b.WriteString(" (no token)")
			}
			b.WriteString("\n\n")
			if e.op.Description != "" {
				fmt.Fprintf(&b, "%s\n\n", e.op.Description)
			}
			writeParams(&b, e.op.Parameters)
			if rb := e.op.RequestBody; rb != nil {
				if mt := rb.Content["application/json"]; mt != nil {
					b.WriteString("Body:\n\n")
					writeFields(&b, doc, mt.Schema)
				}
			}
			writeResponses(&b, e.op.Responses)
			if s := eventSchema(e.op.Responses); s != nil {
				name := schemaType(s)
				if events[name] {
					fmt.Fprintf(&b, "Each event's data is a %s (fields above).\n\n", name)
				} else {
					events[name] = true
					fmt.Fprintf(&b, "Each event's data, a %s:\n\n", name)
					writeFields(&b, doc, s)
				}
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeParams(b *strings.Builder, params []*huma.Param) {
	if len(params) == 0 {
		return
	}
	b.WriteString("| parameter | in | type | required | description |\n| --- | --- | --- | --- | --- |\n")
	for _, p := range params {
		typ := ""
		if p.Schema != nil {
			typ = schemaType(p.Schema)
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %v | %s |\n", p.Name, p.In, typ, p.Required, cell(p.Description))
	}
	b.WriteString("\n")
}

func writeFields(b *strings.Builder, doc *huma.OpenAPI, s *huma.Schema) {
	s = resolve(doc, s)
	if s == nil || len(s.Properties) == 0 {
		b.WriteString("(none)\n\n")
		return
	}
	names := make([]string, 0, len(s.Properties))
	for n := range s.Properties {
		names = append(names, n)
	}
	slices.Sort(names)
	b.WriteString("| field | type | required | description |\n| --- | --- | --- | --- |\n")
	for _, n := range names {
		p := s.Properties[n]
		desc := p.Description
		if r := resolve(doc, p); r != nil && desc == "" {
			desc = r.Description
		}
		fmt.Fprintf(b, "| `%s` | %s | %v | %s |\n", n, schemaType(p), slices.Contains(s.Required, n), cell(desc))
	}
	b.WriteString("\n")
}

func writeResponses(b *strings.Builder, rs map[string]*huma.Response) {
	codes := make([]string, 0, len(rs))
	for c := range rs {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	b.WriteString("Answers: ")
	for i, c := range codes {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c)
		if r := rs[c]; r != nil && strings.HasPrefix(c, "2") {
			if mt := r.Content["application/json"]; mt != nil && mt.Schema != nil {
				fmt.Fprintf(b, " (%s)", schemaType(mt.Schema))
			}
			if mt := r.Content[eventStream]; mt != nil && mt.Schema != nil {
				fmt.Fprintf(b, " (`%s` of %s)", eventStream, schemaType(mt.Schema))
			}
		}
	}
	b.WriteString(".\n\n")
}

// eventStream is the media type of Server-Sent Events.
const eventStream = "text/event-stream"

// eventSchema is the schema of the events of an operation that answers
// with Server-Sent Events; nil for any other.
func eventSchema(rs map[string]*huma.Response) *huma.Schema {
	if r := rs["200"]; r != nil {
		if mt := r.Content[eventStream]; mt != nil {
			return mt.Schema
		}
	}
	return nil
}

func resolve(doc *huma.OpenAPI, s *huma.Schema) *huma.Schema {
	if s != nil && s.Ref != "" && doc != nil {
		return doc.Components.Schemas.SchemaFromRef(s.Ref)
	}
	return s
}

// schemaType is a short name for a schema: its component name, or its type
// with its format, enum or item type.
func schemaType(s *huma.Schema) string {
	if s.Ref != "" {
		return "`" + s.Ref[strings.LastIndex(s.Ref, "/")+1:] + "`"
	}
	t := s.Type
	switch {
	case t == "array" && s.Items != nil:
		t = "array of " + schemaType(s.Items)
	case s.Format != "":
		t += " (" + s.Format + ")"
	case len(s.Enum) > 0:
		vals := make([]string, len(s.Enum))
		for i, v := range s.Enum {
			vals[i] = fmt.Sprint(v)
		}
		t += ": " + strings.Join(vals, ", ")
	}
	return t
}

func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", "\\|"), "\n", " ")
}
