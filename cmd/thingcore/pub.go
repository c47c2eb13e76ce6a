package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

func pubCommand() *command {
	return &command{
		name: "pub", args: "TOPIC", summary: "publish an MQTT message (through the data plane's HTTP Publish)", minArgs: 1, maxArgs: 1,
		long: "Publishes one message to TOPIC as the admin, like `aws iot-data publish`: every subscriber\n" +
			"the topic matches receives it. --retain keeps it for new subscribers; an empty --retain\n" +
			"message deletes the retained one.",
		examples: []string{
			`thingcore pub things/my-device/cmd -m '{"led":"on"}'`,
			"thingcore pub status/hub -m online --qos 1 --retain",
		},
		setup: func(e *env, fs *flag.FlagSet) action {
			var msg string
			fs.StringVar(&msg, "m", "", "the message `PAYLOAD` (also --message)")
			fs.StringVar(&msg, "message", "", "the message `PAYLOAD`")
			qos := fs.Int("qos", 0, "the `QOS`, 0 or 1")
			retain := fs.Bool("retain", false, "retain the message on the topic")
			return e.dataAction(fs, func(ctx context.Context, dc *dataClient, args []string) error {
				if *qos != 0 && *qos != 1 {
					return usagef("--qos %d: want 0 or 1", *qos)
				}
				q := url.Values{"qos": {strconv.Itoa(*qos)}}
				if *retain {
					q.Set("retain", "true")
				}
				if _, err := dc.call(ctx, dataReq{op: "Publish", method: http.MethodPost, path: "/topics/" + url.PathEscape(args[0]),
					query: q, body: []byte(msg)}); err != nil {
					return err
				}
				if dc.output != outputJSON {
					fmt.Fprintf(e.stdout, "Published %d bytes to %s\n", len(msg), args[0])
				}
				return nil
			})
		},
	}
}
