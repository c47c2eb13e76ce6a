# thingcore developer entry points. `make run` and `make test` are the two
# commands in the README; CI runs `make test` through .ci/run.

SHELL := /usr/bin/env bash
# Use the Go toolchain at /usr/local/go when go is not already on PATH.
export PATH := $(PATH):/usr/local/go/bin

.PHONY: run test fuzz bench lint

## run: run the hub with its embedded defaults (no external services)
run:
	go run ./cmd/thingcore serve

## test: install test dependencies and run vet, every test (-race) and a short fuzz pass
test:
	bash scripts/test.sh

## fuzz: run every fuzz target for FUZZTIME (default 60s) each
fuzz:
	FUZZTIME=$${FUZZTIME:-60s} bash scripts/fuzz-short.sh

## bench: run the benchmarks; results go in bench/RESULTS.md
bench:
	@if [[ -x bench/run.sh || -f bench/run.sh ]]; then \
		bash bench/run.sh; \
	else \
		echo "bench: bench/run.sh does not exist yet; nothing to run"; \
	fi

## lint: gofmt must report no files, and go vet must pass
lint:
	@files="$$(find . \( -name node_modules -o -name testdata -o -name '.?*' \) -prune -o -name '*.go' -type f -print)"; \
	unformatted="$$(if [[ -n "$$files" ]]; then gofmt -l $$files; fi)"; \
	if [[ -n "$$unformatted" ]]; then \
		echo "gofmt: these files need formatting:"; echo "$$unformatted"; exit 1; \
	fi
	go vet ./...
