// The complete component example of docs/web-sdk.md section 13, verbatim
// but for the import paths, so `tsc --noEmit` (make react) checks it.

import { useEffect, useRef } from "react";
import { FlagDead } from "../../sdk/src/index";
import {
  RallypointProvider, useConnectionState, useFrame, useMatch, useQueue, useRallypoint, useSession,
} from "../src/index";

export function App() {
  return (
    <RallypointProvider options={{ baseUrl: "http://127.0.0.1:8080" }}>
      <Lobby />
      <Arena />
    </RallypointProvider>
  );
}

function Lobby() {
  const state = useConnectionState();        // idle | queued | connecting | playing | reconnecting | closed
  const { session, signInGuest } = useSession();
  const queue = useQueue();                  // the ticket, from the lobby's event stream
  const match = useMatch();                  // Welcome, your entity, recent events, the result
  return (
    <div>
      {!session && <button onClick={() => void signInGuest("ada")}>Sign in as guest</button>}
      {session && state.status !== "playing" && (
        <button onClick={() => queue.play("arena").catch(() => {})}>Play</button>
      )}
      {queue.status === "queued" && <p>queued: #{queue.ticket?.position} of {queue.ticket?.queueLength}</p>}
      <p>{state.status === "closed" ? `closed: ${state.reason.by}` : state.status}</p>
      <p>entity {match.entity}, {match.events.length} events</p>
      {match.matchOver && <pre>{match.matchOver.results.map((r) => `${r.rank}. ${r.player}: ${r.score}`).join("\n")}</pre>}
    </div>
  );
}

function Arena() {
  const rp = useRallypoint();                // the client: setInput, leave, stats, ...
  const canvas = useRef<HTMLCanvasElement>(null);
  useFrame((view) => {                       // once per animation frame; view and its entities are reused
    const ctx = canvas.current?.getContext("2d");
    if (!ctx) return;
    ctx.clearRect(0, 0, 1000, 1000);
    for (const e of view.entities) {
      ctx.fillStyle = e.self ? "#4af" : e.flags & FlagDead ? "#555" : "#f84";
      ctx.fillRect(e.x - 6, e.y - 6, 12, 12);
    }
  });
  useEffect(() => {
    const keys = new Set<string>();
    const steer = () => rp.setInput({
      dx: (keys.has("ArrowRight") ? 1 : 0) - (keys.has("ArrowLeft") ? 1 : 0),
      dy: (keys.has("ArrowDown") ? 1 : 0) - (keys.has("ArrowUp") ? 1 : 0),
    });
    const down = (e: KeyboardEvent) => (keys.add(e.key), steer());
    const up = (e: KeyboardEvent) => (keys.delete(e.key), steer());
    addEventListener("keydown", down);
    addEventListener("keyup", up);
    return () => (removeEventListener("keydown", down), removeEventListener("keyup", up));
  }, [rp]);
  return (
    <canvas ref={canvas} width={1000} height={1000}
      onPointerDown={() => rp.setInput({ fire: true })} onPointerUp={() => rp.setInput({ fire: false })} />
  );
}
