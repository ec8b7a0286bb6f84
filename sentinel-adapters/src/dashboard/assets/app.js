'use strict';
// Sentinel dashboard page: plain JS, no build step. API contract: api/v1/* relative to the page.
window.addEventListener('error', (event) => recordJsError(event.message || String(event.error || 'script error')));
window.addEventListener('unhandledrejection', (event) => recordJsError('unhandled rejection: ' + describeError(event.reason)));

/** Counts a JavaScript error in `<html data-js-errors>` and shows it in the error banner. */
function recordJsError(message) {
  const root = document.documentElement;
  root.dataset.jsErrors = String((Number(root.dataset.jsErrors) || 0) + 1);
  root.dataset.jsErrorLast = message;
  const banner = document.getElementById('js-banner');
  if (!banner) return;
  const line = document.createElement('div');
  line.textContent = 'Page error: ' + message;
  banner.append(line);
  while (banner.childElementCount > 4) banner.firstElementChild.remove();
  banner.hidden = false;
}

function describeError(reason) {
  if (reason instanceof Error) return reason.message;
  try { return JSON.stringify(reason); } catch (_) { return String(reason); }
}

document.documentElement.dataset.jsErrors = document.documentElement.dataset.jsErrors || '0';

(() => {
  const KINDS = [
    { key: 'flow', label: 'Flow', short: 'flow' },
    { key: 'isolation', label: 'Isolation', short: 'isolation' },
    { key: 'circuitBreaker', label: 'Circuit breaker', short: 'breaker' },
    { key: 'hotspot', label: 'Hotspot', short: 'hotspot' },
    { key: 'system', label: 'System', short: 'system' },
  ];
  const FIGURES = ['pass', 'block', 'complete', 'error', 'avgRtMs', 'concurrency'];
  const ZERO = { pass: 0, block: 0, complete: 0, error: 0, avgRtMs: 0, concurrency: 0 };
  const SPARK_LEN = 60;
  const SPARK_W = 96;
  const SPARK_H = 22;
  const BREAKER_ORDER = ['Open', 'HalfOpen', 'Closed'];
  const COLORS = {
    pass: '#16a34a', passFill: 'rgba(22,163,74,0.10)',
    block: '#dc2626', blockFill: 'rgba(220,38,38,0.10)',
    error: '#d97706', rt: '#2563eb', rtFill: 'rgba(37,99,235,0.08)', conc: '#7c3aed', concLine: 'rgba(124,58,237,0.75)',
    spark: '#2563eb', sparkFill: 'rgba(37,99,235,0.12)', sparkIdle: '#cbd5e1',
    axis: '#64748b', grid: '#eef2f7',
  };
  const MONO = 'ui-monospace, "SF Mono", "Cascadia Mono", Menlo, Consolas, "DejaVu Sans Mono", monospace';

  const $ = (id) => document.getElementById(id);

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  // ---------------------------------------------------------------- formatting

  function fmtCount(n) {
    if (n == null || Number.isNaN(n)) return '–';
    const a = Math.abs(n);
    const trim = (x) => x.toFixed(1).replace(/\.0$/, '');
    if (a < 1000) return Number.isInteger(n) ? String(n) : trim(n);
    // Thresholds sit where rounding would carry into the next unit (9,960 is 10k, not 10.0k).
    if (a < 9950) return trim(n / 1e3) + 'k';
    if (a < 999500) return Math.round(n / 1e3) + 'k';
    if (a < 9.95e6) return trim(n / 1e6) + 'M';
    if (a < 999.5e6) return Math.round(n / 1e6) + 'M';
    return trim(n / 1e9) + 'G';
  }

  function fmtMs(v) {
    if (v == null || Number.isNaN(v)) return '–';
    if (v === 0) return '0 ms';
    if (v < 1) return v.toFixed(2).replace(/0$/, '') + ' ms';
    if (v < 10) return v.toFixed(1).replace(/\.0$/, '') + ' ms';
    if (v < 1000) return Math.round(v) + ' ms';
    return (v / 1000).toFixed(v < 1e4 ? 2 : 1) + ' s';
  }

  function fmtBytes(n) {
    if (n == null) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return (i === 0 || n >= 100 ? Math.round(n) : n.toFixed(1)) + ' ' + units[i];
  }

  function fmtDuration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    const pad = (x) => String(x).padStart(2, '0');
    if (d > 0) return `${d}d ${pad(h)}h`;
    if (h > 0) return `${h}h ${pad(m)}m`;
    if (m > 0) return `${m}m ${pad(s % 60)}s`;
    return `${s}s`;
  }

  function fmtTime(ms) {
    return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }

  function fmtClock(ms, withSeconds) {
    const options = { hour: '2-digit', minute: '2-digit' };
    if (withSeconds) options.second = '2-digit';
    return new Date(ms).toLocaleTimeString([], options);
  }

  function fmtAgo(ms) {
    const s = Math.round((serverNow() - ms) / 1000);
    if (s < 5) return 'just now';
    if (s < 90) return `${s} s ago`;
    if (s < 5400) return `${Math.round(s / 60)} min ago`;
    if (s < 86400 * 2) return `${Math.round(s / 3600)} h ago`;
    return `${Math.round(s / 86400)} days ago`;
  }

  function kindLabel(key) {
    const kind = KINDS.find((k) => k.key === key);
    return kind ? kind.label : key;
  }

  // ---------------------------------------------------------------- state

  const state = {
    status: null,
    statusClock: 0, // Date.now() when the status arrived
    clockSkew: 0, // server clock minus ours, ms
    resourcesLoaded: false,
    resources: new Map(), // name -> resource record (figures, spark, rules, breakers, view)
    lastSecond: 0, // newest complete second seen, unix ms
    sort: { key: 'name', dir: 1 },
    filter: '',
    rules: null,
    rulesText: '',
    rulesKind: 'flow',
    system: null,
    inbound: [], // last SPARK_LEN inbound passes, oldest first
    inboundSecond: 0,
    mode: 'connecting', // connecting | live | polling | offline
  };

  function serverNow() {
    return Date.now() + state.clockSkew;
  }

  // ---------------------------------------------------------------- API access

  class ApiError extends Error {
    constructor(message, status, body) {
      super(message);
      this.status = status;
      this.body = body;
    }
  }

  async function readJson(res) {
    const text = await res.text();
    if (!text) return null;
    try {
      return JSON.parse(text);
    } catch (_) {
      if (res.ok) throw new ApiError(`${res.url}: the answer is not JSON`, res.status, null);
      return { error: text.trim().slice(0, 300) };
    }
  }

  async function getJson(path) {
    let res;
    try {
      res = await fetch(path, { cache: 'no-store', headers: { Accept: 'application/json' } });
    } catch (_) {
      throw new ApiError(`${path}: the server cannot be reached`, 0, null);
    }
    const body = await readJson(res);
    if (!res.ok) {
      const detail = body && body.error ? `: ${body.error}` : '';
      throw new ApiError(`${path}: HTTP ${res.status}${detail}`, res.status, body);
    }
    return body;
  }

  /** A programming error found inside a loader is rethrown so the error hooks count it. */
  function rethrowBug(err) {
    if (!(err instanceof ApiError)) setTimeout(() => { throw err; }, 0);
  }

  const problems = new Map();

  /** `err` failed an API request; `wait` ms until the next try. */
  function setProblem(key, err, wait) {
    problems.set(key, { err, wait });
    renderProblems();
  }

  function clearProblem(key) {
    if (problems.delete(key)) renderProblems();
  }

  function renderProblems() {
    const banner = $('api-banner');
    const retry = (wait) => `retrying in ${Math.round(wait / 1000)} s`;
    const all = [...problems.values()];
    const unreachable = all.filter((p) => p.err instanceof ApiError && p.err.status === 0);
    const lines = all.filter((p) => !unreachable.includes(p)).map((p) => `${describeError(p.err)} — ${retry(p.wait)}`);
    if (unreachable.length) {
      const wait = Math.min(...unreachable.map((p) => p.wait));
      lines.unshift(`The server cannot be reached — ${retry(wait)}. The figures shown are from ${fmtTime(state.lastSecond || Date.now())}.`);
    }
    banner.replaceChildren(...lines.map((line) => el('div', null, line)));
    banner.hidden = lines.length === 0;
    updateLiveBadge();
  }

  /** Runs `load` now and then every `interval()` ms; failures show in the banner and back off. */
  function poller(key, load, interval) {
    let failures = 0;
    let timer = 0;
    let running = false;
    let again = false;
    const run = async () => {
      clearTimeout(timer);
      if (running) { again = true; return; }
      running = true;
      let wait;
      try {
        await load();
        failures = 0;
        clearProblem(key);
        wait = interval();
      } catch (err) {
        failures += 1;
        wait = Math.min(30000, 1000 * 2 ** Math.min(failures - 1, 5));
        setProblem(key, err, wait);
        rethrowBug(err);
      }
      running = false;
      if (again) { again = false; wait = 0; }
      timer = setTimeout(run, wait);
    };
    return { start: run, now: run };
  }

  // ---------------------------------------------------------------- loaders

  async function loadStatus() {
    const status = await getJson('api/v1/status');
    const countsChanged = !state.status || JSON.stringify(state.status.rules) !== JSON.stringify(status.rules);
    state.status = status;
    state.statusClock = Date.now();
    if (typeof status.now === 'number') state.clockSkew = status.now - Date.now();
    renderHeader();
    renderSources();
    renderCluster();
    renderRules();
    markReady();
    if (countsChanged && state.rules) pollers.rules.now();
  }

  async function loadResources() {
    const body = await getJson('api/v1/resources');
    mergeResources(body);
    state.resourcesLoaded = true;
    markReady();
  }

  async function loadSystem() {
    const system = await getJson('api/v1/system');
    state.system = system;
    if (system.inbound) pushInbound(system.second, system.inbound);
    renderSystem();
  }

  async function loadRules() {
    const body = await getJson('api/v1/rules?enums=names');
    const text = JSON.stringify(body);
    if (text === state.rulesText) return;
    state.rules = body;
    state.rulesText = text;
    renderRules();
  }

  const live = () => state.mode === 'live';
  const pollers = {
    status: poller('status', loadStatus, () => 5000),
    resources: poller('resources', loadResources, () => (live() ? 3000 : 1000)),
    system: poller('system', loadSystem, () => (live() ? 5000 : 1000)),
    rules: poller('rules', loadRules, () => 15000),
  };

  function markReady() {
    const root = document.documentElement;
    if (root.dataset.ready === '1' || !state.status || !state.resourcesLoaded) return;
    root.dataset.ready = '1';
  }

  // ---------------------------------------------------------------- live data

  function newResource(name) {
    return {
      name, ...ZERO,
      spark: new Array(SPARK_LEN).fill(0), sparkVersion: 1,
      rules: {}, breakers: [], kept: true, view: null,
    };
  }

  function setFigures(res, figures) {
    for (const key of FIGURES) res[key] = Number(figures[key]) || 0;
  }

  function pushSpark(res, value, missed) {
    for (let i = 0; i < missed; i += 1) res.spark.push(0);
    res.spark.push(value);
    if (res.spark.length > SPARK_LEN) res.spark.splice(0, res.spark.length - SPARK_LEN);
    res.sparkVersion += 1;
  }

  function normalisedSpark(values) {
    const spark = (Array.isArray(values) ? values : []).slice(-SPARK_LEN).map((v) => Number(v) || 0);
    while (spark.length < SPARK_LEN) spark.unshift(0);
    return spark;
  }

  /** Full resynchronisation from `api/v1/resources` (rules, breakers, sparks, new and evicted resources). */
  function mergeResources(body) {
    const fresh = body.second >= state.lastSecond;
    const seen = new Set();
    for (const item of body.resources || []) {
      seen.add(item.name);
      let res = state.resources.get(item.name);
      if (!res) {
        res = newResource(item.name);
        state.resources.set(item.name, res);
      }
      res.rules = item.rules || {};
      res.breakers = item.breakers || [];
      res.kept = item.kept !== false;
      if (fresh) {
        setFigures(res, item);
        res.spark = normalisedSpark(item.spark);
        res.sparkVersion += 1;
      }
    }
    for (const [name, res] of state.resources) {
      if (seen.has(name)) continue;
      forgetRow(res);
      state.resources.delete(name);
    }
    // Rules, breakers and kept may have changed, and a sort on figures follows them here
    // (every 3 s while live) rather than every second, so rows do not jump around.
    layoutDirty = true;
    if (body.second > state.lastSecond) {
      state.lastSecond = body.second;
      const open = chart.resource && state.resources.get(chart.resource);
      chartOnSecond(body.second, open || ZERO);
    }
    scheduleRender();
  }

  /** One `second` event of the stream: figures of the resources active in that second. */
  function onFrame(frame) {
    if (!(frame.second > state.lastSecond)) return;
    const missed = state.lastSecond ? Math.min(SPARK_LEN, Math.max(0, Math.round((frame.second - state.lastSecond) / 1000) - 1)) : 0;
    const active = new Map((frame.resources || []).map((r) => [r.name, r]));
    for (const [name, res] of state.resources) {
      const figures = active.get(name) || ZERO;
      setFigures(res, figures);
      pushSpark(res, res.pass + res.block, missed);
    }
    for (const [name, figures] of active) {
      if (state.resources.has(name)) continue;
      const res = newResource(name);
      setFigures(res, figures);
      pushSpark(res, res.pass + res.block, 0);
      state.resources.set(name, res);
      layoutDirty = true;
    }
    state.lastSecond = frame.second;
    if (frame.inbound) pushInbound(frame.second, frame.inbound);
    chartOnSecond(frame.second, active.get(chart.resource) || ZERO);
    scheduleRender();
    renderSystem();
  }

  function pushInbound(second, inbound) {
    if (!(second > state.inboundSecond)) return;
    state.inboundSecond = second;
    state.inboundFigures = inbound;
    state.inbound.push(Number(inbound.pass) || 0);
    if (state.inbound.length > SPARK_LEN) state.inbound.shift();
  }

  let stream = null;

  function openStream() {
    if (typeof EventSource !== 'function') { setMode('polling'); return; }
    const source = new EventSource('api/v1/stream');
    stream = source;
    source.onopen = () => {
      if (stream === source) setMode('live');
    };
    source.addEventListener('second', (event) => {
      if (stream !== source) return;
      if (state.mode !== 'live') setMode('live');
      onFrame(JSON.parse(event.data));
    });
    source.onerror = () => {
      if (stream !== source) return;
      // Fall back to polling api/v1/resources every second; try the stream again later.
      source.close();
      stream = null;
      setMode('polling');
      setTimeout(openStream, 10000);
    };
  }

  function setMode(mode) {
    const was = state.mode;
    state.mode = mode;
    updateLiveBadge();
    if (was !== mode && mode !== 'live') {
      pollers.resources.now();
      pollers.system.now();
    }
  }

  function updateLiveBadge() {
    const badge = $('live');
    const offline = problems.has('resources') || problems.has('status');
    const mode = offline ? 'offline' : state.mode;
    const text = {
      connecting: 'connecting…',
      live: 'live',
      polling: 'polling every second',
      offline: 'offline',
    }[mode];
    badge.className = 'live live-' + mode;
    $('live-text').textContent = text;
    badge.title = {
      connecting: 'Opening the live stream',
      live: 'Receiving one update per second over server-sent events',
      polling: 'The live stream is unavailable; polling api/v1/resources every second',
      offline: 'The server does not answer; retrying',
    }[mode];
    $('live-second').textContent = state.lastSecond ? fmtTime(state.lastSecond) : '';
  }

  // ---------------------------------------------------------------- header, system, sources

  function chip(text, tone, title) {
    const node = el('span', 'chip chip-' + tone, text);
    if (title) node.title = title;
    return node;
  }

  function renderHeader() {
    const s = state.status;
    $('app-name').textContent = s.app || 'app';
    document.title = `${s.app || 'app'} · Sentinel`;
    $('app-version').textContent = s.version ? 'v' + String(s.version).replace(/^v/, '') : '';
    tickClock();

    const counts = KINDS.filter((k) => (s.rules || {})[k.key] > 0).map((k) => `${s.rules[k.key]} ${k.short}`);
    $('rule-counts').textContent = counts.length ? counts.join(' · ') : 'none';

    const writes = s.writes || {};
    let mode;
    if (!writes.enabled) mode = chip('read-only', 'muted', 'Rule edits are disabled on this server');
    else if (writes.persisted) mode = chip(`edits are saved to ${writes.target || 'the rule source'}`, 'ok');
    else {
      mode = chip('edits: this instance only, until a reload or restart', 'warn',
        `Edits are ${inMemoryOnlyText()} (no writer stores them in a rule source).`);
    }
    $('write-mode').replaceChildren(mode);

    const cluster = s.cluster;
    $('cluster-fact').hidden = !cluster;
    if (cluster) $('cluster-state').replaceChildren(chip(cluster.state, clusterTone(cluster.state)));
  }

  function clusterTone(value) {
    return { Healthy: 'ok', Degraded: 'warn', Connecting: 'warn', NoBackend: 'muted' }[value] || 'muted';
  }

  function tickClock() {
    const s = state.status;
    if (s) $('uptime').textContent = fmtDuration(s.uptimeSeconds + (Date.now() - state.statusClock) / 1000);
    for (const node of document.querySelectorAll('[data-ago]')) node.textContent = fmtAgo(Number(node.dataset.ago));
  }

  function agoSpan(ms) {
    const node = el('span', 'ago', fmtAgo(ms));
    node.dataset.ago = String(ms);
    node.title = new Date(ms).toLocaleString();
    return node;
  }

  function renderSystem() {
    const sys = state.system;
    const inbound = state.inboundFigures || (sys && sys.inbound) || null;
    const set = (id, text, zero) => {
      const node = $(id);
      node.textContent = text;
      node.classList.toggle('zero', !!zero);
    };
    if (inbound) {
      set('sys-pass', fmtCount(inbound.pass), !inbound.pass);
      set('sys-block', fmtCount(inbound.block), !inbound.block);
      set('sys-error', fmtCount(inbound.error), !inbound.error);
      set('sys-rt', inbound.complete ? fmtMs(inbound.avgRtMs) : '–', !inbound.complete);
      set('sys-conc', fmtCount(inbound.concurrency), !inbound.concurrency);
    }
    drawSpark($('sys-spark'), state.inbound, COLORS.pass, COLORS.passFill, 140, 28);
    if (!sys) return;
    const cpu = sys.cpuUsage;
    set('sys-cpu', cpu == null ? 'n/a' : `${Math.round(cpu * 100)}%`, cpu == null);
    const bar = $('sys-cpu-bar');
    bar.style.width = `${Math.round(Math.min(1, Math.max(0, cpu || 0)) * 100)}%`;
    bar.className = 'meter-fill' + (cpu > 0.85 ? ' meter-hot' : cpu > 0.6 ? ' meter-warm' : '');
    set('sys-load', sys.load1 == null ? 'n/a' : sys.load1.toFixed(2), sys.load1 == null);
    set('sys-rss', sys.rssBytes == null ? 'n/a' : fmtBytes(sys.rssBytes), sys.rssBytes == null);
    let unmeasured = false;
    for (const id of ['sys-cpu', 'sys-load', 'sys-rss']) {
      const na = $(id).textContent === 'n/a';
      unmeasured = unmeasured || na;
      $(id).title = na ? $('sys-note').textContent : '';
    }
    $('sys-note').hidden = !unmeasured;
  }

  function renderSources() {
    const sources = state.status.sources || [];
    const box = $('sources');
    if (!sources.length) {
      box.replaceChildren(el('p', 'empty', 'No rule source attached: the rules were set in code.'));
      return;
    }
    box.replaceChildren(...sources.map((src) => {
      const item = el('div', 'source');
      const head = el('div', 'source-head');
      const healthy = src.healthy !== false;
      head.append(el('span', 'dot ' + (healthy ? 'dot-ok' : 'dot-err')), el('span', 'source-label', src.label || 'rule source'));
      head.append(chip(healthy ? 'healthy' : 'failing', healthy ? 'ok' : 'err'));
      item.append(head);
      if (src.what) item.append(el('div', 'source-what mono', src.what));

      const facts = el('div', 'source-facts');
      const loaded = el('span');
      if (src.lastSuccess) loaded.append('loaded ', agoSpan(src.lastSuccess));
      else loaded.textContent = 'never loaded';
      facts.append(loaded);
      facts.append(el('span', null, `${fmtCount(src.updatesApplied || 0)} applied`));
      if (src.updatesRejected) facts.append(el('span', 'text-err', `${fmtCount(src.updatesRejected)} rejected`));
      const ruleCounts = Object.entries(src.rules || {}).filter(([, n]) => n > 0)
        .map(([kind, n]) => `${n} ${(KINDS.find((k) => k.key === kind) || { short: kind }).short}`);
      if (ruleCounts.length) facts.append(el('span', null, ruleCounts.join(' · ')));
      item.append(facts);

      if (src.lastError) {
        const current = !!src.errorIsCurrent;
        const err = el('div', 'source-error ' + (current ? 'is-current' : 'is-past'));
        const when = el('div', 'source-error-when');
        when.append(current ? 'Error ' : 'Earlier error ', agoSpan(src.lastError.at), current ? '' : ' (recovered since)');
        err.append(when, el('div', 'source-error-msg mono', src.lastError.message));
        item.append(err);
      }
      return item;
    }));
  }

  function renderCluster() {
    const cluster = state.status.cluster;
    $('cluster-card').hidden = !cluster;
    if (!cluster) return;
    const rows = (cluster.leases || []).map((lease) => {
      const tr = el('tr');
      const leaseState = el('td');
      leaseState.append(chip(lease.state, clusterTone(lease.state)));
      tr.append(el('td', 'mono', lease.flowId), leaseState, el('td', 'n', fmtCount(lease.liveInstances)));
      return tr;
    });
    const head = el('div', 'source-head');
    head.append(el('span', 'source-label', 'Token server'), chip(cluster.state, clusterTone(cluster.state)));
    const parts = [head];
    if (rows.length) {
      const table = el('table', 'mini');
      const thead = el('thead');
      const htr = el('tr');
      htr.append(el('th', null, 'Flow id'), el('th', null, 'Lease'), el('th', 'n', 'Instances'));
      thead.append(htr);
      const tbody = el('tbody');
      tbody.append(...rows);
      table.append(thead, tbody);
      parts.push(table);
    } else {
      parts.push(el('p', 'empty', 'No cluster flow leases.'));
    }
    $('cluster').replaceChildren(...parts);
  }

  // ---------------------------------------------------------------- resource table

  const table = $('resources');
  const tbody = table.tBodies[0];

  const SORT_VALUE = {
    name: (r) => r.name,
    pass: (r) => r.pass,
    block: (r) => r.block,
    complete: (r) => r.complete,
    error: (r) => r.error,
    avgRtMs: (r) => r.avgRtMs,
    concurrency: (r) => r.concurrency,
    rules: (r) => Object.values(r.rules).reduce((a, b) => a + (Number(b) || 0), 0),
    breakers: (r) => r.breakers.reduce((worst, b) => Math.max(worst, 3 - BREAKER_ORDER.indexOf(b)), 0),
    spark: (r) => r.spark.reduce((a, b) => a + b, 0),
  };

  function compareResources(a, b) {
    const value = SORT_VALUE[state.sort.key];
    const va = value(a);
    const vb = value(b);
    const c = typeof va === 'string' ? va.localeCompare(vb) : va - vb;
    if (c !== 0) return c * state.sort.dir;
    return a.name.localeCompare(b.name);
  }

  function makeRow(res) {
    const tr = el('tr');
    tr.dataset.resource = res.name;
    tr.tabIndex = 0;
    const cells = { name: el('td', 'name', res.name) };
    cells.name.title = res.name;
    tr.append(cells.name);
    for (const key of FIGURES) {
      cells[key] = el('td', 'n');
      tr.append(cells[key]);
    }
    cells.rules = el('td', 'badges');
    cells.breakers = el('td', 'badges');
    cells.spark = el('td', 'spark');
    tr.append(cells.rules, cells.breakers, cells.spark);
    rowOwner.set(tr, res);
    if (rowObserver) rowObserver.observe(tr);
    else onScreen.add(res);
    return { tr, cells, canvas: null, texts: {}, rulesKey: '', breakersKey: '', sparkDrawn: 0, kept: null };
  }

  /** Drops the row of a resource that is gone. */
  function forgetRow(res) {
    onScreen.delete(res);
    if (!res.view) return;
    if (rowObserver) rowObserver.unobserve(res.view.tr);
    res.view.tr.remove();
    res.view = null;
  }

  function notKeptText() {
    const max = state.status && state.status.maxResources;
    return max ? `history not kept: the ${max} busiest resources are kept` : 'history not kept: only the busiest resources are kept';
  }

  function setCell(view, key, text, zero, hot) {
    if (view.texts[key] === text) return;
    view.texts[key] = text;
    const td = view.cells[key];
    td.textContent = text;
    td.classList.toggle('zero', zero);
    if (hot) td.classList.toggle(hot, !zero);
  }

  function updateRow(res) {
    const view = res.view;
    setCell(view, 'pass', fmtCount(res.pass), res.pass === 0);
    setCell(view, 'block', fmtCount(res.block), res.block === 0, 'hot-block');
    setCell(view, 'complete', fmtCount(res.complete), res.complete === 0);
    setCell(view, 'error', fmtCount(res.error), res.error === 0, 'hot-error');
    setCell(view, 'avgRtMs', res.complete ? fmtMs(res.avgRtMs) : '–', res.complete === 0);
    setCell(view, 'concurrency', fmtCount(res.concurrency), res.concurrency === 0);

    const rulesKey = JSON.stringify(res.rules);
    if (rulesKey !== view.rulesKey) {
      view.rulesKey = rulesKey;
      const badges = KINDS.filter((k) => res.rules[k.key] > 0).map((k) => {
        const n = res.rules[k.key];
        return chip(n > 1 ? `${k.short} ×${n}` : k.short, 'rule', `${n} ${k.label.toLowerCase()} rule${n > 1 ? 's' : ''}`);
      });
      view.cells.rules.replaceChildren(...badges);
      view.cells.rules.title = badges.map((b) => b.title).join('\n');
    }

    const breakersKey = res.breakers.join(',');
    if (breakersKey !== view.breakersKey) {
      view.breakersKey = breakersKey;
      const counts = new Map();
      for (const b of res.breakers) counts.set(b, (counts.get(b) || 0) + 1);
      const order = (b) => (BREAKER_ORDER.includes(b) ? BREAKER_ORDER.indexOf(b) : 9);
      const badges = [...counts.keys()].sort((a, b) => order(a) - order(b)).map((b) => {
        const n = counts.get(b);
        const tone = { Open: 'err', HalfOpen: 'warn', Closed: 'ok' }[b] || 'muted';
        const label = b === 'HalfOpen' ? 'half-open' : b.toLowerCase();
        return chip(n > 1 ? `${label} ×${n}` : label, tone, `${n} circuit breaker${n > 1 ? 's' : ''} ${label}`);
      });
      view.cells.breakers.replaceChildren(...badges);
      view.cells.breakers.title = badges.map((b) => b.title).join('\n');
    }

    if (view.kept !== res.kept) {
      // A resource not kept has no sparkline (its history is all zeros): say so instead.
      view.kept = res.kept;
      view.tr.classList.toggle('unkept', !res.kept);
      view.cells.name.title = res.kept ? res.name : `${res.name}\n(${notKeptText()})`;
      if (res.kept) {
        view.canvas = el('canvas');
        view.cells.spark.replaceChildren(view.canvas);
        view.sparkDrawn = 0;
      } else {
        view.canvas = null;
        const label = el('span', 'no-history', 'not kept');
        label.title = notKeptText();
        view.cells.spark.replaceChildren(label);
      }
    }
    if (view.canvas && view.sparkDrawn !== res.sparkVersion) {
      view.sparkDrawn = res.sparkVersion;
      drawSpark(view.canvas, res.spark, COLORS.spark, COLORS.sparkFill);
    }
    view.tr.classList.toggle('selected', res.name === chart.resource);
  }

  function drawSpark(canvas, values, stroke, fill, w = SPARK_W, h = SPARK_H) {
    const dpr = window.devicePixelRatio || 1;
    const width = Math.round(w * dpr);
    const height = Math.round(h * dpr);
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    if (!values.length) return;
    let max = 0;
    for (const v of values) if (v > max) max = v;
    const idle = max === 0;
    const step = w / Math.max(1, SPARK_LEN - 1);
    const x0 = w - (values.length - 1) * step;
    const y = (v) => h - 1.5 - (idle ? 0 : (v / max) * (h - 4));
    ctx.beginPath();
    values.forEach((v, i) => (i ? ctx.lineTo(x0 + i * step, y(v)) : ctx.moveTo(x0, y(v))));
    ctx.lineWidth = 1.25;
    ctx.lineJoin = 'round';
    ctx.strokeStyle = idle ? COLORS.sparkIdle : stroke;
    ctx.stroke();
    if (idle) return;
    ctx.lineTo(w, h);
    ctx.lineTo(x0, h);
    ctx.closePath();
    ctx.fillStyle = fill;
    ctx.fill();
  }

  // Rows keep their cells: each second only the rows on screen (and near it) get their text
  // and sparkline updated; the others catch up when they scroll into view. The order and the
  // filter are applied again only when `layoutDirty` says the set, the sort or the filter changed.
  const rowOwner = new WeakMap(); // tr -> resource
  const onScreen = new Set(); // resources whose row is (nearly) visible
  const rowObserver = typeof IntersectionObserver === 'function'
    ? new IntersectionObserver(onRowsSeen, { rootMargin: '300px 0px' })
    : null;
  let layoutDirty = true;
  let renderQueued = false;

  function onRowsSeen(entries) {
    for (const entry of entries) {
      const res = rowOwner.get(entry.target);
      if (!res || !res.view) continue;
      if (entry.isIntersecting) {
        onScreen.add(res);
        updateRow(res);
      } else {
        onScreen.delete(res);
      }
    }
  }

  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    setTimeout(() => {
      renderQueued = false;
      renderTable();
      updateLiveBadge();
    }, 0);
  }

  function renderTable() {
    if (layoutDirty) layoutTable();
    for (const res of onScreen) if (res.view && !res.view.tr.hidden) updateRow(res);
  }

  /** Order, filter and counts: after the resource set, the sort or the filter changed. */
  function layoutTable() {
    layoutDirty = false;
    const list = [...state.resources.values()].sort(compareResources);
    for (const res of list) if (!res.view) res.view = makeRow(res);
    const rows = tbody.children;
    const inOrder = rows.length === list.length && list.every((res, i) => rows[i] === res.view.tr);
    if (!inOrder) {
      const fragment = document.createDocumentFragment();
      for (const res of list) fragment.append(res.view.tr);
      tbody.append(fragment);
    }
    const needle = state.filter.trim().toLowerCase();
    let shown = 0;
    let notKept = 0;
    for (const res of list) {
      const hide = !!needle && !res.name.toLowerCase().includes(needle);
      if (res.view.tr.hidden !== hide) res.view.tr.hidden = hide;
      if (!hide) shown += 1;
      if (!res.kept) notKept += 1;
    }
    $('res-count').textContent = needle ? `${shown} of ${list.length}` : String(list.length);
    const empty = $('res-empty');
    empty.hidden = shown > 0;
    empty.textContent = list.length
      ? `No resource name contains “${state.filter.trim()}”.`
      : 'No resources yet: they appear here as soon as traffic passes through Sentinel.';
    const note = $('res-note');
    const max = state.status && state.status.maxResources;
    note.textContent = notKept ? `${notKept} without history (the ${max ? `${max} ` : ''}busiest are kept)` : '';
    note.title = notKept ? `${notKept} resources show live figures only: ${notKeptText()}.` : '';
  }

  function relayout() {
    layoutDirty = true;
    renderTable();
  }

  function renderSortHeaders() {
    for (const th of table.tHead.rows[0].cells) {
      const active = th.dataset.key === state.sort.key;
      th.setAttribute('aria-sort', active ? (state.sort.dir > 0 ? 'ascending' : 'descending') : 'none');
      th.classList.toggle('sorted', active);
    }
  }

  table.tHead.addEventListener('click', (event) => {
    const th = event.target.closest('th[data-key]');
    if (!th) return;
    const key = th.dataset.key;
    if (state.sort.key === key) state.sort.dir = -state.sort.dir;
    else state.sort = { key, dir: key === 'name' ? 1 : -1 };
    renderSortHeaders();
    relayout();
  });

  tbody.addEventListener('click', (event) => {
    const tr = event.target.closest('tr[data-resource]');
    if (tr) openChart(tr.dataset.resource);
  });

  tbody.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter' && event.key !== ' ') return;
    const tr = event.target.closest('tr[data-resource]');
    if (!tr) return;
    event.preventDefault();
    openChart(tr.dataset.resource);
  });

  $('filter').addEventListener('input', (event) => {
    state.filter = event.target.value;
    relayout();
  });

  document.addEventListener('keydown', (event) => {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement && document.activeElement.tagName);
    if (event.key === '/' && !typing) {
      event.preventDefault();
      $('filter').focus();
    } else if (event.key === 'Escape' && chart.resource && !typing) {
      closeChart();
    }
  });

  // ---------------------------------------------------------------- chart panel

  const chart = {
    resource: null,
    generation: 0, // bumped on every open/close so late answers are dropped
    loading: false,
    pending: [], // [second, figures] that arrived while history was loading
    lastCatchUp: 0,
    notKept: false, // the server keeps no history for the open resource
    data: null, // { x: [s], pass, block, error, rt, conc }
    plots: null,
  };
  const panel = $('chart-panel');

  function emptySeries() {
    return { x: [], pass: [], block: [], error: [], rt: [], conc: [] };
  }

  function maxPoints() {
    return (state.status && state.status.historySeconds) || 300;
  }

  function openChart(name) {
    chart.resource = name;
    chart.generation += 1;
    chart.data = emptySeries();
    chart.pending = [];
    chart.loading = true;
    panel.hidden = false;
    panel.dataset.resource = name;
    $('chart-title').textContent = name;
    $('chart-note').hidden = true;
    ensurePlots();
    refreshPlots();
    for (const res of state.resources.values()) if (res.view) res.view.tr.classList.toggle('selected', res.name === name);
    const res = state.resources.get(name);
    if (res && !res.kept) {
      // The server answers 404 for its history: say why and plot the live seconds from now on.
      chart.notKept = true;
      chart.loading = false;
      showNotKept();
      refreshPlots();
    } else {
      chart.notKept = false;
      loadHistory(null);
    }
    // The panel may have brought a scroll bar with it: fit the plots once laid out.
    requestAnimationFrame(resizePlots);
    panel.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }

  function closeChart() {
    const name = chart.resource;
    chart.resource = null;
    chart.generation += 1;
    chart.data = emptySeries();
    panel.hidden = true;
    panel.dataset.resource = '';
    panel.dataset.points = '0';
    panel.dataset.lastSecond = '';
    const res = name && state.resources.get(name);
    if (res && res.view) {
      res.view.tr.classList.remove('selected');
      res.view.tr.focus({ preventScroll: true });
    }
  }

  $('chart-close').addEventListener('click', closeChart);

  async function loadHistory(since) {
    const generation = chart.generation;
    let url = 'api/v1/history?resource=' + encodeURIComponent(chart.resource);
    if (since) url += '&since=' + since;
    try {
      const history = await getJson(url);
      if (generation !== chart.generation) return;
      const seconds = history.seconds || [];
      for (let i = 0; i < seconds.length; i += 1) {
        appendPoint(seconds[i], {
          pass: history.pass[i], block: history.block[i], error: history.error[i],
          complete: history.complete[i], avgRtMs: history.avgRtMs[i], concurrency: history.concurrency[i],
        });
      }
    } catch (err) {
      if (generation !== chart.generation) return;
      if (err.status === 404) {
        chart.notKept = true;
        showNotKept();
      } else {
        const note = $('chart-note');
        note.textContent = `History could not be loaded (${describeError(err)}); showing live seconds from now on.`;
        note.hidden = false;
      }
      rethrowBug(err);
    }
    if (generation !== chart.generation) return;
    chart.loading = false;
    const pending = chart.pending;
    chart.pending = [];
    for (const [second, figures] of pending) appendPoint(second, figures);
    refreshPlots();
  }

  function showNotKept() {
    const note = $('chart-note');
    const text = notKeptText();
    note.textContent = `${text[0].toUpperCase()}${text.slice(1)}. Its figures below come live from the stream, `
      + 'from the moment this panel opened.';
    note.hidden = false;
  }

  function appendPoint(second, figures) {
    const d = chart.data;
    if (d.x.length && second / 1000 <= d.x[d.x.length - 1]) return;
    const num = (v) => Number(v) || 0;
    d.x.push(second / 1000);
    d.pass.push(num(figures.pass));
    d.block.push(num(figures.block));
    d.error.push(num(figures.error));
    d.rt.push(num(figures.complete) > 0 ? num(figures.avgRtMs) : null);
    d.conc.push(num(figures.concurrency));
    const excess = d.x.length - maxPoints();
    if (excess > 0) for (const key of Object.keys(d)) d[key].splice(0, excess);
  }

  /** A new complete second for the open resource (from the stream or from polling). */
  function chartOnSecond(second, figures) {
    if (!chart.resource) return;
    if (chart.loading) {
      chart.pending.push([second, figures]);
      return;
    }
    const x = chart.data.x;
    const last = x.length ? x[x.length - 1] * 1000 : 0;
    if (last && second - last > 1000 && !chart.notKept && Date.now() - chart.lastCatchUp > 10000) {
      // Seconds were missed (reconnect, background tab): fetch them from the history.
      chart.lastCatchUp = Date.now();
      chart.loading = true;
      chart.pending.push([second, figures]);
      loadHistory(last);
      return;
    }
    appendPoint(second, figures);
    refreshPlots();
  }

  function refreshPlots() {
    const d = chart.data || emptySeries();
    panel.dataset.points = String(d.x.length);
    panel.dataset.lastSecond = d.x.length ? String(d.x[d.x.length - 1] * 1000) : '';
    const last = d.x.length - 1;
    const now = $('chart-now');
    if (last >= 0) {
      now.replaceChildren(
        figure('pass', fmtCount(d.pass[last]), '/s'),
        figure('block', fmtCount(d.block[last]), '/s'),
        figure('error', fmtCount(d.error[last]), '/s'),
        figure('rt', d.rt[last] == null ? '–' : fmtMs(d.rt[last]), ''),
        figure('conc', fmtCount(d.conc[last]), ' in flight'),
      );
    } else {
      now.replaceChildren(el('span', 'muted', chart.loading ? 'loading…' : 'waiting for the next second…'));
    }
    if (!chart.plots) return;
    chart.plots.rate.setData([d.x, d.pass, d.block, d.error]);
    chart.plots.rt.setData([d.x, d.rt, d.conc]);
  }

  function figure(kind, value, unit) {
    const node = el('span', 'fig fig-' + kind);
    node.append(el('span', 'fig-swatch'), el('b', null, value), unit);
    return node;
  }

  function plotWidth(id) {
    return Math.max(240, $(id).clientWidth);
  }

  function ensurePlots() {
    if (chart.plots) {
      resizePlots();
      return;
    }
    if (typeof window.uPlot !== 'function') {
      const note = $('chart-note');
      note.textContent = 'The chart library (assets/uplot.min.js) did not load; the figures above still update.';
      note.hidden = false;
      return;
    }
    const timeAxis = () => ({
      ...axis(),
      size: 30,
      space: 90,
      // Whole seconds at least: a chart of a few seconds would otherwise repeat a label per tick.
      incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
      values: (u, ticks, axisIdx, space, incr) => ticks.map((t) => fmtClock(t * 1000, incr < 60)),
    });
    const axis = () => ({
      stroke: COLORS.axis,
      font: '11px ' + MONO,
      grid: { stroke: COLORS.grid, width: 1 },
      ticks: { stroke: COLORS.grid, width: 1, size: 4 },
    });
    const zeroBased = (u, min, max) => [0, max > 0 ? max * 1.1 : 1];
    const countRange = (u, min, max) => [0, Math.max(4, max * 1.1)];
    const countIncrs = [];
    for (let p = 1; p <= 1e9; p *= 10) countIncrs.push(p, 2 * p, 5 * p);
    const common = (id) => ({
      width: plotWidth(id),
      height: 190,
      cursor: { sync: { key: 'sentinel-resource' }, points: { size: 6 } },
      legend: { live: true },
    });
    const rate = new window.uPlot({
      ...common('chart-rate'),
      scales: { x: { time: true }, y: { range: countRange } },
      axes: [timeAxis(), { ...axis(), size: 46, incrs: countIncrs, values: (u, ticks) => ticks.map(fmtCount) }],
      series: [
        { value: (u, v) => (v == null ? '–' : fmtTime(v * 1000)) },
        { label: 'Pass/s', stroke: COLORS.pass, fill: COLORS.passFill, width: 1.5, value: (u, v) => fmtCount(v) },
        { label: 'Block/s', stroke: COLORS.block, fill: COLORS.blockFill, width: 1.5, value: (u, v) => fmtCount(v) },
        { label: 'Error/s', stroke: COLORS.error, width: 1.25, dash: [4, 3], value: (u, v) => fmtCount(v) },
      ],
    }, [[], [], [], []], $('chart-rate'));
    const rt = new window.uPlot({
      ...common('chart-rt'),
      scales: { x: { time: true }, ms: { range: zeroBased }, n: { range: countRange } },
      axes: [
        timeAxis(),
        { ...axis(), scale: 'ms', size: 54, values: (u, ticks) => ticks.map(fmtMs) },
        { ...axis(), scale: 'n', side: 1, size: 40, grid: { show: false }, incrs: countIncrs, values: (u, ticks) => ticks.map(fmtCount) },
      ],
      series: [
        { value: (u, v) => (v == null ? '–' : fmtTime(v * 1000)) },
        { label: 'Avg RT', scale: 'ms', stroke: COLORS.rt, fill: COLORS.rtFill, width: 1.5, spanGaps: false, value: (u, v) => fmtMs(v) },
        {
          label: 'Concurrency', scale: 'n', stroke: COLORS.concLine, width: 1, value: (u, v) => fmtCount(v),
          paths: window.uPlot.paths.stepped({ align: 1 }),
        },
      ],
    }, [[], [], []], $('chart-rt'));
    chart.plots = { rate, rt };
  }

  function resizePlots() {
    if (!chart.plots || panel.hidden) return;
    chart.plots.rate.setSize({ width: plotWidth('chart-rate'), height: 190 });
    chart.plots.rt.setSize({ width: plotWidth('chart-rt'), height: 190 });
  }

  let resizeTimer = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(resizePlots, 100);
  });

  // ---------------------------------------------------------------- rules panel

  function ruleCountOf(kind) {
    if (state.rules && state.rules.kinds && Array.isArray(state.rules.kinds[kind])) return state.rules.kinds[kind].length;
    return (state.status && state.status.rules && state.status.rules[kind]) || 0;
  }

  function writesEnabled() {
    return !!(state.status && state.status.writes && state.status.writes.enabled);
  }

  function renderRules() {
    const tabs = $('rule-tabs');
    tabs.replaceChildren(...KINDS.map((k) => {
      const tab = el('button', 'tab');
      tab.type = 'button';
      tab.setAttribute('role', 'tab');
      tab.setAttribute('aria-selected', String(k.key === state.rulesKind));
      tab.dataset.kind = k.key;
      const n = ruleCountOf(k.key);
      tab.append(k.label, el('span', 'tab-count' + (n ? '' : ' zero'), String(n)));
      return tab;
    }));

    const kind = state.rulesKind;
    const label = kindLabel(kind).toLowerCase();
    const edit = $('rules-edit');
    edit.hidden = !writesEnabled() || !state.rules;
    edit.textContent = `Edit ${label} rules`;
    if (!writesEnabled() && editor.kind) closeEditor();

    const list = $('rules-list');
    if (!state.rules) {
      list.replaceChildren(el('p', 'empty', 'Loading rules…'));
      return;
    }
    const rules = (state.rules.kinds && state.rules.kinds[kind]) || [];
    if (!rules.length) {
      list.replaceChildren(el('p', 'empty', `No ${label} rules in force.`));
      return;
    }
    list.replaceChildren(...rules.map((rule, i) => ruleCard(rule, i, kind)));
  }

  function ruleCard(rule, index, kind) {
    const card = el('div', 'rule');
    const head = el('div', 'rule-head');
    const title = rule.resource || (kind === 'system' && rule.metricType) || `rule #${index}`;
    head.append(el('span', 'rule-title mono', title));
    if (rule.id) head.append(el('span', 'rule-id mono', rule.id));
    card.append(head);
    const fields = el('dl', 'kv');
    for (const [key, value] of Object.entries(rule)) {
      if (key === 'id' || key === 'resource' || isEmptyValue(value)) continue;
      const item = el('div', 'kv-item' + (value === 0 || value === false ? ' dim' : ''));
      const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
      const dd = el('dd', 'mono', text.length > 140 ? text.slice(0, 139) + '…' : text);
      if (text.length > 140) dd.title = text;
      item.append(el('dt', null, key), dd);
      fields.append(item);
    }
    card.append(fields);
    return card;
  }

  function isEmptyValue(value) {
    if (value == null || value === '') return true;
    if (Array.isArray(value)) return value.length === 0;
    return typeof value === 'object' && Object.keys(value).length === 0;
  }

  $('rule-tabs').addEventListener('click', (event) => {
    const tab = event.target.closest('button[data-kind]');
    if (!tab || tab.dataset.kind === state.rulesKind) return;
    state.rulesKind = tab.dataset.kind;
    $('rules-result').replaceChildren();
    if (editor.kind) closeEditor();
    renderRules();
  });

  // ---------------------------------------------------------------- rule editor (writes enabled only)

  // Optimistic concurrency: the editor remembers the version of the kind's rules it was filled
  // from and sends it as `If-Match`; the server refuses the save (409) when the rules in force,
  // or the stored file / etcd key behind them, changed since.
  const editor = { kind: null, saving: false, version: null, baseText: '' };

  function rulesOf(kind) {
    return (state.rules && state.rules.kinds && state.rules.kinds[kind]) || [];
  }

  function versionOf(kind) {
    return (state.rules && state.rules.versions && state.rules.versions[kind]) || null;
  }

  function inMemoryOnlyText() {
    return 'loaded into this instance only: a reload of a rule source or a restart replaces them';
  }

  /** Fills the editor with the rules of its kind as this page last read them. */
  function fillEditor() {
    editor.version = versionOf(editor.kind);
    editor.baseText = JSON.stringify(rulesOf(editor.kind), null, 2);
    $('rules-json').value = editor.baseText;
  }

  function openEditor() {
    const kind = state.rulesKind;
    editor.kind = kind;
    fillEditor();
    showMine('');
    $('editor-title').textContent = `${kindLabel(kind)} rules: the whole set, as a JSON array`;
    const writes = state.status.writes || {};
    const label = kindLabel(kind).toLowerCase();
    $('editor-target').textContent = writes.persisted
      ? `Saving replaces every ${label} rule and writes them to ${writes.target || 'the rule source'}.`
      : `Saving replaces every ${label} rule, ${inMemoryOnlyText()}.`;
    $('rules-result').replaceChildren();
    $('rules-editor').hidden = false;
    $('rules-edit').disabled = true;
    $('rules-json').focus();
  }

  function closeEditor() {
    editor.kind = null;
    editor.version = null;
    showMine('');
    $('rules-editor').hidden = true;
    $('rules-edit').disabled = false;
  }

  /** Shows the user's unsaved text read-only under the editor (empty hides it). */
  function showMine(text) {
    $('rules-mine').value = text;
    $('rules-mine-box').hidden = !text;
  }

  function showResult(tone, title, items, more) {
    const box = el('div', 'result result-' + tone);
    box.setAttribute('role', tone === 'ok' ? 'status' : 'alert');
    box.append(el('div', 'result-title', title));
    const extra = more || {};
    if (extra.before) box.append(...extra.before);
    if (items && items.length) {
      const ul = el('ul');
      ul.append(...items.map((text) => el('li', 'mono', text)));
      box.append(ul);
    }
    if (extra.after) box.append(...extra.after);
    $('rules-result').replaceChildren(box);
  }

  async function saveEditor() {
    if (editor.saving || !editor.kind) return;
    const kind = editor.kind;
    let rules;
    try {
      rules = JSON.parse($('rules-json').value);
    } catch (err) {
      showResult('err', `Not valid JSON: ${err.message}. Nothing was sent.`);
      return;
    }
    if (!Array.isArray(rules)) {
      showResult('err', 'The rule set must be a JSON array: [ {…}, {…} ]. Nothing was sent.');
      return;
    }
    const token = $('token').value.trim();
    if (!token) {
      showResult('err', 'Enter the write token first.');
      $('token').focus();
      return;
    }
    editor.saving = true;
    const button = $('rules-save');
    button.disabled = true;
    button.textContent = 'Saving…';
    const headers = { 'Content-Type': 'application/json', Accept: 'application/json', Authorization: 'Bearer ' + token };
    if (editor.version) headers['If-Match'] = `"${editor.version}"`;
    try {
      let res;
      try {
        res = await fetch('api/v1/rules/' + encodeURIComponent(kind), {
          method: 'PUT',
          cache: 'no-store',
          headers,
          body: JSON.stringify(rules),
        });
      } catch (_) {
        showResult('err', 'The server cannot be reached; nothing was saved.');
        return;
      }
      let body = null;
      try { body = await readJson(res); } catch (_) { body = null; }
      reportSave(kind, res.status, body);
    } finally {
      editor.saving = false;
      button.disabled = false;
      button.textContent = 'Save';
    }
  }

  function reportSave(kind, status, body) {
    const label = kindLabel(kind).toLowerCase();
    const detail = body && body.error ? [`The server said: ${body.error}`] : [];
    if (status === 200) {
      const b = body || {};
      if (b.version && state.rules) {
        // The next save (before the rules are read again) is made against this version.
        state.rules.versions = { ...(state.rules.versions || {}), [kind]: b.version };
      }
      const where = b.persisted ? `written to ${(state.status.writes || {}).target || 'the rule source'}` : inMemoryOnlyText();
      closeEditor();
      showResult('ok', `Saved ${fmtCount(b.rules)} ${label} rule${b.rules === 1 ? '' : 's'}: `
        + `${b.added || 0} added, ${b.removed || 0} removed, ${b.modified || 0} changed; ${where}.`);
      state.rulesText = '';
      pollers.rules.now();
      pollers.status.now();
      pollers.resources.now();
      return;
    }
    if (status === 422) {
      const errors = (body && body.errors) || [];
      showResult('err', `Not saved: ${errors.length || 'some'} problem${errors.length === 1 ? '' : 's'} in the rule set; nothing was changed.`,
        errors.map((e) => `${e.rule || 'rule'}${e.resource ? ` (${e.resource})` : ''}${e.field ? ` · ${e.field}` : ''}: ${e.message}`));
      return;
    }
    if (status === 409) {
      reportConflict(kind, body, detail);
      // The cards below show the rules in force; the editor keeps the text and version it had.
      state.rulesText = '';
      pollers.rules.now();
      return;
    }
    const messages = {
      401: 'Not saved: the token is missing or wrong.',
      405: 'Not saved: this server does not accept rule edits (writes are disabled).',
      413: 'Not saved: the rule set is larger than the server accepts (1 MiB).',
      415: 'Not saved: the server did not take the body as JSON.',
      404: `Not saved: the server does not know the rule kind “${kind}”.`,
      428: 'Not saved: the page is out of date (it sent no rules version): reload the page.',
    };
    showResult('err', messages[status] || `Not saved: the server answered HTTP ${status}.`, detail);
  }

  /** 409: the rules changed since the editor was filled; offer to load the rules in force. */
  function reportConflict(kind, body, detail) {
    const label = kindLabel(kind).toLowerCase();
    // A stale version is answered with the version now in force (`current`); the editor's own
    // check (the file or etcd key holds content not loaded) comes without it.
    const inForceUnchanged = !(body && body.current && body.current !== editor.version);
    const why = inForceUnchanged
      ? 'The rules in force are still the ones this page read, but the stored rules (the file or etcd key) '
        + 'hold content that is not loaded: an edit waiting to be loaded, or one that was rejected '
        + '(see Rule sources). Saving again works once that content is loaded or fixed.'
      : 'The rules in force are not the ones this page read: they were saved from elsewhere, '
        + 'or the file or etcd key was edited and loaded.';
    const load = el('button', 'btn', `Load the ${label} rules in force`);
    load.type = 'button';
    load.addEventListener('click', () => loadInForce(true));
    const actions = el('div', 'result-actions');
    actions.append(load);
    const title = inForceUnchanged
      ? `Not saved: the stored ${label} rules differ from the ones this page read. Nothing was changed.`
      : `Not saved: the ${label} rules changed since this page read them. Nothing was changed.`;
    showResult('err', title, detail, {
      before: [el('p', 'result-text', why)],
      after: [
        el('p', 'result-text', 'Loading the rules in force replaces the text in the editor; yours then stays below it, '
          + 'read-only, to copy from.'),
        actions,
      ],
    });
  }

  /** Replaces the editor's text with the kind's rules in force now (and the version to save against). */
  async function loadInForce(keepMine) {
    if (!editor.kind) return;
    const mine = $('rules-json').value;
    state.rulesText = '';
    try {
      await loadRules();
    } catch (err) {
      showResult('err', `Could not load the rules: ${describeError(err)}`);
      rethrowBug(err);
      return;
    }
    if (!editor.kind) return;
    const label = kindLabel(editor.kind).toLowerCase();
    const edited = keepMine && mine.trim() !== editor.baseText.trim();
    fillEditor();
    if (edited) showMine(mine);
    showResult('ok', `Loaded the ${label} rules in force now.${edited ? ' Your text is below the editor: apply your change again and save.' : ''}`);
  }

  $('rules-edit').addEventListener('click', openEditor);
  $('rules-cancel').addEventListener('click', () => {
    closeEditor();
    $('rules-result').replaceChildren();
  });
  $('rules-reload').addEventListener('click', () => loadInForce(true));
  $('rules-editor').addEventListener('submit', (event) => {
    event.preventDefault();
    saveEditor();
  });
  $('rules-json').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) saveEditor();
  });

  // ---------------------------------------------------------------- start

  renderSortHeaders();
  renderProblems();
  pollers.status.start();
  pollers.resources.start();
  pollers.system.start();
  pollers.rules.start();
  openStream();
  setInterval(tickClock, 1000);
})();
