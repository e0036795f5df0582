package embedded

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/iace/iace/store"
)

// TestTheDatabaseFilesAreOwnerOnly: the database holds transcripts and
// customers; neither the file, its WAL and shared-memory companions nor
// the directory the store creates for them may be readable by other users.
func TestTheDatabaseFilesAreOwnerOnly(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permission bits")
	}
	mode := func(t *testing.T, path string) fs.FileMode {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	check := func(t *testing.T, path string) {
		t.Helper()
		s, err := Open(t.Context(), Config{Path: path, Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = s.Close() }()
		if _, err := s.CreateOrg(t.Context(), store.Organization{Name: "Acme"}); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{path, path + "-wal", path + "-shm"} {
			if m := mode(t, f); m != 0o600 {
				t.Errorf("%s has mode %v, want 0600", filepath.Base(f), m)
			}
		}
	}

	t.Run("a new database and the directory made for it", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		check(t, filepath.Join(dir, "iace.db"))
		if m := mode(t, dir); m != 0o700 {
			t.Errorf("the data directory has mode %v, want 0700", m)
		}
	})

	t.Run("a database left readable by an earlier version", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "iace.db")
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o644); err != nil { // whatever the umask
			t.Fatal(err)
		}
		check(t, path)
	})
}
