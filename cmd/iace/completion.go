package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

// pathFlags are the flags whose value is a file or a directory: the
// completion scripts offer the file system for them.
var pathFlags = map[string]string{
	"agents-file":   "file",
	"espeak-binary": "file",
	"out":           "file",
	"from":          "file",
	"data-dir":      "dir",
}

// completionCommand runs `iace completion bash|zsh`.
func completionCommand(_ context.Context, c cmdContext, args []string) error {
	if len(args) != 1 {
		return usageErrorf("completion", "want bash or zsh")
	}
	switch args[0] {
	case "bash":
		writeBashCompletion(c.stdout, commands())
	case "zsh":
		writeZshCompletion(c.stdout, commands())
	default:
		return usageErrorf("completion", "no completion for %q: want bash or zsh", args[0])
	}
	return nil
}

// verbsOf are the words a command takes first: help takes a command's name.
func verbsOf(cmd *command, all []*command) []string {
	if cmd.name != "help" {
		return cmd.verbs
	}
	names := make([]string, len(all))
	for i, c := range all {
		names[i] = c.name
	}
	return names
}

// writeBashCompletion writes a bash completion function for iace, built
// from the commands' flag sets: commands, their first words, their flags
// as --name, and files or directories for the flags that name one. bash
// splits --flag=value at the '=' (COMP_WORDBREAKS), which the function
// undoes.
func writeBashCompletion(w io.Writer, all []*command) {
	names := make([]string, len(all))
	for i, c := range all {
		names[i] = c.name
	}
	fmt.Fprintf(w, `# bash completion for iace, written by 'iace completion bash'.
# Load it now: source <(iace completion bash)
# or for every shell: iace completion bash > /etc/bash_completion.d/iace

_iace() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=""
    (( COMP_CWORD > 0 )) && prev=${COMP_WORDS[COMP_CWORD-1]}
    if [[ $cur == "=" ]]; then
        cur=""
    elif [[ $prev == "=" ]] && (( COMP_CWORD > 1 )); then
        prev=${COMP_WORDS[COMP_CWORD-2]}
    fi
    if (( COMP_CWORD == 1 )); then
        COMPREPLY=( $(compgen -W %q -- "$cur") )
        return
    fi
    local verbs="" flags="" valued="" files="" dirs=""
    case ${COMP_WORDS[1]} in
`, strings.Join(names, " "))
	for _, c := range all {
		var flags, valued, files, dirs []string
		for _, f := range flagsOf(c) {
			flags = append(flags, "--"+f.Name)
			if !isBool(f) {
				valued = append(valued, "--"+f.Name)
			}
			switch pathFlags[f.Name] {
			case "file":
				files = append(files, "--"+f.Name)
			case "dir":
				dirs = append(dirs, "--"+f.Name)
			}
		}
		fmt.Fprintf(w, "        %s)\n            verbs=%q\n            flags=%q\n            valued=%q\n            files=%q\n            dirs=%q\n            ;;\n",
			c.name, strings.Join(verbsOf(c, all), " "), strings.Join(flags, " "), strings.Join(valued, " "),
			strings.Join(files, " "), strings.Join(dirs, " "))
	}
	fmt.Fprint(w, `        *)
            return
            ;;
    esac
    if [[ " $dirs " == *" $prev "* ]]; then
        compopt -o filenames 2>/dev/null
        COMPREPLY=( $(compgen -d -- "$cur") )
        return
    fi
    if [[ " $files " == *" $prev "* ]]; then
        compopt -o filenames 2>/dev/null
        COMPREPLY=( $(compgen -f -- "$cur") )
        return
    fi
    if [[ -n $prev && " $valued " == *" $prev "* ]]; then
        return # the flag's value
    fi
    if [[ -n $verbs && $COMP_CWORD -eq 2 && $cur != -* ]]; then
        COMPREPLY=( $(compgen -W "$verbs" -- "$cur") )
        return
    fi
    COMPREPLY=( $(compgen -W "$flags" -- "$cur") )
}

complete -F _iace iace
`)
}

// writeZshCompletion writes a zsh completion function for iace (#compdef,
// _arguments; https://zsh.sourceforge.io/Doc/Release/Completion-System.html),
// built from the commands' flag sets, each flag with the start of its
// description.
func writeZshCompletion(w io.Writer, all []*command) {
	fmt.Fprint(w, `#compdef iace
# zsh completion for iace, written by 'iace completion zsh'.
# Install: iace completion zsh > "${fpath[1]}/_iace", then start a new shell.
# Or load it now, after compinit: source <(iace completion zsh)

_iace() {
  local -a commands
  commands=(
`)
	for _, c := range all {
		fmt.Fprintf(w, "    %s\n", zshQuote(c.name+":"+c.summary))
	}
	fmt.Fprint(w, `  )
  if (( CURRENT == 2 )); then
    _describe -t commands 'iace command' commands
    return
  fi
  local cmd=${words[2]}
  shift words
  (( CURRENT-- ))
  case $cmd in
`)
	for _, c := range all {
		fmt.Fprintf(w, "    %s)\n      _arguments -S", c.name)
		if verbs := verbsOf(c, all); len(verbs) > 0 {
			fmt.Fprintf(w, " \\\n        %s", zshQuote("1:"+c.name+":("+strings.Join(verbs, " ")+")"))
		}
		for _, f := range flagsOf(c) {
			fmt.Fprintf(w, " \\\n        %s", zshQuote(zshFlagSpec(f)))
		}
		fmt.Fprint(w, "\n      ;;\n")
	}
	fmt.Fprint(w, `  esac
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _iace "$@"
else
  compdef _iace iace
fi
`)
}

// zshFlagSpec is a flag as an _arguments spec: --name[description] for a
// boolean, --name=[description]:value:action for a flag with a value
// (given after '=' or as the next word).
func zshFlagSpec(f *flag.Flag) string {
	desc := zshEscape(shortUsage(f.Usage))
	if isBool(f) {
		return "--" + f.Name + "[" + desc + "]"
	}
	action := " "
	switch pathFlags[f.Name] {
	case "file":
		action = "_files"
	case "dir":
		action = "_files -/"
	}
	return "--" + f.Name + "=[" + desc + "]:" + f.Name + ":" + action
}

// shortUsage is the start of a flag's usage: up to its first semicolon, at
// most about 70 characters.
func shortUsage(s string) string {
	if i := strings.IndexByte(s, ';'); i > 0 {
		s = s[:i]
	}
	const most = 70
	if len(s) <= most {
		return s
	}
	if i := strings.LastIndexByte(s[:most], ' '); i > 0 {
		s = s[:i]
	}
	return s + "..."
}

// zshEscape escapes what _arguments reads in a description: brackets,
// colons and backslashes.
func zshEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `[`, `\[`, `]`, `\]`, `:`, `\:`).Replace(s)
}

// zshQuote is s single-quoted for the shell.
func zshQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
