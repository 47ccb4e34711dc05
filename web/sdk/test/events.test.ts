import { describe, expect, it, vi } from "vitest";
import { Disposers, Emitter } from "../src/events.js";

interface Ev {
  a: number;
  b: string;
}

describe("Emitter", () => {
  it("on returns its own unsubscribe; off of an unknown handler is a no-op", () => {
    const e = new Emitter<Ev>();
    const got: number[] = [];
    const f = (n: number) => got.push(n);
    const off = e.on("a", f);
    e.emit("a", 1);
    off();
    off(); // twice: harmless
    e.off("a", (n) => got.push(n * 100)); // never subscribed
    e.emit("a", 2);
    expect(got).toEqual([1]);
    expect(e.listenerCount()).toBe(0);
  });

  it("off removes only the given handler, not the other subscribers of the event", () => {
    const e = new Emitter<Ev>();
    const a = vi.fn();
    const b = vi.fn();
    e.on("a", a);
    e.on("a", b);
    e.off("a", a);
    e.emit("a", 1);
    expect(a).not.toHaveBeenCalled();
    expect(b).toHaveBeenCalledWith(1);
  });

  it("iterates over a copy: handlers may unsubscribe themselves and others while emitting", () => {
    const e = new Emitter<Ev>();
    const calls: string[] = [];
    let offB: () => void = () => {};
    e.on("a", () => {
      calls.push("a");
      offB();
    });
    offB = e.on("a", () => calls.push("b"));
    e.on("a", () => e.on("a", () => calls.push("late")));
    e.emit("a", 1);
    expect(calls).toEqual(["a", "b"]); // b still ran this time; late did not
    calls.length = 0;
    e.emit("a", 2);
    expect(calls).toEqual(["a", "late"]);
  });

  it("once runs once and can be cancelled", () => {
    const e = new Emitter<Ev>();
    const f = vi.fn();
    e.once("b", f);
    e.emit("b", "x");
    e.emit("b", "y");
    expect(f).toHaveBeenCalledTimes(1);
    const g = vi.fn();
    const off = e.once("b", g);
    off();
    e.emit("b", "z");
    expect(g).not.toHaveBeenCalled();
  });

  it("a throwing handler does not stop the others", () => {
    const e = new Emitter<Ev>();
    const errs: unknown[] = [];
    e.onListenerError = (_ev, err) => errs.push(err);
    const f = vi.fn();
    e.on("a", () => {
      throw new Error("boom");
    });
    e.on("a", f);
    e.emit("a", 1);
    expect(f).toHaveBeenCalled();
    expect(errs.length).toBe(1);
  });
});

describe("Disposers", () => {
  it("runs every disposer once, newest first, even if one throws", () => {
    const d = new Disposers();
    const order: number[] = [];
    d.add(() => order.push(1));
    d.add(() => {
      throw new Error("x");
    });
    d.add(() => order.push(3));
    d.run();
    d.run();
    expect(order).toEqual([3, 1]);
    expect(d.size).toBe(0);
  });
});
