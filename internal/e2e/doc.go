// Package e2e runs Rallypoint's browser end-to-end test: the real server
// in-process, a delaying proxy (internal/netem) in front of it for each
// browser page, Go bots straight on the server (one of them an observer
// that records the true path of every entity), and real Chromium driven by
// playwright-core from Node (web/e2e). Besides checking that browser play
// works (moving, seeing each other, a reconnect into the same seat, the
// results screen, no console errors) it measures how the game feels from
// what the pages actually drew, and writes the figures next to their
// targets to web/artifacts/play-feel.json.
//
// The measurement code (analysis.go) is pure and unit-tested on synthetic
// paths; the browser test runs with `make e2e` and as part of `make test`
// (without the race detector, which would distort the timings it measures).
package e2e
