// Package reacte2e holds the browser tests of the React binding
// (web/react) and the Next.js example (web/examples/nextjs): real Chromium
// (Debian's, driven by playwright-core from a Node script) against the
// whole server in-process on loopback, on a different origin than the page
// (the lobby's CORS allowlist lets it in), while Counter counts the game
// sockets and ticket event streams the server holds open.
//
// `make react` runs them (and `make test` runs `make react`).
package reacte2e
