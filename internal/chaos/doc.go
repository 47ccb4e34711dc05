// Package chaos holds Rallypoint's chaos test: the real server binary
// under a few hundred bots while a driver cuts, floods, stalls and
// half-opens connections and sends garbage, ending with a SIGTERM drain.
// It has no code of its own outside its test; `make chaos` runs it (and
// `make test` does, after the race-detector run, since it measures CPU and
// snapshot timing).
package chaos
