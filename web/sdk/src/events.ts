// A small typed event emitter in the spirit of socket.io's: on() returns its
// own unsubscribe, off() of an unknown handler is a no-op, emit iterates over
// a copy of the listeners so a handler may unsubscribe itself or others.
//
// emit() is not part of the public surface of the classes that use this: they
// hold an Emitter privately and expose only on/off/once, so users cannot emit
// lifecycle events.

/** A function that undoes something (unsubscribes, clears a timer, closes a socket). */
export type Disposer = () => void;

/** Listener of the event K of the map E. */
export type Listener<E, K extends keyof E> = (payload: E[K]) => void;

/** The subscribe half of an Emitter: what classes expose to their users. */
export interface Subscribable<E> {
  on<K extends keyof E>(event: K, fn: Listener<E, K>): Disposer;
  once<K extends keyof E>(event: K, fn: Listener<E, K>): Disposer;
  off<K extends keyof E>(event: K, fn: Listener<E, K>): void;
}

/** Emitter is a typed event emitter over the event map E (event name -> payload type). */
export class Emitter<E> implements Subscribable<E> {
  private readonly listeners = new Map<keyof E, Array<Listener<E, any>>>();
  /** Called with (event, error) when a listener throws; the other listeners still run. */
  onListenerError: (event: keyof E, err: unknown) => void = (_e, err) => {
    queueMicrotask(() => {
      throw err;
    });
  };

  on<K extends keyof E>(event: K, fn: Listener<E, K>): Disposer {
    let list = this.listeners.get(event);
    if (!list) {
      list = [];
      this.listeners.set(event, list);
    }
    list.push(fn);
    return () => this.off(event, fn);
  }

  once<K extends keyof E>(event: K, fn: Listener<E, K>): Disposer {
    const wrapper: Listener<E, K> = (p) => {
      this.off(event, wrapper);
      fn(p);
    };
    return this.on(event, wrapper);
  }

  /** off removes one registration of fn; unknown handlers are ignored. */
  off<K extends keyof E>(event: K, fn: Listener<E, K>): void {
    const list = this.listeners.get(event);
    if (!list) return;
    const i = list.indexOf(fn);
    if (i < 0) return;
    list.splice(i, 1);
    if (list.length === 0) this.listeners.delete(event);
  }

  emit<K extends keyof E>(event: K, payload: E[K]): void {
    const list = this.listeners.get(event);
    if (!list) return;
    for (const fn of list.slice()) {
      try {
        fn(payload);
      } catch (err) {
        this.onListenerError(event, err);
      }
    }
  }

  /** listenerCount is the number of listeners of event, or of all events. */
  listenerCount(event?: keyof E): number {
    if (event !== undefined) return this.listeners.get(event)?.length ?? 0;
    let n = 0;
    for (const l of this.listeners.values()) n += l.length;
    return n;
  }

  removeAll(): void {
    this.listeners.clear();
  }
}

/** Disposers collects cleanups and runs them all once, newest first. */
export class Disposers {
  private list: Disposer[] = [];

  add(d: Disposer): Disposer {
    this.list.push(d);
    return d;
  }

  /** size is the number of pending disposers (for tests). */
  get size(): number {
    return this.list.length;
  }

  run(): void {
    const list = this.list;
    this.list = [];
    for (let i = list.length - 1; i >= 0; i--) {
      try {
        list[i]!();
      } catch {
        // a failing cleanup must not keep the others from running
      }
    }
  }
}
