package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iace/iace/store"
	"github.com/iace/iace/store/embedded"
)

// finishedCall writes a call and its end (two turns) through the store API,
// as the spool does at the end of a call.
func finishedCall(ctx context.Context, st store.Store, org store.OrgID, agent store.AgentID, n int) (store.CallID, error) {
	c, err := st.CreateCall(ctx, store.Call{OrgID: org, AgentID: agent, CallControlID: "v3:ctl-" + strconv.Itoa(n),
		Direction: "incoming", From: "+15550100001", To: "+15550100002", Status: store.CallActive})
	if err != nil {
		return "", err
	}
	now := time.Now()
	_, err = st.FinishCall(ctx, store.CallEnd{OrgID: org, CallID: c.ID, EndedAt: now, Outcome: store.OutcomeResolved, EndReason: "hangup",
		Turns: []store.Turn{
			{Seq: 1, Speaker: store.SpeakerCaller, Text: "what are your opening hours", StartedAt: now, EndedAt: now},
			{Seq: 2, Speaker: store.SpeakerAgent, Text: "nine to five", StartedAt: now, EndedAt: now},
		}})
	return c.ID, err
}

// TestBackupWhileWritingThenRestore: with data made through the store API
// (an organization, an agent, a finished call), `iace backup` copies the
// database while a writer goes on finishing calls; `iace restore` puts the
// copy into a fresh data directory; the stores iace serve opens find the
// data there: every call finished before the backup began, and of the
// writer's calls a prefix, each whole (a call finished with both its turns,
// or, the last one only, not yet finished).
func TestBackupWhileWritingThenRestore(t *testing.T) {
	ctx := t.Context()
	live := t.TempDir()
	st, err := embedded.Open(ctx, embedded.Config{Path: embeddedPath(live), Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	org, err := st.CreateOrg(ctx, store.Organization{ID: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	a := store.DefaultAgent()
	a.ID, a.OrgID, a.Name = "front", org.ID, "Front desk"
	agent, err := st.CreateAgent(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	first, err := finishedCall(ctx, st, org.ID, agent.ID, 0)
	if err != nil {
		t.Fatal(err)
	}

	// The writer finishes calls one after another until told to stop.
	var (
		mu      sync.Mutex
		written []store.CallID
		werr    error
	)
	const warmUp = 20 // calls the writer finishes before the first backup
	stop, done, warm := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for n := 1; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			id, err := finishedCall(ctx, st, org.ID, agent.ID, n)
			mu.Lock()
			if err != nil {
				werr = err
				mu.Unlock()
				return
			}
			written = append(written, id)
			if len(written) == warmUp {
				close(warm)
			}
			mu.Unlock()
		}
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(written) }

	// Back up until the writer is seen to finish a call while a backup runs
	// (the first attempt, but for a scheduler that starves the writer).
	select {
	case <-warm:
	case <-done:
		t.Fatalf("the writer stopped: %v", werr)
	}
	bdir := t.TempDir()
	var backup string
	var before int
	for attempt := 0; attempt < 50 && backup == ""; attempt++ {
		out := filepath.Join(bdir, "iace-"+strconv.Itoa(attempt)+".db")
		before = count()
		var stdout, stderr bytes.Buffer
		if code := cli(ctx, []string{"backup", "--data-dir", live, "--out", out}, env(nil), nil, &stdout, &stderr); code != exitOK {
			t.Fatalf("iace backup: exit %d: %s", code, stderr.String())
		}
		if !strings.Contains(stdout.String(), "integrity ok") {
			t.Errorf("iace backup said %q", stdout.String())
		}
		if count() > before {
			backup = out
		}
	}
	close(stop)
	<-done
	if werr != nil {
		t.Fatalf("the writer: %v", werr)
	}
	if backup == "" {
		t.Fatal("no backup ran while the writer finished a call")
	}

	var stdout, stderr bytes.Buffer
	if code := cli(ctx, []string{"backup", "--data-dir", live, "--out", backup}, env(nil), nil, io.Discard, &stderr); code != exitError ||
		!strings.Contains(stderr.String(), "--force") {
		t.Errorf("a backup over an existing file: exit %d, %q", code, stderr.String())
	}
	fresh := t.TempDir()
	if code := cli(ctx, []string{"restore", "--from", backup, "--data-dir", fresh}, env(nil), nil, &stdout, &stderr); code != exitOK {
		t.Fatalf("iace restore: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "integrity ok") {
		t.Errorf("iace restore said %q", stdout.String())
	}

	// The stores of iace serve, on the restored data directory.
	cfg, err := loadConfig([]string{"--data-dir", fresh}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	restored, _, err := openCommandStores(ctx, cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = restored.Close() }()
	rs := restored.cached
	if got, err := rs.GetOrg(ctx, org.ID); err != nil || got.Name != "Acme" {
		t.Errorf("organization: %+v, %v", got, err)
	}
	if got, err := rs.GetAgent(ctx, org.ID, agent.ID); err != nil || got.Name != "Front desk" {
		t.Errorf("agent: %+v, %v", got, err)
	}
	whole := func(id store.CallID) (found, finished bool) {
		t.Helper()
		d, err := rs.GetCall(ctx, org.ID, id)
		if errors.Is(err, store.ErrNotFound) {
			return false, false
		}
		if err != nil {
			t.Fatal(err)
		}
		finished = d.Call.Status == store.CallEnded
		if finished && (len(d.Turns) != 2 || d.Turns[1].Text != "nine to five") {
			t.Errorf("call %s is finished with turns %+v", id, d.Turns)
		}
		if !finished && len(d.Turns) != 0 {
			t.Errorf("call %s is not finished but has turns %+v", id, d.Turns)
		}
		return true, finished
	}
	if found, finished := whole(first); !found || !finished {
		t.Error("the call finished before the backup is not in the restored store")
	}
	prefix := 0
	for i, id := range written {
		found, finished := whole(id)
		if !found {
			break
		}
		prefix = i + 1
		if !finished && i+1 < len(written) {
			if next, _ := whole(written[i+1]); next {
				t.Errorf("call %d of the writer is in the backup unfinished, and the next one too", i)
			}
		}
	}
	for _, id := range written[prefix:] {
		if found, _ := whole(id); found {
			t.Errorf("the backup holds the writer's call %s but not all the calls finished before it", id)
		}
	}
	if prefix < before {
		t.Errorf("the backup holds %d of the writer's calls; %d were finished before it began", prefix, before)
	}
	t.Logf("writer: %d calls; the backup holds the first %d (%d finished before it began)", len(written), prefix, before)
}

// TestRestoreRefusesALiveDatabase: restore will not replace a database
// unless told, nor one a store has open, and it refuses a file that is not a
// sound backup; --dry-run only checks.
func TestRestoreRefusesALiveDatabase(t *testing.T) {
	ctx := t.Context()
	live := t.TempDir()
	st, err := embedded.Open(ctx, embedded.Config{Path: embeddedPath(live), Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	backup := filepath.Join(t.TempDir(), "iace.db")
	if code := cli(ctx, []string{"backup", "--data-dir", live, "--out", backup}, env(nil), nil, io.Discard, io.Discard); code != exitOK {
		t.Fatalf("backup: exit %d", code)
	}
	junk := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("not a database "), 300), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string
	}{
		{"an existing database, without --force", []string{"restore", "--from", backup, "--data-dir", live}, nil, exitError, "--force"},
		{"a database in use", []string{"restore", "--from", backup, "--data-dir", live, "--force"}, nil, exitError, "stop iace serve"},
		{"a file that is no database", []string{"restore", "--from", junk, "--data-dir", t.TempDir()}, nil, exitError, "integrity"},
		{"the data directory from the environment", []string{"restore", "--from", backup}, map[string]string{"IACE_DATA_DIR": live}, exitError, "--force"},
		{"a PostgreSQL store", []string{"restore", "--from", backup, "--data-dir", t.TempDir()},
			map[string]string{envDatabaseURL: "postgres://localhost/x"}, exitError, "pg_dump"},
		{"a check only", []string{"restore", "--from", backup, "--dry-run"}, nil, exitOK, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := cli(ctx, tt.args, env(tt.env), nil, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tt.code, tt.want)
			}
			if code == exitOK && !strings.Contains(stdout.String(), "integrity ok, schema version") {
				t.Errorf("stdout %q", stdout.String())
			}
		})
	}
	if _, err := st.GetOrg(ctx, demoOrg); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the live database changed: %v", err)
	}
}
