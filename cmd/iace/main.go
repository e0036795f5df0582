// Command iace is the IACE media server: it answers Telnyx media streams with
// an AI agent. Subcommands: serve, migrate, user, fakes, version.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "iace:", err)
			os.Exit(1)
		}
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		cfg, err := loadConfig(args[1:], getenv, stderr)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stderr)
	case "migrate":
		if len(args) < 2 {
			usage(stderr)
			return errors.New("migrate needs up, down or status")
		}
		cfg, err := loadConfig(args[2:], getenv, stderr)
		if err != nil {
			return err
		}
		return migrate(ctx, args[1], cfg, stdout)
	case "user":
		return userCommand(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "number":
		return numberCommand(ctx, args[1:], getenv, stdout, stderr)
	case "fakes":
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		return fakes(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "iace %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return nil
	case "help", "--help", "-h":
		usage(stdout)
		return nil
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: iace <command> [flags]

Commands:
  serve     run the media server (iace serve --help lists every setting)
  migrate   up|down|status: the database migrations (same settings as serve)
  user      create --org ID --email EMAIL [--role admin]: a control API user
            (password from IACE_USER_PASSWORD or stdin; same store settings as serve)
  number    allot|release --org ID +E164...: give numbers to an organization, whose
            admins may then route them to agents, or take them back (same store settings)
  fakes     run fakes of Deepgram, an OpenAI-compatible LLM and Telnyx for load tests
  version   print the version
`)
}
