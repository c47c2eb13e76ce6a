package broker

import "strings"

// AWS IoT Core reserves every topic starting with '$'. Clients may use only
// the documented $aws/... topics, each in its documented direction
// (reference §1.2 and §2.9); everything else under '$' is refused.

// reservedPublishAllowed reports whether a client may publish to a '$' topic.
func reservedPublishAllowed(t string) bool {
	var levels [10]string // every allowed topic has fewer levels
	lv := splitLevels(levels[:0], t)
	if len(lv) < 3 || lv[0] != "$aws" {
		return false
	}
	switch lv[1] {
	case "rules":
		// $aws/rules/{rule}/... (Basic Ingest).
		return len(lv) >= 3 && lv[2] != ""
	case "things":
		return thingRequestTopic(lv[3:], len(lv) >= 4 && lv[2] != "")
	case "certificates":
		// $aws/certificates/create/{fmt}, $aws/certificates/create-from-csr/{fmt}
		return len(lv) == 4 && (lv[2] == "create" || lv[2] == "create-from-csr") && isFormat(lv[3])
	case "provisioning-templates":
		// $aws/provisioning-templates/{t}/provision/{fmt}
		return len(lv) == 5 && lv[3] == "provision" && isFormat(lv[4])
	case "sitewise":
		return true
	}
	return false
}

// thingRequestTopic reports whether rest (the levels after
// $aws/things/{thing}/) is a request topic a device publishes to.
func thingRequestTopic(rest []string, ok bool) bool {
	if !ok || len(rest) == 0 {
		return false
	}
	switch rest[0] {
	case "shadow":
		op := rest[1:]
		if len(op) >= 3 && op[0] == "name" && op[1] != "" {
			op = op[2:]
		}
		return len(op) == 1 && (op[0] == "get" || op[0] == "update" || op[0] == "delete")
	case "jobs":
		j := rest[1:]
		switch len(j) {
		case 1:
			return j[0] == "get" || j[0] == "start-next"
		case 2:
			return j[0] != "" && (j[1] == "get" || j[1] == "update")
		}
	case "defender":
		return len(rest) == 3 && rest[1] == "metrics" && isFormat(rest[2])
	case "streams":
		return len(rest) == 4 && (rest[3] == "describe" || rest[3] == "get") ||
			len(rest) == 5 && rest[3] == "get"
	}
	return false
}

func isFormat(s string) bool { return s == "json" || s == "cbor" }

// reservedSubscribeAllowed reports whether a client may subscribe to a '$'
// filter. Request topics may be subscribed to (the console watches
// shadow/update), response and notification topics are subscribe-only, and
// the event topics are subscribe-only. Wildcards are allowed below the family
// level, so $aws/things/+/shadow/update and $aws/events/# work.
func reservedSubscribeAllowed(f string) bool {
	lv := strings.Split(f, "/")
	if lv[0] != "$aws" || len(lv) < 2 {
		return false
	}
	if strings.ContainsAny(f, "+#") {
		switch lv[1] {
		case "things", "events", "certificates", "provisioning-templates", "sitewise", "+", "#":
			return true
		}
		return false
	}
	if reservedPublishAllowed(f) && lv[1] != "rules" {
		return true
	}
	switch lv[1] {
	case "events", "sitewise":
		return len(lv) >= 3
	case "things":
		return len(lv) >= 4 && lv[2] != "" && thingResponseTopic(lv[3:])
	case "certificates", "provisioning-templates":
		last := lv[len(lv)-1]
		return last == "accepted" || last == "rejected"
	}
	return false
}

// thingResponseTopic reports whether rest (after $aws/things/{thing}/) is a
// topic the services publish and devices subscribe to.
func thingResponseTopic(rest []string) bool {
	last := rest[len(rest)-1]
	switch rest[0] {
	case "shadow":
		op := rest[1:]
		if len(op) >= 3 && op[0] == "name" && op[1] != "" {
			op = op[2:]
		}
		if len(op) != 2 {
			return false
		}
		switch op[0] {
		case "get", "delete":
			return op[1] == "accepted" || op[1] == "rejected"
		case "update":
			return op[1] == "accepted" || op[1] == "rejected" || op[1] == "delta" || op[1] == "documents"
		}
	case "jobs":
		if len(rest) == 2 && (rest[1] == "notify" || rest[1] == "notify-next") {
			return true
		}
		return last == "accepted" || last == "rejected"
	case "defender", "streams":
		return last == "accepted" || last == "rejected" || last == "data" || last == "description"
	case "tunnels":
		return len(rest) == 2 && rest[1] == "notify"
	}
	return false
}

// splitLevels appends t's '/'-separated levels to dst (strings.Split
// without its allocation when dst has room).
func splitLevels(dst []string, t string) []string {
	for {
		i := strings.IndexByte(t, '/')
		if i < 0 {
			return append(dst, t)
		}
		dst = append(dst, t[:i])
		t = t[i+1:]
	}
}
