package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = ""

// buildVersion returns the version set at build time, else the module
// version Go recorded (a tagged `go install`), else "dev".
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func versionCommand() *command {
	return &command{
		name: "version", summary: "print the version", maxArgs: 0,
		examples: []string{"thingcore version", "thingcore version --output json"},
		setup: func(e *env, fs *flag.FlagSet) action {
			output := outputTable
			fs.Var(&output, "output", "output `FORMAT`: table or json")
			return func(context.Context, []string) error {
				v := struct {
					Version   string `json:"version"`
					GoVersion string `json:"go_version"`
					Platform  string `json:"platform"`
				}{buildVersion(), runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH}
				if output == outputJSON {
					return writeJSON(e.stdout, v)
				}
				fmt.Fprintf(e.stdout, "thingcore %s (%s, %s)\n", v.Version, v.GoVersion, v.Platform)
				return nil
			}
		},
	}
}
