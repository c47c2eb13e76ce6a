package device_test

import (
	"log/slog"
	"os"
	"testing"
)

// testLogger logs to the test's output: Info and above, Debug with
// THINGCORE_TEST_LOG=1.
func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelInfo
	if os.Getenv("THINGCORE_TEST_LOG") == "1" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: level}))
}
