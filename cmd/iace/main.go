// Command iace is the IACE media server: it answers Telnyx media streams with
// an AI agent. Subcommands: serve, migrate, user, number, backup, restore,
// fakes, completion, version, help (`iace help` lists them).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(cli(context.Background(), os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// cli runs iace with its arguments and returns the exit status: 0, 1 for a
// failure, 2 for a command line it does not take.
func cli(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	return exitCode(run(ctx, args, getenv, stdin, stdout, stderr), stderr)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		writeOverview(stderr)
		return usageErrorf("", "no command given")
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		name = "help"
	case "-v", "--version":
		name = "version"
	}
	cmd := lookup(name)
	if cmd == nil {
		return usageErrorf("", "unknown command %q", name)
	}
	if wantsHelp(args[1:]) {
		usageText(stdout, cmd)
		return nil
	}
	return cmd.run(ctx, cmdContext{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}, args[1:])
}

// commands are iace's subcommands, in the order `iace help` lists them.
func commands() []*command {
	return []*command{
		{
			name: "serve", usage: "[flags]",
			summary: "run the media server",
			about: "Runs the media server: Telnyx media streams on --addr (/media/telnyx), the control API and web UI, " +
				"and metrics, health and profiles on --internal-addr. Every setting is a flag and an IACE_ environment " +
				"variable (the flag name upper-cased, dashes as underscores); secrets are environment variables only. " +
				"To keep settings in a file, give them as an environment file: systemd's EnvironmentFile=, docker run " +
				"--env-file, compose's env_file or a Kubernetes ConfigMap through envFrom. SIGTERM or SIGINT drains " +
				"live calls for up to --drain-timeout; a second signal ends them at once.",
			flags:         func(fs *flag.FlagSet) { c := defaultConfig(); c.flags(fs) },
			env:           envName,
			serveSettings: true,
			run:           runServe,
		},
		{
			name: "migrate", verbs: []string{"up", "down", "status"}, usage: "up|down|status [serve settings]",
			summary: "apply, roll back or list the database migrations",
			about: "Applies the pending database migrations (up), rolls back the latest one (down) or lists them " +
				"(status), on the store the serve settings choose. iace serve applies pending migrations at start " +
				"unless --migrate=false.",
			serveSettings: true,
			run:           runMigrate,
		},
		{
			name: "user", verbs: []string{"create"}, usage: "create --org ID --email EMAIL [flags] [serve settings]",
			summary: "create a user of the control API (and its organization)",
			about: "Creates a user of the control API, and its organization the first time, in the store the serve " +
				"settings choose. The password comes from " + envUserPassword + ", else from the first line of " +
				"standard input (a flag would show it in ps); it must pass the password policy.",
			flags:         func(fs *flag.FlagSet) { new(userFlags).bind(fs) },
			serveSettings: true,
			run:           userCommand,
		},
		{
			name: "number", verbs: []string{"allot", "release"}, usage: "allot|release --org ID +E164 [+E164...] [serve settings]",
			summary: "allot phone numbers to an organization, or release them",
			about: "Allots phone numbers (E.164) to an organization, whose admins may then route them to agents " +
				"(POST /api/v1/numbers), or releases them, which drops their routes on every node. Admins cannot " +
				"claim numbers themselves: one organization could otherwise take calls meant for another.",
			flags:         func(fs *flag.FlagSet) { new(numberFlags).bind(fs) },
			serveSettings: true,
			run:           numberCommand,
		},
		{
			name: "backup", usage: "--out FILE [flags]",
			summary: "copy the embedded database while the server runs",
			about: "Writes a consistent copy of the embedded database (--data-dir/iace.db) to --out while iace serve " +
				"goes on using it, then checks the copy's integrity and schema version. It refuses to replace an " +
				"existing file unless --force. PostgreSQL is backed up with its own tools: see docs/BACKUP.md.",
			flags: func(fs *flag.FlagSet) { new(backupFlags).bind(fs) },
			env:   dataDirEnv,
			run:   backupCommand,
		},
		{
			name: "restore", usage: "--from FILE [flags]",
			summary: "check a backup and put it in place of the embedded database",
			about: "Checks a backup made by iace backup (SQLite's integrity check, and a schema version this build " +
				"knows) and puts it in place of the embedded database in --data-dir, which must not be in use: stop " +
				"iace serve first. An existing database is only replaced with --force, and is then kept beside it " +
				"(iace.db.replaced-<time>). --dry-run only checks the backup. iace serve brings an older schema up " +
				"to date at start.",
			flags: func(fs *flag.FlagSet) { new(restoreFlags).bind(fs) },
			env:   dataDirEnv,
			run:   restoreCommand,
		},
		{
			name: "fakes", usage: "[flags]",
			summary: "run fakes of Deepgram, an OpenAI-compatible LLM and Telnyx for load tests",
			about: "Runs the in-repo fakes of Deepgram, an OpenAI-compatible LLM and Telnyx Call Control on loopback " +
				"ports, with the vendor latencies of a realistic call, so iace serve can be load-tested through its " +
				"real clients. It prints how to point iace serve at them and runs until interrupted, then prints " +
				"what Call Control was asked to do.",
			flags: func(fs *flag.FlagSet) { new(fakeFlags).bind(fs) },
			run: func(ctx context.Context, c cmdContext, args []string) error {
				ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
				defer stop()
				return fakes(ctx, args, c.stdout, c.stderr)
			},
		},
		{
			name: "completion", verbs: []string{"bash", "zsh"}, usage: "bash|zsh",
			summary: "print a shell completion script",
			about: "Prints the completion script of bash or zsh for iace's commands and their flags. bash: " +
				"source <(iace completion bash), or save it in /etc/bash_completion.d/iace. zsh: save it as _iace " +
				"in a directory of $fpath (iace completion zsh > \"${fpath[1]}/_iace\") and start a new shell.",
			run: completionCommand,
		},
		{
			name: "version", usage: "",
			summary: "print the version",
			about:   "Prints the version of iace, and the Go version and platform it was built with.",
			run: func(_ context.Context, c cmdContext, args []string) error {
				if len(args) > 0 {
					return usageErrorf("version", "unexpected arguments %q", args)
				}
				fmt.Fprintf(c.stdout, "iace %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
				return nil
			},
		},
		{
			name: "help", usage: "[command]",
			summary: "print the help of iace or of a command",
			about:   "Prints the list of commands, or the usage, description and flags of one command.",
			run:     helpCommand,
		},
	}
}

// helpCommand runs `iace help [command]`.
func helpCommand(_ context.Context, c cmdContext, args []string) error {
	switch len(args) {
	case 0:
		writeOverview(c.stdout)
		return nil
	case 1:
		cmd := lookup(args[0])
		if cmd == nil {
			return usageErrorf("", "unknown command %q", args[0])
		}
		usageText(c.stdout, cmd)
		return nil
	}
	return usageErrorf("help", "one command at most, not %q", args)
}

// runServe runs `iace serve`.
func runServe(ctx context.Context, c cmdContext, args []string) error {
	cmd := lookup("serve")
	positional, _, err := parseArgs(cmd, newFlagSet(cmd), args, c.getenv)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return usageErrorf("serve", "unexpected arguments %q", positional)
	}
	cfg, err := loadConfig(args, c.getenv, io.Discard)
	if err != nil {
		return err
	}
	cfg.hashing = spareProcessorFor(cfg.TakeCalls, c.getenv, runtime.GOMAXPROCS, runtime.SetDefaultGOMAXPROCS)
	cfg.gcPercent, cfg.ownProcess = gcPercentFor(cfg.TakeCalls, c.getenv), true
	return serve(ctx, cfg, c.stderr)
}

// runMigrate runs `iace migrate up|down|status`.
func runMigrate(ctx context.Context, c cmdContext, args []string) error {
	cmd := lookup("migrate")
	positional, serveArgs, err := parseArgs(cmd, newFlagSet(cmd), args, c.getenv)
	if err != nil {
		return err
	}
	if len(positional) != 1 || !slices.Contains(cmd.verbs, positional[0]) {
		return usageErrorf("migrate", "want up, down or status%s", given(positional))
	}
	cfg, err := serveConfig(serveArgs, c.getenv)
	if err != nil {
		return err
	}
	return migrate(ctx, positional[0], cfg, c.stdout)
}
