package device

import "strings"

// matchTopic reports whether the topic name matches the MQTT topic filter:
// '+' matches one level, a final '#' this level and all below it, and
// wildcards at the first level do not match topics starting with '$'. A
// shared subscription ($share/GROUP/FILTER) matches as FILTER.
func matchTopic(filter, topic string) bool {
	if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
		_, f, ok := strings.Cut(rest, "/")
		if !ok {
			return false
		}
		filter = f
	}
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" && !fmore {
			return true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		if !fmore || !tmore {
			// "a/#" also matches "a".
			return fmore == tmore || (!tmore && frest == "#")
		}
		filter, topic = frest, trest
	}
}
