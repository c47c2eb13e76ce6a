// Command thingcore is the thingcore hub and its admin CLI: `thingcore
// serve` runs the hub; every other command (`thingcore thing create`,
// `thingcore cert list`, ...) is a client of the hub's AWS-compatible
// control-plane API, signed with the admin credentials in the data
// directory, except `thingcore cert convert`, which works on local files
// only.
//
// It is the top of the import graph: nothing imports it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default handling so that a second
	// Ctrl-C ends the process at once instead of waiting for the drain.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
