package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/thingcore/thingcore/internal/dataplane"
)

func shadowCommand() *command {
	return &command{
		name:    "shadow",
		summary: "read, update, delete, list and watch device shadows",
		long: "A device shadow is the JSON document AWS IoT keeps for a thing: the state the device reported\n" +
			"and the state you desire, with the difference (delta) sent to the device. These commands use the\n" +
			"hub's data-plane API (the same as `aws iot-data`); devices use the MQTT topics\n" +
			"$aws/things/NAME/shadow/... . --name selects a named shadow; without it, the classic shadow.",
		examples: []string{
			"thingcore shadow get my-device",
			`thingcore shadow update my-device --desired '{"led":"on"}'`,
			"thingcore shadow watch my-device      # deltas and documents as they happen",
			"thingcore shadow list my-device       # named shadows",
			"thingcore shadow delete my-device --name config",
		},
		subs: []*command{shadowGetCommand(), shadowUpdateCommand(), shadowDeleteCommand(), shadowListCommand(), shadowWatchCommand()},
	}
}

// shadowPath is /things/{thing}/shadow with the thing escaped.
func shadowPath(thing string) string { return "/things/" + url.PathEscape(thing) + "/shadow" }

// shadowLabel names a shadow in messages: "my-device" or "my-device (config)".
func shadowLabel(thing, name string) string {
	if name == "" {
		return thing
	}
	return thing + " (" + name + ")"
}

func shadowGetCommand() *command {
	return &command{
		name: "get", args: "THING", summary: "show a shadow document", minArgs: 1, maxArgs: 1,
		examples: []string{"thingcore shadow get my-device", "thingcore shadow get my-device --name config --output json"},
		setup: func(e *env, fs *flag.FlagSet) action {
			name := fs.String("name", "", "the named shadow `NAME` (default: the classic shadow)")
			return e.dataAction(fs, func(ctx context.Context, dc *dataClient, args []string) error {
				doc, err := dc.call(ctx, dataReq{op: "GetThingShadow", method: http.MethodGet, path: shadowPath(args[0]), query: shadowQuery(*name)})
				if err != nil {
					return err
				}
				if dc.output == outputJSON {
					return writeIndented(e.stdout, doc)
				}
				return printShadow(e, doc)
			})
		},
	}
}

// printShadow writes the sections of a shadow document, one per line.
func printShadow(e *env, doc []byte) error {
	var d struct {
		State struct {
			Desired, Reported, Delta json.RawMessage
		} `json:"state"`
		Version   int64 `json:"version"`
		Timestamp int64 `json:"timestamp"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return writeIndented(e.stdout, doc)
	}
	str := func(r json.RawMessage) string {
		if len(r) == 0 {
			return "-"
		}
		return string(r)
	}
	return fields(e.stdout, [][2]string{
		{"Version", strconv.FormatInt(d.Version, 10)},
		{"Desired", str(d.State.Desired)}, {"Reported", str(d.State.Reported)}, {"Delta", str(d.State.Delta)},
	})
}

func shadowUpdateCommand() *command {
	return &command{
		name: "update", args: "THING", summary: "update a shadow's desired or reported state", minArgs: 1, maxArgs: 1,
		long: "Merges a partial state into the shadow, as a device's update does: keys you give replace\n" +
			"theirs, null removes a key, and everything else is kept. --desired and --reported give one\n" +
			"section each (both may be given); --doc or --file give a whole request document\n" +
			`({"state":{...},"version":N} for optimistic locking).`,
		examples: []string{
			`thingcore shadow update my-device --desired '{"led":"on"}'`,
			`thingcore shadow update my-device --reported '{"temperature":21.5}' --name env`,
			`thingcore shadow update my-device --doc '{"state":{"desired":null}}'`,
			"thingcore shadow update my-device --file shadow.json",
		},
		setup: func(e *env, fs *flag.FlagSet) action {
			name := fs.String("name", "", "the named shadow `NAME` (default: the classic shadow)")
			desired := fs.String("desired", "", "the desired state, a `JSON` object")
			reported := fs.String("reported", "", "the reported state, a `JSON` object")
			doc := fs.String("doc", "", "the whole update request document, `JSON`")
			file := fs.String("file", "", "read the update request document from `FILE`")
			return e.dataAction(fs, func(ctx context.Context, dc *dataClient, args []string) error {
				body, err := updateBody(*desired, *reported, *doc, *file)
				if err != nil {
					return err
				}
				out, err := dc.call(ctx, dataReq{op: "UpdateThingShadow", method: http.MethodPost, path: shadowPath(args[0]),
					query: shadowQuery(*name), body: body})
				if err != nil {
					return err
				}
				if dc.output == outputJSON {
					return writeIndented(e.stdout, out)
				}
				var v struct{ Version int64 }
				_ = json.Unmarshal(out, &v)
				fmt.Fprintf(e.stdout, "Updated the shadow of %s: version %d\n", shadowLabel(args[0], *name), v.Version)
				return nil
			})
		},
	}
}

// updateBody builds the update request from the flags.
func updateBody(desired, reported, doc, file string) ([]byte, error) {
	sections := desired != "" || reported != ""
	whole := 0
	for _, s := range []string{doc, file} {
		if s != "" {
			whole++
		}
	}
	switch {
	case !sections && whole == 0:
		return nil, usagef("give --desired, --reported, --doc or --file")
	case whole > 1 || (sections && whole > 0):
		return nil, usagef("--doc and --file each give the whole document: use one, without --desired or --reported")
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		if !json.Valid(b) {
			return nil, fmt.Errorf("%s is not valid JSON", file)
		}
		return b, nil
	}
	if doc != "" {
		if !json.Valid([]byte(doc)) {
			return nil, usagef("--doc is not valid JSON")
		}
		return []byte(doc), nil
	}
	state := map[string]json.RawMessage{}
	for _, f := range []struct{ flag, value string }{{"desired", desired}, {"reported", reported}} {
		if f.value == "" {
			continue
		}
		if !json.Valid([]byte(f.value)) {
			return nil, usagef("--%s is not valid JSON: give an object such as '{\"led\":\"on\"}' (quoted for the shell)", f.flag)
		}
		state[f.flag] = json.RawMessage(f.value)
	}
	return json.Marshal(map[string]any{"state": state})
}

func shadowDeleteCommand() *command {
	return &command{
		name: "delete", args: "THING", summary: "delete a shadow", minArgs: 1, maxArgs: 1,
		long:     "Deletes a shadow. As on AWS, a shadow created again within 48 hours continues its version.",
		examples: []string{"thingcore shadow delete my-device", "thingcore shadow delete my-device --name config"},
		setup: func(e *env, fs *flag.FlagSet) action {
			name := fs.String("name", "", "the named shadow `NAME` (default: the classic shadow)")
			return e.dataAction(fs, func(ctx context.Context, dc *dataClient, args []string) error {
				out, err := dc.call(ctx, dataReq{op: "DeleteThingShadow", method: http.MethodDelete, path: shadowPath(args[0]), query: shadowQuery(*name)})
				if err != nil {
					return err
				}
				if dc.output == outputJSON {
					return writeIndented(e.stdout, out)
				}
				var v struct{ Version int64 }
				_ = json.Unmarshal(out, &v)
				fmt.Fprintf(e.stdout, "Deleted the shadow of %s (it was at version %d)\n", shadowLabel(args[0], *name), v.Version)
				return nil
			})
		},
	}
}

func shadowListCommand() *command {
	return &command{
		name: "list", args: "THING", summary: "list a thing's named shadows", minArgs: 1, maxArgs: 1,
		examples: []string{"thingcore shadow list my-device", "thingcore shadow list my-device --output json"},
		setup: func(e *env, fs *flag.FlagSet) action {
			return e.dataAction(fs, func(ctx context.Context, dc *dataClient, args []string) error {
				names := []string{}
				next := ""
				for {
					q := url.Values{}
					if next != "" {
						q.Set("nextToken", next)
					}
					out, err := dc.call(ctx, dataReq{op: "ListNamedShadowsForThing", method: http.MethodGet,
						path: "/api/things/shadow/ListNamedShadowsForThing/" + url.PathEscape(args[0]), query: q})
					if err != nil {
						return err
					}
					var page struct {
						Results   []string `json:"results"`
						NextToken string   `json:"nextToken"`
					}
					if err := json.Unmarshal(out, &page); err != nil {
						return fmt.Errorf("ListNamedShadowsForThing: %w", err)
					}
					names = append(names, page.Results...)
					if next = page.NextToken; next == "" {
						break
					}
				}
				if dc.output == outputJSON {
					return writeJSON(e.stdout, struct {
						Results []string `json:"results"`
					}{names})
				}
				if len(names) == 0 {
					fmt.Fprintf(e.stdout, "%s has no named shadows (its classic shadow: thingcore shadow get %s)\n", args[0], args[0])
					return nil
				}
				for _, n := range names {
					fmt.Fprintln(e.stdout, n)
				}
				return nil
			})
		},
	}
}

func shadowWatchCommand() *command {
	return &command{
		name: "watch", args: "THING", summary: "print a shadow's deltas and documents as they happen", minArgs: 1, maxArgs: 1,
		long: "Prints every update/delta, update/documents and delete/accepted message of the shadow, one per\n" +
			"line, until Ctrl-C. With --output json each line is {\"topic\",\"timestamp\",\"payload\"} with the\n" +
			"payload as JSON. It streams from the hub's admin watch endpoint, so it needs no device certificate.",
		examples: []string{"thingcore shadow watch my-device", "thingcore shadow watch my-device --name config --output json"},
		setup: func(e *env, fs *flag.FlagSet) action {
			name := fs.String("name", "", "the named shadow `NAME` (default: the classic shadow)")
			count := fs.Int("count", 0, "exit after `N` messages (0: run until Ctrl-C)")
			return e.dataAction(fs, func(ctx context.Context, dc *dataClient, args []string) error {
				prefix := "$aws/things/" + args[0] + "/shadow"
				if *name != "" {
					prefix += "/name/" + *name
				}
				filters := []string{prefix + "/update/delta", prefix + "/update/documents", prefix + "/delete/accepted"}
				jsonLines := &messagePrinter{w: e.stdout, json: true}
				return dc.watch(ctx, e, filters, "Watching the shadow of "+shadowLabel(args[0], *name), *count, func(ev dataplane.WatchEvent) error {
					suffix := strings.TrimPrefix(ev.Topic, prefix+"/")
					if dc.output == outputJSON {
						return jsonLines.print(ev.Topic, ev.Payload, time.UnixMilli(ev.Timestamp))
					}
					fmt.Fprintf(e.stdout, "%s  %-16s %s\n", time.UnixMilli(ev.Timestamp).Format("15:04:05.000"), suffix, ev.Payload)
					return nil
				})
			})
		},
	}
}

// watch streams the broker messages matching filters from the hub's watch
// endpoint and hands each to fn, until ctx ends, the hub closes the stream,
// or count messages were handled (count 0: no limit). It says on stderr
// once the stream is open.
func (dc *dataClient) watch(ctx context.Context, e *env, filters []string, what string, count int, fn func(dataplane.WatchEvent) error) error {
	resp, err := dc.send(ctx, dataReq{op: "Watch", method: http.MethodGet, path: dataplane.WatchPath,
		query: url.Values{"filter": filters}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	fmt.Fprintf(e.stderr, "%s (Ctrl-C to stop)\n", what)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var event string
	seen := 0
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "dropped":
			fmt.Fprintf(e.stderr, "warning: the hub dropped messages for this slow stream: %s\n", strings.TrimPrefix(line, "data: "))
		case strings.HasPrefix(line, "data: ") && event == "message":
			var ev dataplane.WatchEvent
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev); err != nil {
				return fmt.Errorf("watch: bad event: %w", err)
			}
			if err := fn(ev); err != nil {
				return err
			}
			if seen++; count > 0 && seen >= count {
				return nil
			}
		case line == "":
			event = ""
		}
	}
	switch {
	case ctx.Err() != nil:
		return nil // Ctrl-C
	case sc.Err() != nil:
		return fmt.Errorf("watch: %w", sc.Err())
	}
	return errors.New("watch: the hub closed the stream (is it shutting down?)")
}
