// The example imports the React binding and the SDK from this repository's
// sources (web/react, web/sdk; see tsconfig.json "paths"), so Turbopack's
// root is web/, the folder that holds them both.
import path from "node:path";

const web = path.resolve(import.meta.dirname, "../..");

/** @type {import("next").NextConfig} */
const config = {
  turbopack: { root: web },
  outputFileTracingRoot: web,
  // webpack (next build --webpack): the SDK's sources import "./client.js" for client.ts
  experimental: { externalDir: true, extensionAlias: { ".js": [".ts", ".tsx", ".js"] } },
  // `tsc --noEmit` type-checks the example (make react): the build does not repeat it.
  typescript: { ignoreBuildErrors: true },
  // The server's base URL is read at request time (RALLYPOINT_URL); see app/(play)/layout.tsx.
  poweredByHeader: false,
};

export default config;
