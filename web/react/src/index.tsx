// @rallypoint/react: React bindings for the Rallypoint browser SDK. See
// docs/web-sdk.md, "React and Next.js".
//
// <RallypointProvider> owns one Rallypoint client per mounted provider (or
// adopts one you pass). Hooks read the framework-free RallypointStore
// (store.ts) through useSyncExternalStore, one slice each, so a component
// re-renders only when its slice changes: never per tick for positions,
// which go to a canvas through useFrame.
//
// StrictMode: the provider's effect defers close() by a macrotask
// (setTimeout 0), as Colyseus' react-tools do, so the mount, unmount, mount
// of StrictMode cancels it and keeps the one client; a real unmount closes
// it (socket, EventSource, timers) in the next macrotask. The client opens
// nothing until play() or rejoin(), so the second render StrictMode makes
// and throws away costs two small objects, not a connection.

import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useReducer,
  useRef,
  useSyncExternalStore,
  type ReactNode,
} from "react";
import {
  Rallypoint,
  type ClientState,
  type RallypointOptions,
  type Session,
  type Welcome,
} from "@rallypoint/sdk";
import {
  RallypointStore,
  type FrameListener,
  type MatchSnapshot,
  type QueueSnapshot,
  type RosterEntry,
  type Slice,
  type StoreOptions,
} from "./store";

export { RallypointStore } from "./store";
export type { FrameListener, MatchSnapshot, QueueSnapshot, RosterEntry, Slice, StoreOptions } from "./store";

const StoreContext = createContext<RallypointStore | null>(null);
StoreContext.displayName = "Rallypoint";

export interface RallypointProviderProps {
  /**
   * Options of the client the provider creates, read once when it mounts
   * (give the provider a new `key` to start over with other options).
   */
  options?: RallypointOptions;
  /**
   * A client you own instead: the provider neither creates nor closes it
   * (close it yourself). Ignored after the first render.
   */
  client?: Rallypoint;
  /** How many game events useMatch() keeps. If zero, 32 is used. */
  eventLimit?: number;
  children?: ReactNode;
}

interface Owned {
  store: RallypointStore;
  own: boolean;
  closing: ReturnType<typeof setTimeout> | undefined;
  closed: boolean;
}

// One store per adopted client, so two providers given the same client share it.
const adopted = new WeakMap<Rallypoint, RallypointStore>();

function makeOwned(p: RallypointProviderProps): Owned {
  const so: StoreOptions = {};
  if (p.eventLimit) so.eventLimit = p.eventLimit;
  if (p.client) {
    let store = adopted.get(p.client);
    if (!store || store.isDestroyed) adopted.set(p.client, (store = new RallypointStore(p.client, so)));
    return { store, own: false, closing: undefined, closed: false };
  }
  return { store: new RallypointStore(new Rallypoint(p.options), so), own: true, closing: undefined, closed: false };
}

/**
 * RallypointProvider gives its subtree one Rallypoint client. The client it
 * creates lives exactly as long as the provider is mounted: unmounting
 * closes it (socket, EventSource, timers; the seat stays held for the
 * grace period, so a provider mounted again can rejoin it).
 */
export function RallypointProvider(props: RallypointProviderProps): ReactNode {
  const ref = useRef<Owned | null>(null);
  ref.current ??= makeOwned(props);
  const [, remount] = useReducer((n: number) => n + 1, 0);
  const owned = ref.current;
  useEffect(() => {
    if (owned.closed) {
      // Effects re-run after the deferred close already ran (an <Activity>
      // shown again): start over with a new client.
      ref.current = makeOwned(props);
      remount();
      return;
    }
    clearTimeout(owned.closing); // StrictMode's remount cancels the pending close
    owned.closing = undefined;
    return () => {
      owned.closing = setTimeout(() => {
        owned.closing = undefined;
        owned.closed = true;
        if (!owned.own) return; // an adopted client stays as it is
        owned.store.destroy();
        owned.store.client.close();
      }, 0);
    };
    // props are read once, on purpose (see RallypointProviderProps.options)
  }, [owned]);
  return <StoreContext.Provider value={owned.store}>{props.children}</StoreContext.Provider>;
}

/** useRallypointStore is the provider's store (throws outside a provider). */
export function useRallypointStore(): RallypointStore {
  const store = useContext(StoreContext);
  if (!store) throw new Error("@rallypoint/react: this hook needs a <RallypointProvider> above it");
  return store;
}

/** useRallypoint is the provider's client: call play(), setInput(), leave() on it. */
export function useRallypoint(): Rallypoint {
  return useRallypointStore().client;
}

function useSlice<T>(store: RallypointStore, slice: Slice, get: () => T): T {
  const subscribe = useCallback((fn: () => void) => store.subscribe(slice, fn), [store, slice]);
  return useSyncExternalStore(subscribe, get, get);
}

/** useConnectionState is the client's state (idle, queued, connecting, playing, reconnecting, closed). */
export function useConnectionState(): ClientState {
  const store = useRallypointStore();
  return useSlice(store, "state", store.getState);
}

export interface UseSession {
  /** The lobby session, null until signed in. */
  session: Session | null;
  /** Signs in as a guest unless signed in already (concurrent calls share one sign-in). */
  signInGuest(name: string): Promise<Session>;
  /** Signs in again from a stored refresh token. */
  resumeSession(refreshToken: string): Promise<Session>;
}

/** useSession is the lobby session and the calls that change it. */
export function useSession(): UseSession {
  const store = useRallypointStore();
  const session = useSlice(store, "session", store.getSession);
  return {
    session,
    signInGuest: useCallback((name: string) => store.signInGuest(name), [store]),
    resumeSession: useCallback((t: string) => store.resumeSession(t), [store]),
  };
}

export interface UseQueue extends QueueSnapshot {
  /** Queue for mode (default "arena"): resolves with the Welcome once playing (see Rallypoint.play). */
  play(mode?: string, rating?: number): Promise<Welcome>;
  /** Leave the queue; false if there was nothing to cancel or the ticket is being matched. */
  cancel(): Promise<boolean>;
}

/** useQueue is the matchmaking ticket, updated from the lobby's event stream, with play and cancel. */
export function useQueue(): UseQueue {
  const store = useRallypointStore();
  const q = useSlice(store, "queue", store.getQueue);
  const play = useCallback(
    (mode = "arena", rating?: number) => store.client.play(rating === undefined ? { mode } : { mode, rating }),
    [store],
  );
  const cancel = useCallback(() => store.client.cancel(), [store]);
  return { status: q.status, ticket: q.ticket, play, cancel };
}

export interface UseMatchOptions {
  /**
   * Also return the roster (every entity without its position), which
   * re-renders when an entity comes, goes or changes hp, score or flags.
   * Default false: useMatch re-renders only on Welcome, events and the end.
   */
  roster?: boolean;
}

export interface UseMatch extends MatchSnapshot {
  /** The entities without positions (empty unless options.roster). */
  roster: readonly RosterEntry[];
}

const emptyRoster: readonly RosterEntry[] = [];
const noSubscribe = () => () => {};
const getEmptyRoster = () => emptyRoster;

/** useMatch is the current match: Welcome, your player and entity, recent events, the result, and optionally the roster. */
export function useMatch(o: UseMatchOptions = {}): UseMatch {
  const store = useRallypointStore();
  const m = useSlice(store, "match", store.getMatch);
  const wantRoster = o.roster === true;
  const subscribeRoster = useCallback((fn: () => void) => store.subscribe("roster", fn), [store]);
  const roster = useSyncExternalStore(
    wantRoster ? subscribeRoster : noSubscribe,
    wantRoster ? store.getRoster : getEmptyRoster,
    wantRoster ? store.getRoster : getEmptyRoster,
  );
  return { ...m, roster };
}

/**
 * useFrame calls draw once per animation frame with the client's view
 * (interpolated remote entities, your predicted avatar), from the store's
 * one frame loop: draw to a canvas through a ref, never into React state.
 * The latest draw function is used; it needs no memoizing.
 */
export function useFrame(draw: FrameListener): void {
  const store = useRallypointStore();
  const fn = useRef(draw);
  useEffect(() => {
    fn.current = draw;
  });
  useEffect(() => store.onFrame((view, now, client) => fn.current(view, now, client)), [store]);
}
