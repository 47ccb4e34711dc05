// vitest 5 wants Node 22; its reporter uses Map.groupBy / Object.groupBy,
// which Node 20 lacks. Loaded with `node --import` by `npm run test:sdk`.
if (typeof Map.groupBy !== "function") {
  Map.groupBy = function groupBy(items, key) {
    const m = new Map();
    let i = 0;
    for (const it of items) {
      const k = key(it, i++);
      const list = m.get(k);
      if (list) list.push(it);
      else m.set(k, [it]);
    }
    return m;
  };
}
if (typeof Object.groupBy !== "function") {
  Object.groupBy = function groupBy(items, key) {
    const o = Object.create(null);
    let i = 0;
    for (const it of items) {
      const k = key(it, i++);
      (o[k] ??= []).push(it);
    }
    return o;
  };
}
