package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/thingcore/thingcore/device"
	"github.com/thingcore/thingcore/internal/dataplane"
)

// Exit codes of sub and pub beyond exitOK, exitError and exitUsage.
const (
	exitRefused = 3 // the hub refused the subscription or publish (policy)
	exitTimeout = 4 // --timeout passed before --count messages arrived
)

// exitCodeError makes a command exit with code instead of exitError.
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string { return e.err.Error() }
func (e *exitCodeError) Unwrap() error { return e.err }

// deviceFlags are the flags of commands that can act as a device: --dir
// names a device folder (`thing create` writes one) whose certificate the
// command connects with over MQTT.
type deviceFlags struct {
	dir      string
	endpoint string
	protocol string
}

func addDeviceFlags(fs *flag.FlagSet) *deviceFlags {
	df := &deviceFlags{}
	fs.StringVar(&df.dir, "dir", "", "act as the device of folder `DIR` (its certificate, over MQTT) instead of as the admin")
	fs.StringVar(&df.endpoint, "mqtt-endpoint", "", "with --dir: MQTT `HOST:PORT` (default: the folder's device.json)")
	fs.StringVar(&df.protocol, "protocol", "mqtt5", "with --dir: `PROTOCOL` mqtt5 or mqtt311")
	return df
}

// connect opens the device connection of df.dir.
func (df *deviceFlags) connect(ctx context.Context) (*device.Client, error) {
	cfg, err := device.LoadFolder(df.dir)
	if err != nil {
		return nil, err
	}
	if df.endpoint != "" {
		cfg.Endpoint = df.endpoint
	}
	switch df.protocol {
	case "mqtt5":
		cfg.Protocol = device.MQTT5
	case "mqtt311":
		cfg.Protocol = device.MQTT311
	default:
		return nil, usagef("--protocol %q: want mqtt5 or mqtt311", df.protocol)
	}
	// A terminal client: no session left behind, no queue of old messages.
	cfg.CleanStart = true
	c, err := device.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	if err := c.Connect(ctx); err != nil {
		c.Close(context.Background())
		return nil, fmt.Errorf("connect as %s to %s: %w", cfg.ClientID, cfg.Endpoint, err)
	}
	return c, nil
}

// refused turns the hub's refusal (a reason code >= 0x80) into exitRefused.
func refused(err error) error {
	var re *device.ReasonError
	if errors.As(err, &re) {
		return &exitCodeError{code: exitRefused, err: err}
	}
	return err
}

func subCommand() *command {
	return &command{
		name: "sub", args: "FILTER...", summary: "print the MQTT messages that match topic filters", minArgs: 1, maxArgs: -1,
		long: "Subscribes to the topic filters (wildcards and $aws/... allowed) and prints each message with\n" +
			"its time and topic; JSON payloads are pretty-printed (--output json: one JSON object per line).\n" +
			"As the admin (the default) it sees every message, through the hub's watch endpoint; with --dir\n" +
			"it connects as that device over MQTT, and sees only what the device's policy lets it receive.\n\n" +
			"Exit codes: 0 after --count messages or Ctrl-C, 1 on errors, 2 on a wrong command line,\n" +
			"3 when the hub refuses the subscription (policy), 4 when --timeout passes first.",
		examples: []string{
			"thingcore sub '$aws/things/+/shadow/update'",
			"thingcore sub 'things/#' --count 1 --timeout 30s",
			"thingcore sub --dir my-device '$aws/things/my-device/shadow/update/delta'",
		},
		setup: func(e *env, fs *flag.FlagSet) action {
			df := addDeviceFlags(fs)
			count := fs.Int("count", 0, "exit after `N` messages (0: run until Ctrl-C)")
			timeout := fs.Duration("timeout", 0, "give up after `DURATION` (exit code 4)")
			qos := fs.Int("qos", 1, "with --dir: the subscription's `QOS`, 0 or 1")
			act := func(ctx context.Context, args []string, output outputFormat, run func(ctx context.Context, print func(string, []byte, time.Time) error) error) error {
				if *timeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, *timeout)
					defer cancel()
				}
				p := &messagePrinter{w: e.stdout, json: output == outputJSON}
				err := run(ctx, p.print)
				if errors.Is(ctx.Err(), context.DeadlineExceeded) && *timeout > 0 {
					return &exitCodeError{code: exitTimeout, err: fmt.Errorf("no more messages within %s (%d received)", *timeout, p.n)}
				}
				return err
			}
			asAdmin := e.dataAction(fs, func(ctx context.Context, dc *dataClient, args []string) error {
				return act(ctx, args, dc.output, func(ctx context.Context, print func(string, []byte, time.Time) error) error {
					return dc.watch(ctx, e, args, fmt.Sprintf("Subscribed to %q as the admin", args), *count, func(ev dataplane.WatchEvent) error {
						return print(ev.Topic, ev.Payload, time.UnixMilli(ev.Timestamp))
					})
				})
			})
			return func(ctx context.Context, args []string) error {
				if df.dir == "" {
					return asAdmin(ctx, args)
				}
				if *qos != 0 && *qos != 1 {
					return usagef("--qos %d: want 0 or 1", *qos)
				}
				output := outputTable
				if f := fs.Lookup("output"); f != nil && f.Value.String() == string(outputJSON) {
					output = outputJSON // --output is one of the admin flags
				}
				return act(ctx, args, output, func(ctx context.Context, print func(string, []byte, time.Time) error) error {
					return subscribeAsDevice(ctx, e, df, args, device.QoS(*qos), *count, print)
				})
			}
		},
	}
}

// subscribeAsDevice subscribes as the device of df and prints messages until
// ctx ends or count messages arrived.
func subscribeAsDevice(ctx context.Context, e *env, df *deviceFlags, filters []string, qos device.QoS, count int, print func(string, []byte, time.Time) error) error {
	c, err := df.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	msgs := make(chan device.Message, 256)
	for _, f := range filters {
		err := c.Subscribe(ctx, f, qos, func(m device.Message) {
			select {
			case msgs <- m:
			default: // a terminal that cannot keep up loses messages, not the connection
			}
		})
		if err != nil {
			return refused(err)
		}
	}
	fmt.Fprintf(e.stderr, "Subscribed to %q as %s (Ctrl-C to stop)\n", filters, c.Config().ClientID)
	for n := 0; count == 0 || n < count; n++ {
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return ctx.Err()
			}
			return nil // Ctrl-C
		case m := <-msgs:
			if err := print(m.Topic, m.Payload, time.Now()); err != nil {
				return err
			}
		}
	}
	return nil
}

// messagePrinter writes received messages: a header line and the payload,
// indented when it is JSON, or one JSON object per line.
type messagePrinter struct {
	w    io.Writer
	json bool
	n    int
}

func (p *messagePrinter) print(topic string, payload []byte, at time.Time) error {
	p.n++
	if p.json {
		v := json.RawMessage(payload)
		if !json.Valid(payload) {
			v, _ = json.Marshal(string(payload))
		}
		b, err := json.Marshal(map[string]any{"topic": topic, "timestamp": at.UnixMilli(), "payload": v})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(p.w, "%s\n", b)
		return err
	}
	var body bytes.Buffer
	if json.Valid(payload) && json.Indent(&body, payload, "  ", "  ") == nil {
		_, err := fmt.Fprintf(p.w, "%s  %s\n  %s\n", at.Format("15:04:05.000"), topic, body.Bytes())
		return err
	}
	_, err := fmt.Fprintf(p.w, "%s  %s\n  %s\n", at.Format("15:04:05.000"), topic, payload)
	return err
}
