"use client";

// The lobby: sign in as a guest, press Play, watch the queue (the lobby's
// event stream, through useQueue) until the match starts, then go to the
// game page. The client lives in the (play) layout, so navigating keeps it.
import { useEffect, useState } from "react";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useConnectionState, useQueue, useSession } from "@rallypoint/react";

export default function LobbyPage() {
  const router = useRouter();
  const state = useConnectionState();
  const { session, signInGuest } = useSession();
  const queue = useQueue();
  const [name, setName] = useState("guest");
  const [error, setError] = useState("");

  useEffect(() => {
    if (state.status === "playing") router.push("/game");
  }, [state.status, router]);

  const t = queue.ticket;
  let queueText = "not queued";
  if (queue.status === "queued" && t) {
    queueText = `queued: #${t.position ?? "?"} of ${t.queueLength ?? "?"}` + (t.estimatedWaitMs ? `, about ${Math.ceil(t.estimatedWaitMs / 1000)} s` : "");
  } else if (queue.status !== "none") queueText = queue.status;

  return (
    <main>
      <h1>Rallypoint</h1>
      {session ? (
        <p id="signed-in">
          signed in as {session.name} (player {session.playerId})
        </p>
      ) : (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            signInGuest(name).catch((err: Error) => setError(err.message));
          }}
        >
          <input id="name" value={name} onChange={(e) => setName(e.target.value)} maxLength={24} />
          <button id="sign-in" type="submit">
            Sign in as guest
          </button>
        </form>
      )}
      <p>
        <button
          id="play"
          disabled={!session || state.status === "queued" || state.status === "connecting"}
          onClick={() => queue.play("arena").catch((err: Error) => setError(err.message))}
        >
          Play
        </button>
        {state.status === "queued" && (
          <button id="cancel" onClick={() => void queue.cancel()}>
            Cancel
          </button>
        )}
      </p>
      <pre id="queue">{queueText}</pre>
      <pre id="status">{state.status}</pre>
      {error && <pre id="error">{error}</pre>}
      <p>
        <Link id="lobby-away" href="/about">
          About
        </Link>
      </p>
    </main>
  );
}
