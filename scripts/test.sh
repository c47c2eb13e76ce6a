#!/usr/bin/env bash
# test.sh is what `make test` and CI run: it installs the test dependencies,
# then runs go vet, a Windows build of the hub, every Go test with the race
# detector (interop tests are required, not skipped), and a short fuzz pass
# over every fuzz target. It runs every step, prints a summary and exits
# non-zero if any step failed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
	export PATH="/usr/local/go/bin:$PATH"
fi

start=$SECONDS
steps=()
failures=0

# step NAME CMD... runs one step and records its result and duration.
step() {
	local name="$1" t0=$SECONDS rc=0
	shift
	echo
	echo "==> $name"
	"$@" || rc=$?
	if ((rc == 0)); then
		steps+=("ok    $name ($((SECONDS - t0))s)")
	else
		steps+=("FAIL  $name ($((SECONDS - t0))s, exit $rc)")
		failures=$((failures + 1))
	fi
	return 0
}

logdir="$(mktemp -d "${TMPDIR:-/tmp}/thingcore-test.XXXXXX")"
gotest_log="$logdir/go-test.log"

# run_go_test runs the whole suite verbosely into $gotest_log and shows
# everything but the per-test RUN/PASS noise on the console.
run_go_test() {
	set +o pipefail
	THINGCORE_INTEROP_REQUIRED=1 go test -race -count=1 -timeout 20m -v ./... </dev/null 2>&1 |
		tee "$gotest_log" |
		grep -vE '^[[:space:]]*(=== (RUN|PAUSE|CONT|NAME)|--- PASS: )'
	local rc="${PIPESTATUS[0]}"
	set -o pipefail
	return "$rc"
}

# install-deps is a precondition: without the tools the interop tests fail
# for the wrong reason, so stop here if it fails.
echo "==> install-deps"
if ! bash "$root/scripts/install-deps.sh"; then
	echo "test: install-deps failed; not running tests" >&2
	exit 1
fi

step "go vet" go vet ./...
# The hub is one binary for the user's own machine, Windows included: a
# Linux-only call in a shared file must not slip in unnoticed.
step "build for windows" env GOOS=windows GOARCH=amd64 go build -o /dev/null ./cmd/thingcore
step "go test -race" run_go_test
step "fuzz-short (${FUZZTIME:-8s} per target)" bash "$root/scripts/fuzz-short.sh"

count() { grep -cE "$1" "$gotest_log" || true; }
passed="$(count '^[[:space:]]*--- PASS: ')"
failed="$(count '^[[:space:]]*--- FAIL: ')"
skipped="$(count '^[[:space:]]*--- SKIP: ')"

echo
echo "==> summary ($((SECONDS - start))s; full go test log: $gotest_log)"
printf '  %s\n' "${steps[@]}"
if grep -qE '^[[:space:]]*--- FAIL: |^FAIL[[:space:]]' "$gotest_log"; then
	echo "  failed tests and packages:"
	grep -E '^[[:space:]]*--- FAIL: |^FAIL[[:space:]]' "$gotest_log" | sed 's/^[[:space:]]*/    /'
fi
if ((skipped > 0)); then
	echo "  skipped tests:"
	grep -E '^[[:space:]]*--- SKIP: ' "$gotest_log" | sed 's/^[[:space:]]*/    /'
fi
if ((failures > 0)); then
	echo "test: FAIL ($failures of ${#steps[@]} steps failed)"
else
	echo "test: ok (all ${#steps[@]} steps passed)"
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
((failures == 0))
