package gcpace

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
)

// memTotal is the machine's memory in bytes from /proc/meminfo, or 0 when
// unknown (not Linux, or unreadable).
func memTotal() uint64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	return parseMemTotal(data)
}

// parseMemTotal reads the "MemTotal:   N kB" line.
func parseMemTotal(data []byte) uint64 {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) == 3 && string(f[0]) == "MemTotal:" && string(f[2]) == "kB" {
			n, err := strconv.ParseUint(string(f[1]), 10, 64)
			if err != nil {
				return 0
			}
			return n << 10
		}
	}
	return 0
}
