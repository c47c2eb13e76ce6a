package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed
	exitUsage = 2 // the command line was wrong
)

// env is what a command may touch of the outside world besides the network
// and the file system: its output streams and the environment.
type env struct {
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
}

// getenv returns the value of an environment variable, or "" when unset.
func (e *env) getenv(name string) string {
	v, _ := e.lookupEnv(name)
	return v
}

// envOr returns the value of an environment variable, or def when it is
// unset or empty.
func (e *env) envOr(name, def string) string {
	if v := e.getenv(name); v != "" {
		return v
	}
	return def
}

// action runs a leaf command with its positional arguments.
type action func(ctx context.Context, args []string) error

// command is a node of the `thingcore <noun> <verb>` tree: either a group
// with subs, or a leaf with setup.
type command struct {
	name     string
	args     string // synopsis of the positional arguments, e.g. "NAME"
	summary  string // one line, shown in the parent's list
	long     string // paragraphs shown by -h
	examples []string
	minArgs  int
	maxArgs  int // -1: unlimited
	// setup registers the command's flags on fs and returns its action.
	// It has no other effect, so help can call it to list the flags.
	setup func(e *env, fs *flag.FlagSet) action
	subs  []*command
}

func (c *command) sub(name string) *command {
	for _, s := range c.subs {
		if s.name == name {
			return s
		}
	}
	return nil
}

// usageError is a wrong command line: exit code 2 and a pointer to -h.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// run is the testable entry point: it runs one command line (without the
// program name) and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr, lookupEnv: os.LookupEnv}
	return e.dispatch(ctx, rootCommand(), nil, args)
}

func rootCommand() *command {
	return &command{
		name:    "thingcore",
		summary: "a self-hosted IoT hub that speaks AWS IoT Core's protocols and APIs",
		long: "thingcore runs an MQTT broker, a certificate authority and an AWS IoT-compatible API on your own\n" +
			"machine. Devices connect with X.509 certificates over MQTT/TLS, exactly as they would to AWS IoT\n" +
			"Core; the admin commands below are clients of the hub's API (the same as `aws iot` and\n" +
			"`aws iot-data`: things, certificates, device shadows, publish) and sign their requests with the\n" +
			"admin credentials the hub keeps in its data directory.",
		examples: []string{
			"thingcore serve                      # start the hub (prints its endpoints and admin key once)",
			"thingcore thing create my-device     # a thing, its certificate and a ready-to-copy device folder",
			"thingcore thing list --output json",
			`thingcore shadow update my-device --desired '{"led":"on"}'   # the device gets the delta`,
			"thingcore shadow watch my-device     # deltas and documents as they happen",
			"thingcore cert convert private.pem.key   # PEM -> DER for MicroPython, without OpenSSL",
		},
		subs: []*command{serveCommand(), thingCommand(), certCommand(), consoleCommand(), shadowCommand(), pubCommand(), subCommand(), doctorCommand(), deviceCommand(), versionCommand()},
	}
}

// dispatch walks the command tree along args and runs the leaf it reaches.
func (e *env) dispatch(ctx context.Context, c *command, path []string, args []string) int {
	path = append(path, c.name)
	if len(c.subs) == 0 {
		return e.runLeaf(ctx, c, path, args)
	}
	if len(args) == 0 {
		e.printHelp(e.stderr, c, path)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		e.printHelp(e.stdout, c, path)
		return exitOK
	case "help":
		return e.help(c, path, args[1:])
	}
	s := c.sub(args[0])
	if s == nil {
		return e.usage(path, usagef("unknown command %q", args[0]))
	}
	return e.dispatch(ctx, s, path, args[1:])
}

// help prints the help of the command that names reaches from c:
// `thingcore help thing create`.
func (e *env) help(c *command, path, names []string) int {
	for _, n := range names {
		s := c.sub(n)
		if s == nil {
			return e.usage(path, usagef("unknown command %q", n))
		}
		c, path = s, append(path, n)
	}
	e.printHelp(e.stdout, c, path)
	return exitOK
}

func (e *env) runLeaf(ctx context.Context, c *command, path []string, args []string) int {
	fs := newFlagSet(path)
	act := c.setup(e, fs)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		e.printHelp(e.stdout, c, path)
		return exitOK
	}
	if err != nil {
		return e.usage(path, err)
	}
	if len(pos) < c.minArgs || (c.maxArgs >= 0 && len(pos) > c.maxArgs) {
		want := "no arguments"
		if c.args != "" {
			want = c.args
		}
		return e.usage(path, usagef("wrong number of arguments (%d); want %s", len(pos), want))
	}
	if err := act(ctx, pos); err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			return e.usage(path, err)
		}
		fmt.Fprintf(e.stderr, "%s: %v\n", strings.Join(path, " "), err)
		var ce *exitCodeError
		if errors.As(err, &ce) {
			return ce.code
		}
		return exitError
	}
	return exitOK
}

func (e *env) usage(path []string, err error) int {
	cmd := strings.Join(path, " ")
	fmt.Fprintf(e.stderr, "%s: %v\nRun '%s -h' for usage.\n", cmd, err, cmd)
	return exitUsage
}

func newFlagSet(path []string) *flag.FlagSet {
	fs := flag.NewFlagSet(strings.Join(path, " "), flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and help are printed by dispatch
	return fs
}

// parseInterspersed parses flags wherever they appear among the positional
// arguments (`thing create my-device --key-type ec`), which the flag
// package alone does not. Everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// printHelp writes the usage of c: synopsis, description, subcommands or
// flags, examples.
func (e *env) printHelp(w io.Writer, c *command, path []string) {
	name := strings.Join(path, " ")
	switch {
	case len(c.subs) > 0:
		fmt.Fprintf(w, "Usage: %s <command> [flags]\n\n", name)
	case c.args != "":
		fmt.Fprintf(w, "Usage: %s %s [flags]\n\n", name, c.args)
	default:
		fmt.Fprintf(w, "Usage: %s [flags]\n\n", name)
	}
	if c.long != "" {
		fmt.Fprintf(w, "%s\n\n", c.long)
	} else if c.summary != "" {
		fmt.Fprintf(w, "%s.\n\n", upperFirst(c.summary))
	}
	if len(c.subs) > 0 {
		fmt.Fprintln(w, "Commands:")
		tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
		for _, s := range c.subs {
			fmt.Fprintf(tw, "  %s\t%s\n", s.name, s.summary)
		}
		tw.Flush()
		fmt.Fprintln(w)
	} else {
		fs := newFlagSet(path)
		c.setup(e, fs)
		fmt.Fprintln(w, "Flags:")
		tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
		fs.VisitAll(func(f *flag.Flag) {
			typ, usage := flag.UnquoteUsage(f)
			if typ != "" {
				typ = " " + typ
			}
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" {
				usage += fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(tw, "  --%s%s\t%s\n", f.Name, typ, usage)
		})
		fmt.Fprintf(tw, "  -h, --help\tshow this help\n")
		tw.Flush()
		fmt.Fprintln(w)
	}
	if len(c.examples) > 0 {
		fmt.Fprintln(w, "Examples:")
		for _, ex := range c.examples {
			fmt.Fprintf(w, "  %s\n", ex)
		}
		fmt.Fprintln(w)
	}
	if len(c.subs) > 0 {
		fmt.Fprintf(w, "Run '%s <command> -h' for a command's flags and examples.\n", name)
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// stringList is a repeatable flag; each use appends one value.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// outputFormat is the --output flag of read commands.
type outputFormat string

const (
	outputTable outputFormat = "table"
	outputJSON  outputFormat = "json"
)

func (o *outputFormat) String() string { return string(*o) }

func (o *outputFormat) Set(v string) error {
	switch outputFormat(v) {
	case outputTable, outputJSON:
		*o = outputFormat(v)
		return nil
	}
	return fmt.Errorf("%q is not an output format; want table or json", v)
}
