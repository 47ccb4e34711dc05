import { defineConfig } from "vitest/config";

export default defineConfig({
  root: import.meta.dirname,
  resolve: { alias: { "@rallypoint/sdk": new URL("../sdk/src/index.ts", import.meta.url).pathname } },
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
  },
});
