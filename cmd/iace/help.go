package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// A command is a subcommand of iace: its help, its flags and what runs it.
// Every command's help has one form (usageText): the usage line, a
// paragraph, the table of its flags, and a pointer to serve's settings for
// the commands that take them.
type command struct {
	name string
	// verbs, when set, are the words one of which comes first (migrate
	// up|down|status); the completion scripts offer them.
	verbs []string
	// usage is the usage line after "iace <name> ".
	usage string
	// summary is the command's line in `iace help`.
	summary string
	// about is the paragraph of `iace help <name>`.
	about string
	// flags binds the command's own flags to fs, with their defaults; nil
	// for none.
	flags func(fs *flag.FlagSet)
	// env names a flag's environment variable ("" for none); nil: none has one.
	env func(flagName string) string
	// serveSettings: the command also takes every setting of iace serve
	// (the store's, above all), as flags or environment variables.
	serveSettings bool
	run           func(ctx context.Context, c cmdContext, args []string) error
}

// cmdContext is what a command reads and writes besides its arguments.
type cmdContext struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
}

// usageError is a command line iace cannot make sense of: it exits with
// status 2 and a short message naming the help to read.
type usageError struct {
	cmd string // "" for iace itself
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// helpCommand is how to read the help the error points to.
func (e *usageError) helpCommand() string {
	if e.cmd == "" {
		return "iace help"
	}
	return "iace help " + e.cmd
}

func usageErrorf(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, err: fmt.Errorf(format, args...)}
}

// given is ", not <args>" for a usage error's message, "" without args.
func given(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return fmt.Sprintf(", not %q", strings.Join(args, " "))
}

// Exit statuses: 2 is a command line iace does not take, as the flag
// package and most Unix tools have it.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// exitCode reports err, when there is one, on stderr and returns the exit
// status it calls for.
func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue): // before ErrHelp: "-h=x" is no way to ask for help
		name := "iace"
		if ue.cmd != "" {
			name += " " + ue.cmd
		}
		fmt.Fprintf(stderr, "%s: %v\nRun '%s' for usage.\n", name, ue.err, ue.helpCommand())
		return exitUsage
	case errors.Is(err, flag.ErrHelp): // the help is printed
		return exitOK
	}
	fmt.Fprintln(stderr, "iace:", err)
	return exitError
}

// wantsHelp reports whether args ask for help (-h, -help or --help before
// a "--").
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// newFlagSet is the command's flag set: silent, since errors are reported
// once, by exitCode, and help by usageText.
func newFlagSet(cmd *command) *flag.FlagSet {
	fs := silentFlagSet(cmd.name)
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	return fs
}

// silentFlagSet is an empty flag set that prints nothing.
func silentFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("iace "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseArgs parses a command's arguments with fs, flags and positional
// arguments in any order, after setting the flags that have an environment
// variable from it (a flag given wins). With serve settings, the flags of
// iace serve are accepted too and returned, as given, for loadConfig.
func parseArgs(cmd *command, fs *flag.FlagSet, args []string, getenv func(string) string) (positional, serveArgs []string, err error) {
	if cmd.env != nil {
		var errs []error
		fs.VisitAll(func(f *flag.Flag) {
			if name := cmd.env(f.Name); name != "" {
				if v := getenv(name); v != "" {
					if err := fs.Set(f.Name, v); err != nil {
						errs = append(errs, fmt.Errorf("%s: %w", name, err))
					}
				}
			}
		})
		if err := errors.Join(errs...); err != nil {
			return nil, nil, err
		}
	}
	if cmd.serveSettings {
		scratch := defaultConfig()
		settings := flag.NewFlagSet("serve", flag.ContinueOnError)
		scratch.flags(settings)
		settings.VisitAll(func(f *flag.Flag) {
			if fs.Lookup(f.Name) == nil {
				fs.Var(recorded{Value: f.Value, name: f.Name, to: &serveArgs}, f.Name, f.Usage)
			}
		})
	}
	for {
		if err := fs.Parse(args); err != nil {
			return nil, nil, &usageError{cmd: cmd.name, err: err}
		}
		if fs.NArg() == 0 {
			return positional, serveArgs, nil
		}
		if fs.Arg(0) == "--" {
			return append(positional, fs.Args()[1:]...), serveArgs, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// recorded is a flag of iace serve taken by another command: it keeps the
// value as given, for loadConfig to parse with the environment under it.
type recorded struct {
	flag.Value
	name string
	to   *[]string
}

func (r recorded) Set(s string) error {
	if err := r.Value.Set(s); err != nil {
		return err
	}
	*r.to = append(*r.to, "--"+r.name+"="+s)
	return nil
}

// IsBoolFlag lets a boolean setting stand alone (--pprof), as in serve.
func (r recorded) IsBoolFlag() bool {
	b, ok := r.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// serveConfig loads iace serve's configuration from the settings a command
// was given, over the environment.
func serveConfig(serveArgs []string, getenv func(string) string) (config, error) {
	return loadConfig(serveArgs, getenv, io.Discard)
}

// lookup finds a command by name.
func lookup(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return c
		}
	}
	return nil
}

// writeOverview is `iace help`.
func writeOverview(w io.Writer) {
	fmt.Fprint(w, "Usage: iace <command> [flags]\n\n")
	wrap(w, "IACE is a media server that answers phone calls with an AI agent: Telnyx streams each call's audio to it, "+
		"and it transcribes the caller, asks a language model for the reply and speaks it back. "+
		"The same binary runs the server and the tasks of operating it.")
	fmt.Fprint(w, "\nCommands:\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	_ = tw.Flush()
	fmt.Fprint(w, "\nRun 'iace help <command>' (or iace <command> --help) for a command's usage and flags.\n")
}

// usageText writes a command's help.
func usageText(w io.Writer, cmd *command) {
	fmt.Fprintf(w, "Usage: %s\n\n", strings.TrimSpace("iace "+cmd.name+" "+cmd.usage))
	wrap(w, cmd.about)
	fs := newFlagSet(cmd)
	if cmd.name == "serve" {
		fmt.Fprint(w, "\nFlags (each also set by its environment variable; a flag wins):\n")
		printUsage(w, fs)
		return
	}
	if cmd.flags != nil {
		fmt.Fprint(w, "\nFlags:\n")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "flag\tenvironment\tdefault\tmeaning")
		fs.VisitAll(func(f *flag.Flag) {
			env := "-"
			if cmd.env != nil && cmd.env(f.Name) != "" {
				env = cmd.env(f.Name)
			}
			def := f.DefValue
			if def == "" {
				def = `""`
			}
			fmt.Fprintf(tw, "--%s\t%s\t%s\t%s\n", f.Name, env, def, f.Usage)
		})
		_ = tw.Flush()
	}
	if cmd.serveSettings {
		fmt.Fprint(w, "\n")
		wrap(w, "Serve settings: every flag of iace serve, or its environment variable, is taken too; "+
			"they choose the store (IACE_DATABASE_URL, else the embedded database in --data-dir). "+
			"'iace help serve' lists them.")
	}
}

// wrap writes a paragraph folded at 80 columns.
func wrap(w io.Writer, text string) {
	const width = 80
	n := 0
	for i, word := range strings.Fields(text) {
		switch {
		case i == 0:
		case n+1+len(word) > width:
			fmt.Fprint(w, "\n")
			n = 0
		default:
			fmt.Fprint(w, " ")
			n++
		}
		fmt.Fprint(w, word)
		n += len(word)
	}
	fmt.Fprint(w, "\n")
}

// flagsOf lists a command's flags, serve's settings included when it takes
// them, sorted by name.
func flagsOf(cmd *command) []*flag.Flag {
	fs := newFlagSet(cmd)
	var out []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { out = append(out, f) })
	if cmd.serveSettings && cmd.name != "serve" {
		scratch := defaultConfig()
		settings := flag.NewFlagSet("serve", flag.ContinueOnError)
		scratch.flags(settings)
		settings.VisitAll(func(f *flag.Flag) {
			if fs.Lookup(f.Name) == nil {
				out = append(out, f)
			}
		})
	}
	slices.SortFunc(out, func(a, b *flag.Flag) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// isBool reports whether a flag stands alone, without a value.
func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
