package main

import (
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/thingcore/thingcore/examples"
	"github.com/thingcore/thingcore/internal/devicebundle"
)

// boardNames lists the values of thing create --board.
func boardNames() string { return examples.BoardNames() }

// boardHelp is the paragraph on --board in thing create's help.
func boardHelp() string {
	var b strings.Builder
	b.WriteString("With --board BOARD the folder also holds a MicroPython project to upload with Thonny: main.py\n" +
		"(endpoint, port and thing name filled in; it reports to the thing's shadow and applies the desired\n" +
		"led and interval), README.md with the steps, and cert/root-CA.der. BOARD is one of:\n")
	for _, bd := range examples.Boards() {
		fmt.Fprintf(&b, "\n  %-18s%s", bd.Name, bd.Summary)
	}
	return b.String()
}

// validateBoard checks a --board value; "" (no board) is valid.
func validateBoard(name string) error {
	if name == "" {
		return nil
	}
	if _, err := examples.LookupBoard(name); err != nil {
		return usagef("--board: %v", err)
	}
	return nil
}

// writeBoardProject adds the board's MicroPython project to the device
// folder dir; it does nothing when board is "".
func writeBoardProject(dir, board, host string, port int, thing string, rootCAPEM []byte) error {
	if board == "" {
		return nil
	}
	b, err := examples.LookupBoard(board)
	if err != nil {
		return err
	}
	files, err := devicebundle.BoardFiles(b, host, port, thing, rootCAPEM)
	if err != nil {
		return err
	}
	return devicebundle.WriteDir(dir, files)
}

// printBoardNextSteps tells a user how to get the project onto the board;
// it prints nothing when board is "". host is the endpoint main.py has.
func printBoardNextSteps(w io.Writer, board, dir, host, thing string) {
	b, err := examples.LookupBoard(board)
	if err != nil {
		return
	}
	fmt.Fprintf(w, "\nMicroPython project for the %s: main.py (endpoint %s, port and thing name\nfilled in) and README.md.\n", b.Summary, host)
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		fmt.Fprintf(w, "Note: on the board %s is the board itself. Run thing create with --mqtt-host and this\n"+
			"machine's LAN address (also a --server-name of thingcore serve), or edit ENDPOINT in main.py.\n", host)
	}
	fmt.Fprintln(w, "Next steps (README.md has the details):")
	fmt.Fprintln(w, "  1. Flash MicroPython onto the board; in Thonny choose Run > Configure interpreter > MicroPython.")
	fmt.Fprintln(w, "  2. Tools > Manage packages: install umqtt.simple (or: import mip; mip.install(\"umqtt.simple\")).")
	if b.Name == "micropython-wifi" {
		fmt.Fprintln(w, "  3. Fill in WIFI_SSID and WIFI_PASSWORD (and LED_PIN on an ESP32) at the top of main.py.")
	} else {
		fmt.Fprintln(w, "  3. Plug the board into the network this machine is on.")
	}
	fmt.Fprintln(w, "  4. Upload the cert/ folder and main.py to the board (View > Files, right-click > Upload to /).")
	fmt.Fprintln(w, "  5. Reset the board (or F5 in Thonny) and watch for \"connected to ...\" and \"reported ...\".")
	fmt.Fprintf(w, "  6. Switch its LED on: thingcore shadow update %s --desired '{\"led\":\"on\"}'\n", thing)
	fmt.Fprintf(w, "If it does not connect: thingcore doctor %s\n", shellQuote(dir))
}
