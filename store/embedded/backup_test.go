package embedded

import (
	"bytes"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/iace/iace/store"
)

// openAt opens the database at path (migrating it) and closes it at the
// end of the test.
func openAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), Config{Path: path, Migrate: true})
	if err != nil {
		t.Fatalf("Open %s: %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// hasOrg reports whether the database file at path holds the organization.
func hasOrg(t *testing.T, path string, id store.OrgID) bool {
	t.Helper()
	s := openAt(t, path)
	defer func() { _ = s.Close() }()
	_, err := s.GetOrg(t.Context(), id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// TestBackupCopiesWhatIsCommittedWhileAWriteIsOpen: the store's writer holds
// the write lock with an uncommitted organization; Backup is not blocked by
// it and copies what was committed, not the open write; once committed, the
// next backup has it too.
func TestBackupCopiesWhatIsCommittedWhileAWriteIsOpen(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s := openAt(t, filepath.Join(dir, "iace.db"))
	f := newFixture(ctx, t, s, "Acme")

	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `INSERT INTO orgs (id, name, created_at) VALUES ('pending', 'Pending', 0)`); err != nil {
		t.Fatal(err)
	}
	first := filepath.Join(dir, "first.db")
	res, err := Backup(ctx, filepath.Join(dir, "iace.db"), first, false)
	if err != nil {
		t.Fatalf("Backup while a write transaction is open: %v", err)
	}
	if !res.Check.OK() || res.Check.Version != res.Check.Latest || res.Bytes == 0 {
		t.Errorf("backup result %+v", res)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	second := filepath.Join(dir, "second.db")
	if _, err := Backup(ctx, filepath.Join(dir, "iace.db"), second, false); err != nil {
		t.Fatal(err)
	}

	if !hasOrg(t, first, f.org) {
		t.Error("the first backup lacks the organization committed before it")
	}
	if hasOrg(t, first, "pending") {
		t.Error("the first backup holds a write that was not committed when it ran")
	}
	if !hasOrg(t, second, "pending") {
		t.Error("the second backup lacks the write committed before it")
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(second); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("backup file mode %v, %v; want 0600", fi.Mode().Perm(), err)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*.tmp"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestBackupRefusesToOverwriteUnlessTold(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	src := filepath.Join(dir, "iace.db")
	s := openAt(t, src)
	fx := newFixture(ctx, t, s, "Acme")
	dst := filepath.Join(dir, "backup.db")
	if err := os.WriteFile(dst, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Backup(ctx, src, dst, false)
	wantErr(t, err, fs.ErrExist)
	if b, _ := os.ReadFile(dst); string(b) != "precious" {
		t.Errorf("the existing file was changed: %q", b)
	}
	if _, err := Backup(ctx, src, dst, true); err != nil {
		t.Fatalf("Backup with overwrite: %v", err)
	}
	if _, err := Check(ctx, dst); err != nil {
		t.Errorf("the overwritten backup: %v", err)
	}
	// Not even when told: over the live database it would replace the file
	// the server writes, through a link or by its own name.
	link := filepath.Join(dir, "live-link.db")
	if err := os.Symlink(src, link); err != nil {
		t.Fatal(err)
	}
	for _, live := range []string{src, link} {
		if _, err := Backup(ctx, src, live, true); err == nil {
			t.Errorf("Backup onto %s, the database itself, with overwrite: no error", live)
		}
	}
	if _, err := s.GetAgent(ctx, fx.org, fx.agent.ID); err != nil {
		t.Errorf("the database after the refused backups: %v", err)
	}
	_, err = Backup(ctx, filepath.Join(dir, "nothing.db"), filepath.Join(dir, "b2.db"), false)
	wantErr(t, err, fs.ErrNotExist)
	if _, err := os.Stat(filepath.Join(dir, "nothing.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("backing up a missing database created it")
	}
}

func TestCheckRefusesWhatCannotBeRestored(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	src := filepath.Join(dir, "iace.db")
	s := openAt(t, src)
	for i := range 200 { // a few pages of rows, for the damage below to land in
		if _, err := s.CreateOrg(ctx, store.Organization{Name: string(rune('a'+i%26)) + " org with a longer name to fill pages"}); err != nil {
			t.Fatal(err)
		}
	}
	good := filepath.Join(dir, "good.db")
	if _, err := Backup(ctx, src, good, false); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}

	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Every page after the first, its b-tree headers included, overwritten.
	damaged := bytes.Clone(data)
	for i := 4096; i < len(damaged); i += 4096 {
		copy(damaged[i:i+64], bytes.Repeat([]byte{0xA5}, 64))
	}
	newer := filepath.Join(dir, "newer.db")
	if err := os.WriteFile(newer, data, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", newer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, 1)`); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	plain := filepath.Join(dir, "plain.db")
	db, err = sql.Open("sqlite", plain)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()

	for _, tt := range []struct {
		name string
		path string
		want error
	}{
		{"a file that is not a database", write("text.db", bytes.Repeat([]byte("not a database "), 500)), ErrIntegrity},
		{"a damaged database", write("damaged.db", damaged), ErrIntegrity},
		{"a database of another application", plain, ErrSchemaVersion},
		{"a database of a later release", newer, ErrSchemaVersion},
		{"a missing file", filepath.Join(dir, "missing.db"), fs.ErrNotExist},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Check(ctx, tt.path)
			wantErr(t, err, tt.want)
			if _, err := Restore(ctx, tt.path, filepath.Join(t.TempDir(), "iace.db"), false); !errors.Is(err, tt.want) {
				t.Errorf("Restore: %v, want %v", err, tt.want)
			}
		})
	}
	res, err := Check(ctx, good)
	if err != nil || !res.OK() || res.Version == 0 || res.Version != res.Latest {
		t.Errorf("the sound backup: %+v, %v", res, err)
	}
}

// TestRestoreReplacesAStoppedDatabaseOnly: Restore will not replace a
// database unless told, nor one that a store has open; once the store is
// closed it keeps the old database beside, drops its WAL, and the store
// opens the backup's data.
func TestRestoreReplacesAStoppedDatabaseOnly(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	live := filepath.Join(dir, "iace.db")
	s := openAt(t, live)
	if _, err := s.CreateOrg(ctx, store.Organization{ID: "backed-up", Name: "In the backup"}); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, err := Backup(ctx, live, backup, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateOrg(ctx, store.Organization{ID: "later", Name: "After the backup"}); err != nil {
		t.Fatal(err)
	}

	_, err := Restore(ctx, backup, live, false)
	wantErr(t, err, fs.ErrExist)
	_, err = Restore(ctx, backup, live, true)
	wantErr(t, err, ErrInUse)

	// What a crash leaves: the database file and a WAL holding the latest
	// writes, which the database kept beside must not lose.
	crashed := filepath.Join(t.TempDir(), "iace.db")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(live + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(crashed+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := Restore(ctx, backup, crashed, true)
	if err != nil {
		t.Fatalf("Restore over a stopped database: %v", err)
	}
	if res.Replaced == "" || !hasOrg(t, res.Replaced, "later") {
		t.Errorf("the replaced database, kept at %q, lost the writes of its WAL", res.Replaced)
	}
	if !hasOrg(t, crashed, "backed-up") || hasOrg(t, crashed, "later") {
		t.Error("the restored database does not hold the backup's data")
	}

	// Where only a WAL is left (its database was deleted), SQLite would
	// read that WAL's pages into the restored file.
	fresh := filepath.Join(t.TempDir(), "iace.db")
	otherPath := filepath.Join(t.TempDir(), "other.db")
	other := openAt(t, otherPath)
	if _, err := other.CreateOrg(ctx, store.Organization{ID: "stranger", Name: "Another database's"}); err != nil {
		t.Fatal(err)
	}
	wal, err := os.ReadFile(otherPath + "-wal") // the write is in the WAL until a checkpoint
	if err != nil || len(wal) == 0 {
		t.Fatalf("the other database's WAL: %d bytes, %v", len(wal), err)
	}
	if err := os.WriteFile(fresh+"-wal", wal, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, backup, fresh, false); err != nil {
		t.Fatalf("Restore into a new directory: %v", err)
	}
	if !hasOrg(t, fresh, "backed-up") || hasOrg(t, fresh, "stranger") {
		t.Error("the database restored beside a stale WAL does not hold the backup's data only")
	}
}
