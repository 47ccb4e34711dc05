// The lobby (/) and the game (/game) share one Rallypoint client: this
// layout stays mounted while the player moves between them, so the queue
// and the match survive the navigation. Leaving the group (/about)
// unmounts it, which closes the socket and the event stream; coming back
// to /game opens one new socket into the same seat.
import type { ReactNode } from "react";
import { Providers } from "./providers";

// The server's base URL is read per request, so one build runs against any
// server: RALLYPOINT_URL (or NEXT_PUBLIC_RALLYPOINT_URL at build time).
export const dynamic = "force-dynamic";

export default function PlayLayout({ children }: { children: ReactNode }) {
  const baseUrl = process.env.RALLYPOINT_URL || process.env.NEXT_PUBLIC_RALLYPOINT_URL || "http://127.0.0.1:8080";
  return <Providers baseUrl={baseUrl}>{children}</Providers>;
}
