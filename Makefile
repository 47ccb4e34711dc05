# Rallypoint: `make run` and `make test` are all a newcomer needs.
GO      ?= go
PKGS    := ./...
FUZZTIME ?= 15s
# the packages whose behaviour depends on netcode.Config.ReadPath; test-go
# runs them a second time on the non-default path
READPATH_PKGS := ./netcode/ ./netcode/client/ ./internal/app/ ./cmd/server/
FUZZ_PKGS := ./netcode/wire/ ./netcode/wsframe/

.PHONY: run build test test-go redis-server lint bench bench-micro fuzz tidy clean web e2e chaos react sdk mutate multinode

## run: the whole server (lobby + game) on 127.0.0.1:8080 with embedded defaults
run:
	$(GO) run ./cmd/server -addr 127.0.0.1:8080

## web: rebuild the browser demo bundle (web/demo/dist, committed and
## embedded in cmd/server) with esbuild; a test fails when it is stale
web:
	@test -x web/node_modules/.bin/esbuild || npm ci --prefix web --no-audit --no-fund --loglevel=error
	web/node_modules/.bin/tsc -p web/demo --noEmit
	sh web/demo/build.sh

## build: binaries into bin/
build:
	$(GO) build -o bin/ ./cmd/...

## test: lint, then every test with the race detector (including a JavaScript
## protocol client in Node, written from docs/protocol.md alone), then the
## browser test (e2e)
test: lint test-go sdk e2e chaos react multinode

test-go: redis-server
	$(GO) mod download
	npm ci --prefix web --no-audit --no-fund --loglevel=error
	$(GO) test -race -count=1 -timeout 15m $(PKGS)
	@echo "== again on the other read path (-read-path loop): the packages whose sockets it changes"
	RALLYPOINT_READ_PATH=loop $(GO) test -race -count=1 -timeout 15m $(READPATH_PKGS)

## e2e: the browser test, without the race detector (it measures timing): two
## Chromium pages (playwright-core, Debian's chromium) and six Go bots in one
## match, the pages through 100 ms delaying proxies; prints the play-feel
## table and writes web/artifacts/play-feel.json and screenshots
e2e:
	@test -d web/node_modules/playwright-core || npm ci --prefix web --no-audit --no-fund --loglevel=error
	$(GO) test -count=1 -timeout 8m -run '^TestBrowserPlay$$' -v ./internal/e2e/

## redis-server: the Redis server the store and cluster tests start on a free
## loopback port (Debian's package; installed here when missing and root)
redis-server:
	@command -v redis-server >/dev/null || { [ "$$(id -u)" = 0 ] && { apt-get install -y -qq redis-server || { apt-get update -qq && apt-get install -y -qq redis-server; }; }; } || { echo "install redis-server: apt-get install -y redis-server"; exit 1; }

## sdk: the TypeScript SDK (web/sdk): strict type check, then its unit tests
## (vitest: codec, mirror, movement vectors, interpolation, prediction, client)
sdk:
	@test -d web/node_modules/vitest || npm ci --prefix web --no-audit --no-fund --loglevel=error
	npm run --silent --prefix web typecheck
	npm run --silent --prefix web test:sdk

## chaos: the real server binary under a few hundred bots while a driver cuts,
## floods, stalls and half-opens connections, then a SIGTERM drain (about a
## minute; without the race detector, since it measures CPU and timing)
chaos:
	$(GO) test -count=1 -timeout 5m -run '^TestChaos$$' -v ./internal/chaos/

## multinode: the cluster on Redis as separate processes (docs/scaling.md):
## one lobby, two game nodes, a real redis-server and a few hundred bots;
## kill -9 a node, kill and restart the lobby, restart Redis; then nodes
## joining, draining and dying while tickets arrive. Prints the failover
## figures (time to detect a dead node, to requeue its players, what was
## lost). About two minutes; without the race detector (it measures timing)
multinode: redis-server
	$(GO) test -count=1 -timeout 6m -v -run '^(TestFailover|TestPlacementChurn)$$' ./internal/multinode/

## react: the React binding (web/react) and the Next.js example
## (web/examples/nextjs, its own npm install): tsc --noEmit over both, the
## store's unit tests (vitest), then their Chromium tests (internal/reacte2e:
## 20 provider mounts with and 20 without StrictMode, on React 19 and React
## 18; next build, next start, play, away and back), the server counting
## sockets and event streams
react:
	@test -d web/node_modules/react || npm ci --prefix web --no-audit --no-fund --loglevel=error
	npm ci --prefix web/examples/nextjs --no-audit --no-fund --loglevel=error
	npm ci --prefix web/react/test/react18 --no-audit --no-fund --loglevel=error
	web/node_modules/.bin/tsc -p web/react --noEmit
	web/examples/nextjs/node_modules/.bin/tsc -p web/examples/nextjs --noEmit
	cd web && node --import ./sdk/test/node20-polyfills.mjs node_modules/vitest/vitest.mjs run --config react/vitest.config.ts
	$(GO) test -count=1 -timeout 10m -run '^(TestReactStrictMode|TestNextjsExample)$$' -v ./internal/reacte2e/

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## bench-micro: encode cost per client-tick, bytes per snapshot, codec costs
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem ./netcode/ ./netcode/wire/ ./game/

## bench: encoder micro table, then the arena-8x32 scenario (../shared/bench/arena-8x32.md)
## over base (main at BENCH_BASE, built in the run), loop, tick, null-loop,
## null-tick and the raw TCP floor at 400 and 800 clients, each server and its
## load as separate processes; prints its expected duration first (~14 min)
## and a table with ratios. Knobs (README "Measured"): BENCH_CLIENTS,
## BENCH_CONFIGS, BENCH_INTEREST, BENCH_WINDOW, BENCH_WARMUP, BENCH_BASE,
## BENCH_MICRO, BENCH_PLAN=1 (print the plan only), e.g.
##   make bench BENCH_CLIENTS=100 BENCH_CONFIGS=base,floor BENCH_WINDOW=5s
bench:
	$(GO) run ./cmd/bench

## fuzz: every fuzz target for FUZZTIME each
fuzz:
	@for p in $(FUZZ_PKGS); do \
		for t in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz'); do \
			echo "== $$p $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$p || exit 1; \
		done; \
	done

.PHONY: ops-web
## ops-web: rebuild the /ops page bundle (web/ops -> internal/ops/assets, uPlot included); commit the result
ops-web:
	@test -x web/node_modules/.bin/esbuild || npm ci --prefix web --no-audit --no-fund --loglevel=error
	node web/ops/build.mjs

## mutate: mutation testing with gremlins (pinned, not installed) over MUTATE_PKGS;
## settings, equivalent mutants and the report folder are in .gremlins/ (not part of test)
MUTATE_PKGS ?= ./game ./netcode/wire ./netcode/wsframe ./lobby ./lobby/redisstore ./netcode
mutate:
	GO="$(GO)" ./.gremlins/mutate.sh $(MUTATE_PKGS)

clean:
	rm -rf bin
