"use client";

// The game: the arena on a canvas, drawn every animation frame from the
// SDK's interpolated world (useFrame: positions never go through React
// state), a HUD from the hooks, and the keyboard and mouse as input. Coming
// here with no running session (a reload, or back from /about) signs in
// again with the stored refresh token and rejoins the held seat.
import { useEffect, useRef, useState } from "react";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useConnectionState, useFrame, useMatch, useRallypoint, useSession } from "@rallypoint/react";
import { FlagDead, type RallypointError } from "@rallypoint/sdk";
import { clearSaved, loadSaved } from "../providers";

const SIZE = 600;

export default function GamePage() {
  const rp = useRallypoint();
  const router = useRouter();
  const state = useConnectionState();
  const match = useMatch({ roster: true });
  const { resumeSession } = useSession();
  const canvas = useRef<HTMLCanvasElement>(null);
  const hud = useRef<HTMLPreElement>(null);
  const [error, setError] = useState("");

  // Rejoin the seat when there is no session running (StrictMode runs this twice: resumeSession and rejoin are shared).
  useEffect(() => {
    if (rp.status !== "idle") return;
    const saved = loadSaved();
    if (!saved) {
      router.replace("/");
      return;
    }
    let live = true;
    resumeSession(saved.refreshToken)
      .then(() => (live ? rp.rejoin(saved.matchId) : undefined))
      .catch((err: RallypointError) => {
        if (!live) return;
        clearSaved();
        setError(err.message);
      });
    return () => {
      live = false;
    };
  }, [rp, resumeSession, router]);

  // Input: arrows or WASD move, the mouse aims and fires.
  useEffect(() => {
    const keys = new Set<string>();
    const steer = () => {
      const k = (a: string, b: string) => (keys.has(a) || keys.has(b) ? 1 : 0);
      rp.setInput({ dx: k("ArrowRight", "d") - k("ArrowLeft", "a"), dy: k("ArrowDown", "s") - k("ArrowUp", "w") });
    };
    const down = (e: KeyboardEvent) => (keys.add(e.key), steer());
    const up = (e: KeyboardEvent) => (keys.delete(e.key), steer());
    addEventListener("keydown", down);
    addEventListener("keyup", up);
    return () => {
      removeEventListener("keydown", down);
      removeEventListener("keyup", up);
      rp.setInput({ dx: 0, dy: 0, fire: false });
    };
  }, [rp]);

  let frames = 0;
  useFrame((view, _now, client) => {
    const c = canvas.current?.getContext("2d");
    if (!c) return;
    const k = view.width ? SIZE / view.width : 1;
    c.clearRect(0, 0, SIZE, SIZE);
    for (const e of view.entities) {
      c.fillStyle = e.self ? "#4af" : e.flags & FlagDead ? "#555" : "#f84";
      c.fillRect(e.x * k - 5, e.y * k - 5, 10, 10);
    }
    if (++frames % 15 === 0 && hud.current) {
      // the HUD text goes straight to the DOM too: it changes every frame
      const s = client.stats;
      const me = view.self;
      hud.current.textContent =
        `ping ${s.pingMs.toFixed(0)} ms, delay ${s.interpolationDelayMs.toFixed(0)} ms, tick ${s.serverTick.toFixed(0)}, ` +
        `${s.players} players` + (me ? `, you at ${me.x.toFixed(0)},${me.y.toFixed(0)}` : "");
      hud.current.dataset.x = me ? me.x.toFixed(1) : "";
      hud.current.dataset.frames = String(frames);
    }
  });

  const aim = (e: React.PointerEvent<HTMLCanvasElement>) => {
    const self = rp.lastView.self;
    const k = rp.lastView.width ? SIZE / rp.lastView.width : 1;
    if (self) rp.setInput({ aim: Math.atan2(e.nativeEvent.offsetY / k - self.y, e.nativeEvent.offsetX / k - self.x) });
  };

  const me = match.roster.find((r) => r.self);
  return (
    <main>
      <h1>Arena</h1>
      <pre id="status">{state.status === "closed" ? `closed: ${state.reason.by} ${state.reason.message}` : state.status}</pre>
      <canvas
        ref={canvas}
        width={SIZE}
        height={SIZE}
        onPointerMove={aim}
        onPointerDown={() => rp.setInput({ fire: true })}
        onPointerUp={() => rp.setInput({ fire: false })}
      />
      <pre id="hud" ref={hud} />
      <pre id="score">
        entity {match.entity} · hp {me?.hp ?? "-"} · score {me?.score ?? "-"} · {match.roster.length} entities · {match.events.length} events
      </pre>
      {match.matchOver && (
        <pre id="results">
          {match.matchOver.results.map((r) => `${r.rank}. player ${r.player}: ${r.score}`).join("\n")}
        </pre>
      )}
      {error && <pre id="error">{error}</pre>}
      <p>
        <Link id="away" href="/about">
          About (leaves the game; the seat is held 30 s)
        </Link>{" "}
        <button
          id="leave"
          onClick={() => {
            rp.leave();
            clearSaved();
            router.push("/");
          }}
        >
          Leave the match
        </button>
      </p>
    </main>
  );
}
