package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/thingcore/thingcore/internal/hub"
)

func consoleCommand() *command {
	return &command{
		name:    "console",
		summary: "manage the web console's sign-in",
		long: "The web console is served by `thingcore serve` at https://HOST:8443/console/. It signs in with\n" +
			"the admin access key, or with a console password set here.",
		examples: []string{
			`read -rs P && printf '%s\n' "$P" | thingcore console password && unset P`,
		},
		subs: []*command{consolePasswordCommand()},
	}
}

func consolePasswordCommand() *command {
	return &command{
		name: "password", maxArgs: 0,
		summary: "set the console password (read from standard input)",
		long: "Reads the password from the first line of standard input, which must not be a terminal (so the\n" +
			"password is never echoed), and stores its hash (PBKDF2-SHA256, mode 0600) in the data directory\n" +
			"as " + hub.ConsolePasswordFile + ", replacing an earlier one. At least 12 characters. The hub\n" +
			"reads it at start: restart `thingcore serve` afterwards.",
		examples: []string{
			`read -rs P && printf '%s\n' "$P" | thingcore console password && unset P`,
			"thingcore console password --data-dir /var/lib/thingcore < password.txt",
		},
		setup: func(e *env, fs *flag.FlagSet) action {
			dataDir := fs.String("data-dir", e.envOr("THINGCORE_DATA_DIR", hub.DefaultConfig().DataDir),
				"the hub's data `DIR` (env THINGCORE_DATA_DIR)")
			return func(context.Context, []string) error {
				if st, err := os.Stdin.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
					return usagef("standard input is a terminal or device, not a pipe or file: pipe the password in, e.g. read -rs P && printf '%%s\\n' \"$P\" | thingcore console password")
				}
				pw, err := readPasswordLine(os.Stdin)
				if err != nil {
					return err
				}
				if _, err := os.Stat(*dataDir); err != nil {
					return fmt.Errorf("data directory %s: %w (start the hub once with `thingcore serve --data-dir %s`)", *dataDir, err, *dataDir)
				}
				if err := hub.SetConsolePassword(*dataDir, pw); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "Console password set in %s; restart the hub to use it.\n", filepath.Join(*dataDir, hub.ConsolePasswordFile))
				return nil
			}
		},
	}
}

// readPasswordLine returns the first line of r without its line ending.
func readPasswordLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input")
	}
	return line, nil
}
