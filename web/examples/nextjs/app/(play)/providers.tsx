"use client";

import { useEffect, type ReactNode } from "react";
import { RallypointProvider, useConnectionState, useRallypoint } from "@rallypoint/react";

/** saved is what survives the provider: the refresh token and the match, to rejoin the seat. */
export interface Saved {
  refreshToken: string;
  matchId: string;
}

const KEY = "rallypoint";

export function loadSaved(): Saved | null {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) ?? "null") as Saved | null;
    return s && s.refreshToken && s.matchId ? s : null;
  } catch {
    return null;
  }
}

export function clearSaved(): void {
  sessionStorage.removeItem(KEY);
}

/** Remember keeps the refresh token (it rotates) and the match id in sessionStorage while playing. */
function Remember(): null {
  const rp = useRallypoint();
  const state = useConnectionState();
  useEffect(() => {
    if (state.status === "playing" && rp.session) {
      sessionStorage.setItem(KEY, JSON.stringify({ refreshToken: rp.session.refreshToken, matchId: rp.matchId } satisfies Saved));
    }
    if (state.status === "closed" && state.reason.by !== "user") clearSaved(); // the seat is gone
  }, [rp, state]);
  return null;
}

export function Providers({ baseUrl, children }: { baseUrl: string; children: ReactNode }) {
  return (
    <RallypointProvider options={{ baseUrl }}>
      <Remember />
      {children}
    </RallypointProvider>
  );
}
