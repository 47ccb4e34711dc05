import Link from "next/link";

// Outside the (play) group: no Rallypoint client is mounted here, so coming
// here closes the socket. The seat is held for the reconnect grace period.
export default function AboutPage() {
  return (
    <main>
      <h1>About</h1>
      <p id="about">
        This is a Next.js App Router example of <code>@rallypoint/react</code>. No game connection is open on this page;
        your seat is held for 30 seconds.
      </p>
      <p>
        <Link id="back" href="/game">
          Back to the game
        </Link>{" "}
        · <Link id="lobby" href="/">
          Lobby
        </Link>
      </p>
    </main>
  );
}
