package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/thingcore/thingcore/device"
)

func pubCommand() *command {
	return &command{
		name: "pub", args: "TOPIC", summary: "publish an MQTT message (as the admin, or as a device with --dir)", minArgs: 1, maxArgs: 1,
		long: "Publishes one message to TOPIC as the admin, like `aws iot-data publish`: every subscriber\n" +
			"the topic matches receives it. --retain keeps it for new subscribers; an empty --retain\n" +
			"message deletes the retained one. With --dir it connects as that device over MQTT and\n" +
			"publishes as the device would, under the device's policy.\n\n" +
			"Exit codes: 0 published, 1 on errors, 2 on a wrong command line, 3 when the hub refuses the\n" +
			"publish (policy; MQTT 5 only: an MQTT 3.1.1 refusal closes the connection, exit 1).",
		examples: []string{
			`thingcore pub things/my-device/cmd -m '{"led":"on"}'`,
			"thingcore pub status/hub -m online --qos 1 --retain",
			`thingcore pub --dir my-device '$aws/things/my-device/shadow/update' -m '{"state":{"reported":{"t":21}}}' --qos 1`,
		},
		setup: func(e *env, fs *flag.FlagSet) action {
			var msg string
			fs.StringVar(&msg, "m", "", "the message `PAYLOAD` (also --message)")
			fs.StringVar(&msg, "message", "", "the message `PAYLOAD`")
			qos := fs.Int("qos", 0, "the `QOS`, 0 or 1")
			retain := fs.Bool("retain", false, "retain the message on the topic")
			df := addDeviceFlags(fs)
			asAdmin := e.dataAction(fs, func(ctx context.Context, dc *dataClient, args []string) error {
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
			return func(ctx context.Context, args []string) error {
				if df.dir == "" {
					return asAdmin(ctx, args)
				}
				if *qos != 0 && *qos != 1 {
					return usagef("--qos %d: want 0 or 1", *qos)
				}
				c, err := df.connect(ctx)
				if err != nil {
					return err
				}
				defer c.Close(context.Background())
				m := device.Message{Topic: args[0], Payload: []byte(msg), QoS: device.QoS(*qos), Retain: *retain}
				if err := c.Publish(ctx, m); err != nil {
					return refused(err)
				}
				fmt.Fprintf(e.stdout, "Published %d bytes to %s as %s\n", len(msg), args[0], c.Config().ClientID)
				return nil
			}
		},
	}
}
