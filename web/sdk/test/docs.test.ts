// Every public export is named in docs/web-sdk.md.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import * as sdk from "../src/index.js";

it("docs/web-sdk.md names every export of the SDK", () => {
  const doc = readFileSync(fileURLToPath(new URL("../../../docs/web-sdk.md", import.meta.url)), "utf8");
  const missing = Object.keys(sdk).filter((k) => !doc.includes(k));
  expect(missing).toEqual([]);
});
