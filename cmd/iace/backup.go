package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/iace/iace/store/embedded"
)

// dataDirEnv gives --data-dir of iace backup and restore the environment
// variable it has in iace serve, so the three agree on one setting.
func dataDirEnv(flagName string) string {
	if flagName == "data-dir" {
		return envName(flagName)
	}
	return ""
}

// dataDirUsage is --data-dir of iace backup and restore.
const dataDirUsage = "directory of the embedded database, as iace serve's --data-dir (the database is its iace.db)"

// backupFlags are the flags of `iace backup`.
type backupFlags struct {
	dataDir, out string
	force        bool
}

func (f *backupFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.dataDir, "data-dir", defaultConfig().DataDir, dataDirUsage)
	fs.StringVar(&f.out, "out", "", "the backup file to write (required); its directory must exist")
	fs.BoolVar(&f.force, "force", false, "replace --out if it exists")
}

// restoreFlags are the flags of `iace restore`.
type restoreFlags struct {
	dataDir, from string
	force, dryRun bool
}

func (f *restoreFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.dataDir, "data-dir", defaultConfig().DataDir, dataDirUsage)
	fs.StringVar(&f.from, "from", "", "the backup file to restore (required)")
	fs.BoolVar(&f.force, "force", false, "replace the database in --data-dir if there is one (it is kept beside, renamed)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "only check the backup: its integrity and its schema version")
}

// errPostgres: backup and restore are for the embedded store.
var errPostgres = errors.New(envDatabaseURL + " is set: the store is PostgreSQL, which is backed up with pg_dump " +
	"or continuous archiving (docs/BACKUP.md); iace backup and restore are for the embedded database")

// backupCommand runs `iace backup`: a consistent copy of the embedded
// database, taken while iace serve runs.
func backupCommand(ctx context.Context, c cmdContext, args []string) error {
	var f backupFlags
	set := silentFlagSet("backup")
	f.bind(set)
	positional, _, err := parseArgs(lookup("backup"), set, args, c.getenv)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return usageErrorf("backup", "unexpected arguments %q", positional)
	}
	if f.out == "" {
		return usageErrorf("backup", "--out is required")
	}
	if c.getenv(envDatabaseURL) != "" {
		return errPostgres
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	src := embeddedPath(f.dataDir)
	res, err := embedded.Backup(ctx, src, f.out, f.force)
	switch {
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%s exists: --force replaces it", f.out)
	case errors.Is(err, fs.ErrNotExist) && !exists(src):
		return fmt.Errorf("no embedded database at %s (--data-dir)", src)
	case err != nil:
		return err
	}
	fmt.Fprintf(c.stdout, "backed up %s to %s: %d bytes, integrity %s, schema version %d, in %v\n",
		src, f.out, res.Bytes, res.Check.Integrity[0], res.Check.Version, time.Since(start).Round(time.Millisecond))
	return nil
}

// restoreCommand runs `iace restore`: it checks a backup and puts it in
// place of the embedded database, which nothing may have open.
func restoreCommand(ctx context.Context, c cmdContext, args []string) error {
	var f restoreFlags
	set := silentFlagSet("restore")
	f.bind(set)
	positional, _, err := parseArgs(lookup("restore"), set, args, c.getenv)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return usageErrorf("restore", "unexpected arguments %q", positional)
	}
	if f.from == "" {
		return usageErrorf("restore", "--from is required")
	}
	if c.getenv(envDatabaseURL) != "" && !f.dryRun {
		return errPostgres
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.dryRun {
		res, err := embedded.Check(ctx, f.from)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "backup %s: integrity %s, %s\n", f.from, res.Integrity[0], schemaNote(res))
		return nil
	}
	dst := embeddedPath(f.dataDir)
	res, err := embedded.Restore(ctx, f.from, dst, f.force)
	switch {
	case errors.Is(err, embedded.ErrInUse):
		return fmt.Errorf("%s is open in another process: stop iace serve, then restore", dst)
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%s exists: stop iace serve, then --force replaces it (keeping it beside)", dst)
	case err != nil:
		return err
	}
	fmt.Fprintf(c.stdout, "restored %s to %s: integrity %s, %s\n", f.from, dst, res.Check.Integrity[0], schemaNote(res.Check))
	if res.Replaced != "" {
		fmt.Fprintf(c.stdout, "the database it replaced is kept at %s\n", res.Replaced)
	}
	return nil
}

// exists reports whether there is a file at path.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// schemaNote says how a backup's schema version stands to this build's.
func schemaNote(r embedded.CheckResult) string {
	if r.Version < r.Latest {
		return fmt.Sprintf("schema version %d (this build's is %d: iace serve, or iace migrate up, brings it up to date)", r.Version, r.Latest)
	}
	return fmt.Sprintf("schema version %d (this build's)", r.Version)
}
