# Rallypoint: `make run` and `make test` are all a newcomer needs.
GO      ?= go
PKGS    := ./...
FUZZTIME ?= 15s

.PHONY: run build test test-go lint bench bench-micro fuzz mutate tidy clean

## run: the whole server (lobby + game) on 127.0.0.1:8080 with embedded defaults
run:
	$(GO) run ./cmd/server -addr 127.0.0.1:8080

## build: binaries into bin/
build:
	$(GO) build -o bin/ ./cmd/...

## test: lint, then every test with the race detector (including a JavaScript
## protocol client in Node, written from docs/protocol.md alone)
test: lint test-go

test-go:
	$(GO) mod download
	npm ci --prefix web --no-audit --no-fund --loglevel=error
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## bench-micro: encode cost per client-tick, bytes per snapshot, codec costs
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem ./netcode/ ./netcode/wire/ ./game/

## bench: encoder micro table, then the arena-8x32 scenario (../shared/bench/arena-8x32.md) with server and bots as separate processes
bench:
	$(GO) run ./cmd/bench

## fuzz: every fuzz target for FUZZTIME each
fuzz:
	@for t in $$($(GO) test -list '^Fuzz' ./netcode/wire/ | grep '^Fuzz'); do \
		echo "== $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./netcode/wire/ || exit 1; \
	done

## mutate: mutation testing with gremlins (pinned, not installed) over MUTATE_PKGS;
## settings, equivalent mutants and the report folder are in .gremlins/ (not part of test)
MUTATE_PKGS ?= ./game ./netcode/wire ./lobby ./netcode
mutate:
	GO="$(GO)" ./.gremlins/mutate.sh $(MUTATE_PKGS)

clean:
	rm -rf bin
