// Package examples holds the device programs thingcore writes into device
// folders: the MicroPython project under w5100s-evb-pico/ (main.py is its
// one copy, embedded here), filled in for one thing by Board.Project. It
// imports only the standard library; cmd/thingcore (thing create --board)
// imports it, and so may the web console.
package examples

import (
	"embed"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

//go:embed w5100s-evb-pico/main.py w5100s-evb-pico/README.md
var micropython embed.FS

// Board is a board thing create can write a MicroPython project for.
type Board struct {
	// Name is the value of --board.
	Name string
	// Summary says which hardware it is, for help and error texts.
	Summary string

	network string // main.py's NETWORK
	ledPin  string // main.py's LED_PIN, a Python literal
}

var boards = []Board{
	{Name: "w5100s-evb-pico", Summary: "WIZnet W5100S-EVB-Pico (RP2040, Ethernet)", network: "wiznet", ledPin: "25"},
	{Name: "micropython-wifi", Summary: "Raspberry Pi Pico W, ESP32 or another MicroPython board on Wi-Fi", network: "wifi", ledPin: `"LED"`},
}

// Boards returns the boards in the order help lists them.
func Boards() []Board { return append([]Board(nil), boards...) }

// BoardNames returns the boards' names, comma separated.
func BoardNames() string {
	names := make([]string, len(boards))
	for i, b := range boards {
		names[i] = b.Name
	}
	return strings.Join(names, ", ")
}

// LookupBoard returns the board called name; the error lists the valid
// names.
func LookupBoard(name string) (Board, error) {
	for _, b := range boards {
		if b.Name == name {
			return b, nil
		}
	}
	return Board{}, fmt.Errorf("unknown board %q: want one of %s", name, BoardNames())
}

// Settings are what Project fills into main.py.
type Settings struct {
	Endpoint  string // host name or IP address the board connects to
	Port      int    // MQTT over TLS port, 1 to 65535
	ThingName string // thing name, also the MQTT client id
}

// File is one file of a project; Name uses '/' as separator.
type File struct {
	Name string
	Data []byte
}

// Project returns the board's project: main.py with the settings filled in
// and README.md. The certificate and key (cert/) come from the device
// folder.
func (b Board) Project(s Settings) ([]File, error) {
	if s.Port < 1 || s.Port > 65535 {
		return nil, fmt.Errorf("examples: port %d: want 1 to 65535", s.Port)
	}
	endpoint, err := pythonString(s.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("examples: endpoint: %w", err)
	}
	thing, err := pythonString(s.ThingName)
	if err != nil {
		return nil, fmt.Errorf("examples: thing name: %w", err)
	}
	src, err := micropython.ReadFile("w5100s-evb-pico/main.py")
	if err != nil {
		return nil, fmt.Errorf("examples: %w", err)
	}
	network, _ := pythonString(b.network)
	main, err := setConstants(src, [][2]string{
		{"ENDPOINT", endpoint},
		{"PORT", strconv.Itoa(s.Port)},
		{"THING_NAME", thing},
		{"NETWORK", network},
		{"LED_PIN", b.ledPin},
	})
	if err != nil {
		return nil, err
	}
	readme, err := micropython.ReadFile("w5100s-evb-pico/README.md")
	if err != nil {
		return nil, fmt.Errorf("examples: %w", err)
	}
	return []File{{Name: "main.py", Data: main}, {Name: "README.md", Data: readme}}, nil
}

// setConstants replaces the value of each top-level `NAME = value` line of
// a Python source, keeping a trailing comment. Every name must be assigned
// exactly once, so that a change to main.py cannot silently leave a
// placeholder in place.
func setConstants(src []byte, values [][2]string) ([]byte, error) {
	for _, v := range values {
		re := regexp.MustCompile(`(?m)^(` + regexp.QuoteMeta(v[0]) + ` = )("[^"\n]*"|[^\s#]+)`)
		if n := len(re.FindAllIndex(src, -1)); n != 1 {
			return nil, fmt.Errorf("examples: main.py assigns %s %d times, want once", v[0], n)
		}
		src = re.ReplaceAllFunc(src, func(m []byte) []byte {
			return []byte(v[0] + " = " + v[1])
		})
	}
	return src, nil
}

// pythonString returns s as a double-quoted Python string literal. It
// refuses control characters, which no host or thing name has.
func pythonString(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("%q has a control character", s)
		}
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`, nil
}
