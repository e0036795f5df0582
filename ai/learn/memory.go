package learn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/iace/iace/store"
)

// MemoryStore is what the caller's memory reads and writes: the customer a
// phone number belongs to, and their memory summary alone.
type MemoryStore interface {
	CustomerByPhone(ctx context.Context, org store.OrgID, phone store.PhoneNumber) (store.Customer, error)
	SetCustomerMemory(ctx context.Context, org store.OrgID, id store.CustomerID, summary string) (store.Customer, error)
}

// Memory keeps what an agent should remember about a caller
// (store.Customer.MemorySummary) up to date after each of their calls. The
// summary is personal data: it reaches the model only for a caller who
// passed the agent's verification, and never a log.
//
// Offline, a call adds one line at the top, "2026-12-04 09:30: asked
// "...": resolved.", and the oldest call lines beyond MaxMemoryCalls go; lines
// without a date (notes someone wrote through the API) stay. With a model,
// the model rewrites the summary (JSON mode, strictly checked); when it
// fails, or its answer does not pass, the offline line is added instead.
type Memory struct {
	st    MemoryStore
	model JSONModel // nil: offline
	log   *slog.Logger
}

// MaxMemoryCalls is how many calls the offline memory keeps a line of.
const MaxMemoryCalls = 5

// NewMemory builds a caller memory over st; model may be nil.
func NewMemory(st MemoryStore, model JSONModel, log *slog.Logger) *Memory {
	if log == nil {
		log = slog.Default()
	}
	return &Memory{st: st, model: model, log: log}
}

// Remember updates the memory of c's caller with c. A call without a
// caller's number or a caller's word, or of an agent that does not learn,
// changes nothing; an unknown number changes nothing either (the call
// record makes every caller a customer before it hands the call on).
// Remembering the same call twice (a record replayed after a restart) adds
// its line once.
func (m *Memory) Remember(ctx context.Context, c Call) error {
	if c.Caller == "" || c.Learning == store.LearningOff || !spoke(&c) {
		return nil
	}
	cust, err := m.st.CustomerByPhone(ctx, c.OrgID, c.Caller)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("learn: memory: customer: %w", err)
	}
	line := memoryLine(&c)
	if strings.Contains(cust.MemorySummary, line) {
		return nil // this call is remembered already
	}
	summary := ""
	if m.model != nil {
		summary, err = m.rewrite(ctx, cust.MemorySummary, &c, line)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("learn: memory: %w", context.Cause(ctx))
			}
			m.log.Warn("caller memory: the model's summary was not usable; kept the call's line instead",
				"org", string(c.OrgID), "call_id", string(c.CallID), "err", err)
		}
	}
	if summary == "" {
		summary = addMemoryLine(cust.MemorySummary, line)
	}
	if _, err := m.st.SetCustomerMemory(ctx, c.OrgID, cust.ID, summary); err != nil {
		return fmt.Errorf("learn: memory: %w", err)
	}
	return nil
}

// spoke reports whether the caller said anything worth remembering.
func spoke(c *Call) bool {
	for _, t := range c.Turns {
		if t.Speaker == store.SpeakerCaller && contentWords(t.Text) > 0 {
			return true
		}
	}
	return false
}

// memoryTime dates a call's memory line to the minute: a record applied
// again after a restart adds no second line, two calls on one day do.
const memoryTime = "2006-01-02 15:04"

// maxTopicLen bounds the caller's words a memory line keeps.
const maxTopicLen = 160

// memoryLine is the offline memory of one call: its time, what the caller
// asked first (their words, cleaned of numbers and addresses) and how the
// call ended.
func memoryLine(c *Call) string {
	topic := ""
	for _, t := range c.turns() {
		if t.Speaker == store.SpeakerCaller && contentWords(t.Text) >= minContentWords {
			topic = clean(t.Text, maxTopicLen)
			break
		}
	}
	var b strings.Builder
	if !c.StartedAt.IsZero() {
		b.WriteString(c.StartedAt.UTC().Format(memoryTime))
		b.WriteString(": ")
	}
	if topic != "" {
		b.WriteString(`asked "`)
		b.WriteString(strings.TrimRight(topic, ".?! "))
		b.WriteString(`"; `)
	} else {
		b.WriteString("called; ")
	}
	switch c.Outcome {
	case store.OutcomeResolved:
		b.WriteString("resolved.")
	case store.OutcomeEscalated:
		b.WriteString("handed to a person")
		if c.EscalationReason != "" {
			b.WriteString(" (" + strings.ReplaceAll(c.EscalationReason, "_", " ") + ")")
		}
		b.WriteString(".")
	case store.OutcomeAbandoned:
		b.WriteString("hung up before it was resolved.")
	default:
		b.WriteString("the call failed on our side.")
	}
	return b.String()
}

// addMemoryLine puts line at the top of summary and drops the oldest call
// lines (those that start with a date) beyond MaxMemoryCalls, and more if
// the summary would exceed store.MaxMemorySummaryLen; other lines stay.
func addMemoryLine(summary, line string) string {
	lines := []string{line}
	calls := 1
	for l := range strings.SplitSeq(summary, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if dated(l) {
			if calls == MaxMemoryCalls {
				continue
			}
			calls++
		}
		lines = append(lines, l)
	}
	for len(lines) > 1 && len(strings.Join(lines, "\n")) > store.MaxMemorySummaryLen {
		i := len(lines) - 1 // the oldest dated line, or the last note
		for j := len(lines) - 1; j > 0; j-- {
			if dated(lines[j]) {
				i = j
				break
			}
		}
		lines = append(lines[:i], lines[i+1:]...)
	}
	return cutMemory(strings.Join(lines, "\n"))
}

// dated reports whether a memory line starts with a date, YYYY-MM-DD.
func dated(l string) bool {
	if len(l) < 10 {
		return false
	}
	for i, r := range l[:10] {
		if i == 4 || i == 7 {
			if r != '-' {
				return false
			}
		} else if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// cutMemory keeps a summary within store.MaxMemorySummaryLen bytes.
func cutMemory(s string) string {
	if len(s) <= store.MaxMemorySummaryLen {
		return s
	}
	n := store.MaxMemorySummaryLen
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// memoryPrompt asks for JSON: Groq's JSON mode requires the prompt to.
const memoryPrompt = `You keep a company's short memory of one of its callers, for the AI phone agent that answers their next call.
You get the current memory and the transcript of the caller's latest call. Answer with a JSON object only, exactly {"summary": "..."}: the new memory, at most 8 short lines, newest first.
Start with one line for the latest call, beginning with its date as given, saying what the caller wanted and how it ended. Keep what still matters from the current memory, including notes written by staff. Leave out payment card, account and identity numbers, PINs and passwords.`

// rewrite asks the model for the new summary. Its answer passes only as
// {"summary": "<text>"} with a text of at most store.MaxMemorySummaryLen
// bytes that keeps the call's date when the call has one.
func (m *Memory) rewrite(ctx context.Context, current string, c *Call, line string) (string, error) {
	var user strings.Builder
	user.WriteString("Current memory:\n")
	if current == "" {
		current = "(none)"
	}
	user.WriteString(current)
	user.WriteString("\n\nLatest call (")
	user.WriteString(line[:strings.IndexByte(line+":", ':')])
	user.WriteString(", ")
	user.WriteString(string(c.Outcome))
	user.WriteString("):\n")
	for _, t := range c.turns() {
		user.WriteString(string(t.Speaker))
		user.WriteString(": ")
		user.WriteString(clean(t.Text, MaxResponseLen))
		user.WriteString("\n")
		if user.Len() > defaultMaxTranscriptBytes {
			break
		}
	}
	data, err := m.model.CompleteJSON(ctx, memoryPrompt, user.String())
	if err != nil {
		return "", err
	}
	var out struct {
		Summary *string `json:"summary"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil || out.Summary == nil {
		return "", errors.New(`the answer is not {"summary": "..."}`)
	}
	s := strings.TrimSpace(*out.Summary)
	switch {
	case s == "":
		return "", errors.New("the summary is empty")
	case len(s) > store.MaxMemorySummaryLen:
		return "", fmt.Errorf("the summary is %d bytes, more than %d", len(s), store.MaxMemorySummaryLen)
	case !c.StartedAt.IsZero() && !strings.Contains(s, c.StartedAt.UTC().Format("2006-01-02")):
		return "", errors.New("the summary does not date the latest call")
	}
	return cleanLines(s), nil
}

// cleanLines cleans each line of a model's summary as the offline memory
// cleans the caller's words, keeping a leading date.
func cleanLines(s string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		date := ""
		if dated(l) {
			date, l = l[:10], l[10:]
		}
		out = append(out, date+clean(l, store.MaxMemorySummaryLen))
	}
	return cutMemory(strings.Join(out, "\n"))
}
