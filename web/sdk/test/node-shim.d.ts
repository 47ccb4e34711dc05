// The few Node APIs the tests use (@types/node is not installed; the SDK
// itself must not depend on Node).
declare module "node:fs" {
  export function readFileSync(path: string, encoding: "utf8"): string;
}
declare module "node:url" {
  export function fileURLToPath(url: URL | string): string;
}
declare const process: { env: Record<string, string | undefined> };
declare function setImmediate(fn: () => void): unknown;
