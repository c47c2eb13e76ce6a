#!/usr/bin/env bash
# fuzz-short.sh runs every native Go fuzz target in the module for a short
# time each (FUZZTIME, default 8s) and fails if any target finds a failure.
# A module with no fuzz targets passes.
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

passed=0
failed=()
while IFS=$'\t' read -r dir name; do
	echo "fuzz-short: $dir $name for $fuzztime"
	if go test -run '^$' -fuzz "^${name}\$" -fuzztime="$fuzztime" "$dir" </dev/null; then
		passed=$((passed + 1))
	else
		failed+=("$dir $name")
	fi
done <<<"$targets"

echo "fuzz-short: ${passed} passed, ${#failed[@]} failed"
if ((${#failed[@]} > 0)); then
	printf 'fuzz-short: FAIL %s\n' "${failed[@]}"
	exit 1
fi
