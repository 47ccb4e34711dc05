// The /ops page: a plain EventSource on ops/events (one JSON summary a
// second, see internal/ops Summary) drawn as small uPlot charts over the
// last five minutes, with the latest figure of each in large type, and a
// table of matches. `make ops-web` bundles it into internal/ops/assets.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './ops.css';

const WINDOW = 300; // points kept: five minutes at one summary a second
const COLORS = ['#58a6ff', '#3fb950', '#d29922', '#bc8cff', '#f778ba', '#39c5cf'];

// span is the interval a summary's counts cover, for the small print.
const span = (s) => `last ${(s.interval_s || 1) < 1.5 ? (s.interval_s || 1).toFixed(1) : Math.round(s.interval_s)} s`;

const fmt = {
  int: (v) => (v == null ? '–' : Math.round(v).toLocaleString('en-US')),
  dec: (v, d = 1) => (v == null ? '–' : v.toFixed(d)),
  ms: (v) => (v == null ? '–' : v < 1 ? v.toFixed(2) : v < 10 ? v.toFixed(1) : Math.round(v).toString()),
  bytes: (v) => {
    if (v == null) return ['–', ''];
    if (v >= 1e6) return [(v / 1e6).toFixed(2), 'MB/s'];
    if (v >= 1e3) return [(v / 1e3).toFixed(1), 'KB/s'];
    return [Math.round(v).toString(), 'B/s'];
  },
};

// Chart definitions: each card shows one main figure and a small chart of
// one or more series taken from the summaries.
const CHARTS = [
  {
    id: 'players', title: 'Players',
    series: [
      { label: 'connected', get: (s) => s.players },
      { label: 'held', get: (s) => s.held },
      { label: 'bots', get: (s) => s.bots },
    ],
    value: (s) => [fmt.int(s.players), ''],
    keys: true,
    sub: (s) => `${fmt.int(s.connections)} sockets`,
  },
  {
    id: 'matches', title: 'Matches',
    series: [{ label: 'matches', get: (s) => s.matches }],
    value: (s) => [fmt.int(s.matches), ''],
    sub: (s) => `${fmt.int(s.dropped_ticks)} ticks dropped · ${fmt.int(s.closes_by_server)} sockets closed (${span(s)})`,
  },
  {
    id: 'tps', title: 'Ticks per second',
    series: [{ label: 'ticks/s', get: (s) => s.ticks_per_s }],
    value: (s) => [fmt.int(s.ticks_per_s), '/s'],
    sub: (s) => `all matches · ${fmt.int(s.snapshots_per_s)} snapshots/s`,
  },
  {
    id: 'tickp99', title: 'Tick duration p99',
    series: [{ label: 'duration p99', get: (s) => s.tick_p99_ms }],
    value: (s) => [fmt.ms(s.tick_p99_ms), 'ms'],
    sub: () => 'inputs + step + encode + fan-out',
  },
  {
    id: 'latep99', title: 'Tick lateness p99',
    series: [{ label: 'lateness p99', get: (s) => s.late_p99_ms }],
    value: (s) => [fmt.ms(s.late_p99_ms), 'ms'],
    sub: () => 'start after due time',
  },
  {
    id: 'bandwidth', title: 'Bandwidth out',
    series: [{ label: 'KB/s', get: (s) => (s.bytes_out_per_s == null ? null : s.bytes_out_per_s / 1e3) }],
    value: (s) => fmt.bytes(s.bytes_out_per_s),
    sub: (s) => (s.players > 0 && s.bytes_out_per_s != null ? `${fmt.dec(s.bytes_out_per_s / 1e3 / s.players)} KB/s per player` : 'game payload bytes'),
  },
  {
    id: 'queues', title: 'Queue length',
    series: [], // one per mode, from the first summary
    value: (s) => [fmt.int(Object.values(s.queues || {}).reduce((a, b) => a + b, 0)), 'waiting'],
    keys: true,
    sub: () => '',
  },
  {
    id: 'ttm', title: 'Time to match',
    series: [{ label: 'seconds', get: (s) => s.time_to_match_s, points: true }],
    value: (s) => {
      if (s.time_to_match_s != null) state.lastTTM = s.time_to_match_s;
      return [state.lastTTM == null ? '–' : state.lastTTM < 10 ? fmt.dec(state.lastTTM, 2) : fmt.dec(state.lastTTM), 's'];
    },
    sub: (s) => `mean wait · ${fmt.int(s.matched)} tickets matched (${span(s)})`,
  },
];

const $ = (sel) => document.querySelector(sel);
const state = { events: 0, charts: {}, started: false, lastTTM: null };
window.__ops = state; // for the browser test

function axisStyle() {
  const grid = { stroke: '#26303b', width: 1 };
  return { stroke: '#8b98a5', grid, ticks: grid, font: '11px system-ui, sans-serif' };
}

function buildCards(first) {
  const queues = CHARTS.find((c) => c.id === 'queues');
  queues.series = Object.keys(first.queues || {}).sort().map((mode) => ({ label: mode, get: (s) => (s.queues || {})[mode] ?? 0 }));
  const root = $('#charts');
  for (const def of CHARTS) {
    const card = document.createElement('div');
    card.className = 'card';
    card.id = `chart-${def.id}`;
    card.innerHTML = `<div class="head"><span class="title"></span><span class="value"></span></div><div class="sub"></div><div class="plot"></div>`;
    card.querySelector('.title').textContent = def.title;
    root.appendChild(card);
    const plot = card.querySelector('.plot');
    const data = [[], ...def.series.map(() => [])];
    const opts = {
      width: plot.clientWidth,
      height: 120,
      legend: { show: false },
      cursor: { show: false },
      padding: [6, 4, 0, 0],
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max((max ?? 0) * 1.15, 1)] } },
      axes: [{ ...axisStyle(), size: 24, space: 60 }, { ...axisStyle(), size: 38, space: 28 }],
      series: [{}, ...def.series.map((s, i) => ({
        label: s.label,
        stroke: COLORS[i % COLORS.length],
        width: 1.75,
        fill: i === 0 ? 'rgba(88, 166, 255, 0.08)' : undefined,
        points: { show: !!s.points, size: 5 },
        spanGaps: false,
      }))],
    };
    const u = new uPlot(opts, data, plot);
    state.charts[def.id] = { def, u, data, card };
  }
  window.addEventListener('resize', () => {
    for (const c of Object.values(state.charts)) c.u.setSize({ width: c.card.querySelector('.plot').clientWidth, height: 120 });
  });
}

function update(s) {
  if (!state.started) {
    buildCards(s);
    state.started = true;
  }
  const t = s.t / 1000;
  for (const c of Object.values(state.charts)) {
    const { def, data, card } = c;
    data[0].push(t);
    def.series.forEach((ser, i) => data[i + 1].push(ser.get(s) ?? null));
    if (data[0].length > WINDOW) for (const arr of data) arr.shift();
    c.u.setData(data);
    const [v, unit] = def.value(s);
    card.querySelector('.value').innerHTML = '';
    card.querySelector('.value').append(v);
    if (unit) {
      const small = document.createElement('small');
      small.textContent = unit;
      card.querySelector('.value').append(small);
    }
    const sub = card.querySelector('.sub');
    sub.replaceChildren();
    if (def.keys) { // a coloured key per series with its latest value
      def.series.forEach((ser, i) => {
        const key = document.createElement('span');
        key.className = 'key';
        const dot = document.createElement('i');
        dot.style.background = COLORS[i % COLORS.length];
        key.append(dot, `${ser.label} ${fmt.int(ser.get(s))}`);
        sub.append(key);
      });
    }
    sub.append(def.sub(s));
  }
  renderStatus(s);
  renderTable(s);
  state.events++;
}

function renderStatus(s) {
  const pill = $('#status');
  if (s.draining) {
    pill.className = 'pill warn';
    pill.textContent = 'draining';
  } else if (!s.ready) {
    pill.className = 'pill bad';
    pill.textContent = `not ready: ${s.not_ready || 'unknown'}`;
  } else {
    pill.className = 'pill ok';
    pill.textContent = 'live · ready';
  }
  $('#updated').textContent = `updated ${new Date(s.t).toLocaleTimeString('en-GB')}`;
}

const COLUMNS = [
  ['Match', (m) => m.id, 'id'],
  ['Mode', (m) => m.mode],
  ['State', (m) => m.state],
  ['Players', (m) => String((m.players || []).length - (m.held || 0))],
  ['Held', (m) => String(m.held || 0)],
  ['Bots', (m) => String(m.bots)],
  ['Seats', (m) => String(m.max_players)],
  ['Tick', (m) => m.tick.toLocaleString('en-US')],
  ['Hz', (m) => String(m.hz)],
  ['Last tick µs', (m) => m.tick_last_us.toLocaleString('en-US')],
  ['Max tick µs', (m) => m.tick_max_us.toLocaleString('en-US'), '', (m) => m.tick_max_us > 1e6 / m.hz / 2],
  ['Max late µs', (m) => m.late_max_us.toLocaleString('en-US'), '', (m) => m.late_max_us > 1e6 / m.hz],
  ['Dropped', (m) => m.dropped_ticks.toLocaleString('en-US'), '', (m) => m.dropped_ticks > 0],
];

function renderTable(s) {
  const table = $('#matches');
  if (!table.tHead.rows.length) {
    const tr = table.tHead.insertRow();
    for (const [name] of COLUMNS) {
      const th = document.createElement('th');
      th.textContent = name;
      tr.appendChild(th);
    }
  }
  const body = table.tBodies[0];
  const rows = s.table || [];
  $('#mcount').textContent = s.table_total > rows.length ? `${rows.length} of ${s.table_total}` : `${rows.length}`;
  body.replaceChildren();
  if (!rows.length) {
    const td = body.insertRow().insertCell();
    td.colSpan = COLUMNS.length;
    td.className = 'empty';
    td.textContent = 'no matches running';
    return;
  }
  for (const m of rows) {
    const tr = body.insertRow();
    for (const [, get, cls, hot] of COLUMNS) {
      const td = tr.insertCell();
      td.textContent = get(m);
      if (cls) td.className = cls;
      if (hot && hot(m)) td.className = 'hot';
    }
  }
}

function connect() {
  const es = new EventSource('ops/events');
  es.onmessage = (e) => update(JSON.parse(e.data));
  es.onerror = () => {
    const pill = $('#status');
    pill.className = 'pill bad';
    pill.textContent = 'disconnected · retrying';
  };
}

connect();
