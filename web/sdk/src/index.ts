// @rallypoint/sdk: the browser SDK of Rallypoint. See docs/web-sdk.md.
//
// The layers, each usable alone:
//   LobbyClient  HTTP + SSE lobby (lobby.ts)
//   Connection   the one game WebSocket, handshake, backoff (connection.ts)
//   World        the entity mirror (world.ts)
//   ServerClock, Interpolator  render time and remote entities (interpolation.ts)
//   Predictor, arenaStep       the own avatar (prediction.ts, movement.ts)
//   codec        the wire messages (codec.ts)
//   Rallypoint   all of it behind one small API (client.ts)

export * from "./client.js";
export * from "./codec.js";
export * from "./connection.js";
export * from "./events.js";
export * from "./interpolation.js";
export * from "./lobby.js";
export * from "./movement.js";
export * from "./prediction.js";
export * from "./world.js";
