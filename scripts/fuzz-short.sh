#!/usr/bin/env bash
# fuzz-short.sh runs every native Go fuzz target in the module for a short
# time each (FUZZTIME, default 8s) and fails if any target finds a failure.
# A module with no fuzz targets passes.
#
# Go 1.26's fuzz coordinator can end a duration-bounded run with a bare
# "context deadline exceeded" although nothing was found: a race at the
# -fuzztime boundary, golang/go#75804, fixed in Go 1.27. A real finding always
# prints "Failing input written to" (or a panic, or a test error), so a run
# whose only complaint is that line is retried once, and if it happens again it
# is reported as a flake, not a failure. Every other non-zero exit fails.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
	export PATH="/usr/local/go/bin:$PATH"
fi

fuzztime="${FUZZTIME:-8s}"

# Lines "dir<TAB>FuzzName", one per target, skipping vendored and node trees.
targets="$(
	find . \( -name node_modules -o -name vendor -o -name testdata -o -name '.?*' \) -prune -o \
		-name '*_test.go' -type f -print |
		sort |
		while IFS= read -r f; do
			grep -oE '^func Fuzz[A-Za-z0-9_]*' "$f" | sed -e 's/^func //' -e "s|^|$(dirname "$f")\t|" || true
		done
)"

if [[ -z "$targets" ]]; then
	echo "fuzz-short: no fuzz targets found"
	exit 0
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# fuzz_once runs one target, its output both shown and kept in $log.
fuzz_once() {
	go test -run '^$' -fuzz "^${2}\$" -fuzztime="$fuzztime" "$1" </dev/null 2>&1 | tee "$log"
	return "${PIPESTATUS[0]}"
}

# deadline_flake reports whether the run in $log failed only with the
# coordinator's boundary deadline (golang/go#75804).
deadline_flake() {
	grep -q 'context deadline exceeded' "$log" &&
		! grep -qE 'Failing input written to|^panic:|_test\.go:[0-9]+:' "$log"
}

passed=0
failed=()
flaked=()
while IFS=$'\t' read -r dir name; do
	echo "fuzz-short: $dir $name for $fuzztime"
	if fuzz_once "$dir" "$name"; then
		passed=$((passed + 1))
		continue
	fi
	if ! deadline_flake; then
		failed+=("$dir $name")
		continue
	fi
	echo "fuzz-short: $dir $name stopped with the fuzztime deadline race (golang/go#75804); running it again"
	if fuzz_once "$dir" "$name"; then
		passed=$((passed + 1))
	elif deadline_flake; then
		flaked+=("$dir $name")
	else
		failed+=("$dir $name")
	fi
done <<<"$targets"

echo "fuzz-short: ${passed} passed, ${#failed[@]} failed, ${#flaked[@]} flaked"
if ((${#flaked[@]} > 0)); then
	printf 'fuzz-short: FLAKE %s (deadline race twice, no failing input)\n' "${flaked[@]}"
fi
if ((${#failed[@]} > 0)); then
	printf 'fuzz-short: FAIL %s\n' "${failed[@]}"
	exit 1
fi
