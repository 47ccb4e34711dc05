// The example imports the React binding and the SDK from this repository's
// sources (web/react, web/sdk; see tsconfig.json "paths"), so Turbopack's
// root is web/, the folder that holds them both.
import path from "node:path";
import { fileURLToPath } from "node:url";

const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** @type {import("next").NextConfig} */
const config = {
  turbopack: { root: web },
  outputFileTracingRoot: web,
  // `tsc --noEmit` type-checks the example (make react): the build does not repeat it.
  // tsconfig.next.json differs from tsconfig.json only in "moduleResolution":
  // "nodenext", under which Turbopack applies TypeScript's extension
  // substitution (the SDK's sources import "./client.js" for client.ts).
  typescript: { ignoreBuildErrors: true, tsconfigPath: "tsconfig.next.json" },
  // The server's base URL is read at request time (RALLYPOINT_URL); see app/(play)/layout.tsx.
  poweredByHeader: false,
};

export default config;
