// The React binding's browser test page (internal/reacte2e bundles it with
// esbuild, React's development build, and serves it on its own loopback
// origin): window.__cycles mounts and unmounts a <RallypointProvider> over
// and over, with or without StrictMode, against a Rallypoint server on
// another origin (?server=), while the Go test counts the server's sockets
// and event streams. Each provider signs in, queues and plays (every other
// one is unmounted while still queued), draws the arena through useFrame
// and shows a HUD through the hooks.

import { StrictMode, useEffect, useRef, version, type ReactNode } from "react";
import { createRoot } from "react-dom/client";
import {
  RallypointProvider,
  useConnectionState,
  useFrame,
  useMatch,
  useQueue,
  useRallypoint,
  useSession,
} from "../src/index";

const server = new URLSearchParams(location.search).get("server") ?? "";

/** What a run of cycles saw, for the Go test. */
interface Report {
  /** React's version (the Go test bundles the page against React 19 and React 18). */
  react: string;
  strict: boolean;
  cycles: number;
  reachedPlaying: number;
  reachedQueued: number;
  /** Runs of AutoPlay's mount effect: 2 per mount under StrictMode (development build), 1 without. */
  effectRuns: number;
  /** Animation frames drawn by useFrame, and snapshots received while playing. */
  frames: number;
  snapshots: number;
  /** Renders of the HUD (useConnectionState + useMatch + useQueue) while playing. */
  hudRendersPlaying: number;
  /** The pendingResources of each client after its provider unmounted (0: everything released). */
  leftovers: number[];
  ms: number;
}

let report: Report;
let stopAt: "queued" | "playing" = "playing";
let reached: (() => void) | null = null;
let playingSince = 0;
const clients: Array<{ pendingResources: number }> = [];

function AutoPlay({ name }: { name: string }): ReactNode {
  const rp = useRallypoint();
  const { signInGuest } = useSession();
  const { play } = useQueue();
  const state = useConnectionState();
  useEffect(() => {
    report.effectRuns++;
    let live = true;
    signInGuest(name)
      .then(() => {
        if (live) return play("arena");
      })
      .catch(() => {}); // the session ends when the provider unmounts
    return () => {
      live = false;
    };
  }, [signInGuest, play, name]);
  useEffect(() => {
    if (!clients.includes(rp)) clients.push(rp);
    return rp.on("snapshot", () => {
      if (playingSince > 0) report.snapshots++;
    });
  }, [rp]);
  useEffect(() => {
    if (state.status === "playing" && playingSince === 0) playingSince = performance.now();
    if (state.status === stopAt && reached) {
      const r = reached;
      reached = null;
      // give the stream or the socket a moment of traffic, then unmount
      setTimeout(r, stopAt === "playing" ? 400 : 100);
    }
  }, [state]);
  return null;
}

function Hud(): ReactNode {
  const state = useConnectionState();
  const match = useMatch();
  const queue = useQueue();
  if (playingSince > 0) report.hudRendersPlaying++;
  return (
    <pre id="hud">
      {state.status} {queue.status} #{queue.ticket?.position ?? "-"} entity {match.entity} events {match.events.length}
    </pre>
  );
}

function Arena(): ReactNode {
  const canvas = useRef<HTMLCanvasElement>(null);
  useFrame((view) => {
    const c = canvas.current?.getContext("2d");
    if (!c) return;
    report.frames++;
    c.clearRect(0, 0, 200, 200);
    const k = view.width ? 200 / view.width : 1;
    for (const e of view.entities) {
      c.fillStyle = e.self ? "#4af" : "#f84";
      c.fillRect(e.x * k - 2, e.y * k - 2, 4, 4);
    }
  });
  return <canvas ref={canvas} width={200} height={200} />;
}

function App({ show, n }: { show: boolean; n: number }): ReactNode {
  if (!show) return <p>unmounted</p>;
  return (
    <RallypointProvider options={{ baseUrl: server }}>
      <AutoPlay name={`react${n}`} />
      <Hud />
      <Arena />
    </RallypointProvider>
  );
}

function timeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, rej) => setTimeout(() => rej(new Error(`timed out: ${what}`)), ms))]);
}

async function cycles(strict: boolean, count: number): Promise<Report> {
  report = { react: version, strict, cycles: 0, reachedPlaying: 0, reachedQueued: 0, effectRuns: 0, frames: 0, snapshots: 0, hudRendersPlaying: 0, leftovers: [], ms: 0 };
  const t0 = performance.now();
  const el = document.createElement("div");
  document.body.append(el);
  const root = createRoot(el);
  const render = (show: boolean, n: number) => root.render(strict ? <StrictMode><App show={show} n={n} /></StrictMode> : <App show={show} n={n} />);
  for (let i = 0; i < count; i++) {
    stopAt = i % 2 === 0 ? "playing" : "queued";
    const done = new Promise<void>((r) => (reached = r));
    clients.length = 0;
    playingSince = 0;
    render(true, i);
    await timeout(done, 20000, `cycle ${i}: ${stopAt}`);
    if (stopAt === "playing") report.reachedPlaying++;
    else report.reachedQueued++;
    render(false, i);
    // the deferred close runs in the next macrotask
    await new Promise((r) => setTimeout(r, 20));
    for (const c of clients) report.leftovers.push(c.pendingResources);
    report.cycles++;
  }
  root.unmount();
  el.remove();
  report.ms = performance.now() - t0;
  return report;
}

declare global {
  interface Window {
    __cycles: typeof cycles;
  }
}
window.__cycles = cycles;
