// mlpkg dashboard: reads the GET endpoints and /ws/predictions; never sends anything that
// changes the service (no token, no POST/DELETE). No build step: plain ES2020.
"use strict";
(() => {
  const LWC = window.LightweightCharts;
  const COLORS = { pending: "#8a8f98", correct: "#26a69a", wrong: "#ef5350", ood: "#f0a020" };
  const REFRESH_MS = 250;       // coalesce chart refreshes after WebSocket messages
  const POLL_MS = 5000;         // queue, health, status, challenger while connected
  const RETRY_MS = [500, 1000, 2000, 4000, 5000];
  const TABLE_ROWS = 20;
  const LABELLED = 6;           // markers of the latest predictions carry their P(up)
  const VISIBLE = 90;           // candles in view when a pair is first drawn

  const view = {
    pair: null, pairs: [], counts: {}, predictions: new Map(), charts: null,
    ws: null, retries: 0, wasOpen: false, refreshTimer: null, refreshing: false,
    walkForward: null, received: 0, reconnects: 0, receivedAt: {}, drawnAt: {},
  };
  window.mlpkgDashboard = view;  // read by the browser tests (what was drawn, when)

  // ---- small DOM helpers (text only: no innerHTML with data) ----
  const $ = (id) => document.getElementById(id);
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === "class") node.className = v; else if (k.startsWith("data-")) node.setAttribute(k, v);
      else node[k] = v;
    }
    for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
    return node;
  }
  const pct = (x, d = 1) => (x === null || x === undefined ? "–" : (100 * x).toFixed(d) + " %");
  const num = (x, d = 3) => (x === null || x === undefined ? "–" : Number(x).toFixed(d));
  const secs = (iso) => Math.floor(Date.parse(iso) / 1000);
  const short = (iso) => (iso ? iso.slice(0, 16).replace("T", " ") + "Z" : "–");
  function outcome(p) {
    if (p.realisedDirection === null || p.realisedDirection === undefined) return "pending";
    return p.realisedDirection === p.direction ? "correct" : "wrong";
  }
  async function getJson(path) {
    const response = await fetch(path, { headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => ({}));
    return { ok: response.ok, status: response.status, body };
  }
  function banner(text) { const b = $("banner"); b.hidden = !text; b.textContent = text || ""; }

  // ---- charts ----
  function makeCharts() {
    const layout = { background: { color: "#161c24" }, textColor: "#aeb8c4" };
    const grid = { vertLines: { color: "#1f2731" }, horzLines: { color: "#1f2731" } };
    const timeScale = { timeVisible: true, secondsVisible: false };
    const candles = LWC.createChart($("candles"), { layout, grid, timeScale, autoSize: true });
    const candleSeries = candles.addSeries(LWC.CandlestickSeries, {
      upColor: "#26a69a", downColor: "#ef5350", borderVisible: false,
      wickUpColor: "#26a69a", wickDownColor: "#ef5350",
    });
    const markers = LWC.createSeriesMarkers(candleSeries, []);
    const accuracy = LWC.createChart($("accuracy"), { layout, grid, timeScale, autoSize: true });
    const line = (color, style) => accuracy.addSeries(LWC.LineSeries, {
      color, lineWidth: style ? 1 : 2, lineStyle: style || 0,
      priceFormat: { type: "custom", minMove: 0.001, formatter: (v) => pct(v, 0) },
      lastValueVisible: !style, priceLineVisible: false,
    });
    const acc = line("#4e9cff");
    acc.applyOptions({ autoscaleInfoProvider: () => ({ priceRange: { minValue: 0, maxValue: 1 } }) });
    return {
      candles, candleSeries, markers, accuracy, acc,
      low: line("#4e9cff", 2), high: line("#4e9cff", 2), up: line("#b0b0b0", 1),
      wfLine: null,
    };
  }

  function predictionMarkers(predictions) {
    const marks = [];
    const labelled = new Set(predictions.slice(-LABELLED).map((p) => p.id));
    for (const p of predictions) {
      const state = outcome(p);
      const up = p.direction === "up";
      const sign = state === "correct" ? " ✓" : state === "wrong" ? " ✗" : "";
      marks.push({
        time: secs(p.candleTime), position: up ? "belowBar" : "aboveBar",
        shape: up ? "arrowUp" : "arrowDown", color: COLORS[state],
        text: labelled.has(p.id) ? p.probability.toFixed(2) + sign : sign.trim(), id: "p" + p.id,
      });
      if (p.ood) marks.push({ time: secs(p.candleTime), position: "inBar", shape: "circle",
        color: COLORS.ood, size: 0.6, id: "o" + p.id });
    }
    return marks.sort((a, b) => a.time - b.time);
  }

  function drawCandles(body) {
    const c = view.charts;
    const rows = body.candles.map((k) => ({ time: secs(k.time), open: k.open, high: k.high,
      low: k.low, close: k.close }));
    c.candleSeries.setData(rows);
    if (view.zoomedPair !== body.pair && rows.length) {  // once per pair: the latest candles
      c.candles.timeScale().setVisibleLogicalRange({ from: rows.length - VISIBLE, to: rows.length + 2 });
      view.zoomedPair = body.pair;
    }
    const first = rows.length ? rows[0].time : Infinity;
    const last = rows.length ? rows[rows.length - 1].time : -Infinity;
    const drawn = (p) => secs(p.candleTime) >= first && secs(p.candleTime) <= last;
    const shown = [...view.predictions.values()].filter(drawn)
      .sort((a, b) => Date.parse(a.candleTime) - Date.parse(b.candleTime));
    const marks = predictionMarkers(shown);
    c.markers.setMarkers(marks);
    const box = $("candles");
    box.dataset.markers = String(shown.length);
    box.dataset.settled = String(shown.filter((p) => outcome(p) !== "pending").length);
    box.dataset.ids = shown.map((p) => p.id).join(" ");
    const now = performance.now();
    for (const p of shown) if (!(p.id in view.drawnAt)) view.drawnAt[p.id] = now;
    box.dataset.lastCandle = rows.length ? body.candles[body.candles.length - 1].time : "";
  }

  function drawAccuracy(points) {
    const c = view.charts;
    const t = (p) => secs(p.time);
    c.acc.setData(points.map((p) => ({ time: t(p), value: p.accuracy })));
    c.low.setData(points.map((p) => ({ time: t(p), value: p.ci95[0] })));
    c.high.setData(points.map((p) => ({ time: t(p), value: p.ci95[1] })));
    c.up.setData(points.map((p) => ({ time: t(p), value: p.upRate })));
    if (c.wfLine) { c.acc.removePriceLine(c.wfLine); c.wfLine = null; }
    if (view.walkForward !== null && view.walkForward !== undefined) {
      c.wfLine = c.acc.createPriceLine({ price: view.walkForward, color: "#c792ea",
        lineWidth: 1, lineStyle: 1, axisLabelVisible: true, title: "walk-forward" });
    }
    $("accuracy").dataset.points = String(points.length);
    const last = points[points.length - 1];
    $("accuracy-now").textContent = last
      ? `after ${last.nRealised} settled: ${pct(last.accuracy)} ` +
        `(95 % ${pct(last.ci95[0])} – ${pct(last.ci95[1])}), always-up ${pct(last.upRate)}, ` +
        `walk-forward ${pct(view.walkForward)}`
      : "no settled prediction of the served version yet";
  }

  // ---- panels ----
  function drawTable() {
    const rows = [...view.predictions.values()]
      .sort((a, b) => Date.parse(b.candleTime) - Date.parse(a.candleTime) || b.id - a.id)
      .slice(0, TABLE_ROWS);
    const body = $("predictions").tBodies[0];
    body.replaceChildren(...rows.map((p) => {
      const state = outcome(p);
      const result = state === "pending" ? "pending"
        : `${state === "correct" ? "right" : "wrong"} (went ${p.realisedDirection})`;
      return el("tr", { "data-prediction-id": p.id, "data-outcome": state },
        el("td", {}, short(p.candleTime)), el("td", {}, p.modelVersion ?? "–"),
        el("td", {}, p.probability.toFixed(3)), el("td", {}, p.direction),
        el("td", {}, p.signal), el("td", { class: "outcome" }, result),
        el("td", {}, p.ood ? "yes" : p.ood === false ? "no" : "–"));
    }));
  }

  function drawModel(status) {
    const served = status.served || {};
    const loaded = status.loaded || {};
    const live = status.liveAccuracyLoadedVersion || {};
    const items = [
      ["version", loaded.version ? `${loaded.version} (alias ${loaded.alias})` : "none loaded"],
      ["holds", loaded.candidate || "–"], ["runtime", loaded.runtime || "–"],
      ["decision", served.decision || "–"], ["reason", served.reason || loaded.error || "–"],
      ["live accuracy", live.nRealised
        ? `${pct(live.accuracy)} over ${live.nRealised} (95 % ${pct(live.ci95?.[0])} – ` +
          `${pct(live.ci95?.[1])})` : "nothing settled yet"],
      ["walk-forward", pct(live.walkForwardAccuracy)], ["always-up", pct(live.upRate)],
      ["pending", live.nPending ?? "–"],
    ];
    $("model").replaceChildren(...items.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    $("model").dataset.version = loaded.version || "";
    $("version").textContent = loaded.version ? `version ${loaded.version}` : "";
  }

  function drawDrift(drift) {
    const box = $("drift");
    const oods = [...view.predictions.values()].filter((p) => p.ood);
    const oodLine = el("p", {}, `out of distribution: ${oods.length} of ${view.predictions.size} ` +
      "predictions shown");
    if (!drift) {
      box.replaceChildren(el("p", { class: "muted" }, "no drift check yet (the live loop runs it " +
        "on each new candle)"), oodLine);
      box.dataset.alert = "";
      return;
    }
    const flagged = drift.flagged || [];
    const rows = flagged.map((f) => el("tr", { "data-feature": f }, el("td", {}, f),
      el("td", {}, num(drift.psi[f])), el("td", {}, num(drift.noiseFloor?.[f]))));
    box.replaceChildren(
      el("p", { class: drift.alert ? "alert" : "ok" }, drift.alert ? "ALERT" : "no alert",
        ` · PSI max ${num(drift.psiMax)} over ${drift.window} candles (threshold ` +
        `${drift.threshold}) · ${flagged.length} flagged`),
      flagged.length ? el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "feature"),
        el("th", {}, "PSI"), el("th", {}, "noise floor"))), el("tbody", {}, ...rows))
        : el("p", { class: "muted" }, "no feature above its threshold and noise floor"),
      el("p", {}, `recent accuracy ${pct(drift.accuracyRecent)} over ${drift.accuracySettled} ` +
        `(floor ${pct(drift.accuracyFloor)})` + (drift.accuracyAlert ? " · ACCURACY ALERT" : "")),
      oodLine);
    box.dataset.alert = String(drift.alert);
  }

  // The challenger's evidence comes with the status (``challenge``): no request that answers 404
  // when a pair has no challenger (a 404 is a console error in the browser).
  const challengerOf = (status) => (status.ok && status.body.challenge
    ? { ok: true, status: 200, body: status.body.challenge } : { ok: false, status: 404, body: {} });

  function drawChallenger(result) {
    const box = $("challenger");
    if (!result.ok) {
      box.dataset.state = "none";
      box.replaceChildren(el("span", { class: "muted" }, result.status === 404 || !result.status
        ? "no challenger" : `challenger unavailable (${result.status})`));
      return;
    }
    const c = result.body;
    box.dataset.state = c.state || "shown";
    const headline = c.version === undefined ? [] : [
      el("p", { class: c.state === "rejected" ? "alert" : c.state === "promoted" ? "ok" : "" },
        `version ${c.version} vs ${c.reference ?? "the champion"}: ${c.state ?? "?"}`),
      el("p", {}, `mean log-loss difference ${num(c.meanDiff, 4)} ` +
        `[${num(c.lower, 4)}, ${num(c.upper, 4)}] (negative: the challenger is better) · ` +
        `e-value ${num(c.eValue, 2)} of ${num(c.threshold, 1)} · ${c.n ?? "–"} settled candles`),
      el("p", { class: "muted" }, c.reason ?? "")];
    const scalars = Object.entries(result.body).filter(([k, v]) =>
      k !== "timestamp" && k !== "pair" && (v === null || typeof v !== "object"));
    const nested = Object.entries(result.body).filter(([, v]) => v && typeof v === "object");
    box.replaceChildren(...headline,
      el("dl", {}, ...scalars.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, fmt(v))])),
      ...nested.map(([k, v]) => el("details", {}, el("summary", {}, k),
        el("pre", {}, JSON.stringify(v, null, 1)))));
  }
  const fmt = (v) => (typeof v === "number" && !Number.isInteger(v) ? v.toPrecision(4) : String(v));

  function drawQueue(q) {
    const job = (j) => `${j.pair} · ${j.trigger} · ${j.status}` + (j.modelVersion
      ? ` → v${j.modelVersion}${j.promoted ? " (promoted)" : ""}` : "");
    const list = (items, f) => items.length ? el("ul", {}, ...items.map((i) => el("li", {}, f(i))))
      : el("p", { class: "muted" }, "none");
    $("queue").replaceChildren(
      el("p", {}, `worker ${q.workerAlive ? "alive" : "DOWN"} · running: `,
        q.running ? `${job(q.running)} — ${q.runningStage || ""}` : "nothing"),
      el("h3", {}, `queued (${q.queued.length})`), list(q.queued, (j) => `${j.position}. ${job(j)}`),
      el("h3", {}, "recent"), list(q.recent.slice(0, 5), job),
      el("p", { class: "muted" }, `periodic: ${q.periodic.enabled ? "every " +
        q.periodic.everySeconds + " s" : "off"}` + (q.cooldowns.length ? " · cooldowns: " +
        q.cooldowns.map((c) => `${c.pair} ${Math.round(c.remainingSeconds)} s`).join(", ") : "")));
    $("queue").dataset.queued = String(q.queued.length);
  }

  function drawPairs() {
    $("pairs").replaceChildren(...view.pairs.map((p) => {
      const b = el("button", { type: "button", "data-pair": p }, p,
        el("span", { class: "count" }, view.counts[p] ? `+${view.counts[p]}` : ""));
      b.setAttribute("aria-current", String(p === view.pair));
      b.addEventListener("click", () => { location.hash = p; });
      return b;
    }));
  }

  // ---- loading ----
  async function loadPair() {
    const pair = view.pair;
    const [data, status] = await Promise.all([
      getJson(`/api/dashboard/${pair}?limit=200`), getJson(`/api/models/${pair}/status`)]);
    if (pair !== view.pair) return;
    if (status.ok) {
      view.walkForward = status.body.liveAccuracyLoadedVersion?.walkForwardAccuracy ?? null;
      drawModel(status.body);
    }
    if (!data.ok) {
      banner(`${pair}: ${data.body.message || "no data (" + data.status + ")"}`);
      return;
    }
    banner(status.ok ? "" : `${pair}: ${status.body.message || status.status}`);
    view.predictions = new Map(data.body.predictions.map((p) => [p.id, p]));
    drawCandles(data.body);
    drawAccuracy(data.body.accuracy);
    drawTable();
    drawDrift(status.ok ? status.body.drift : null);
    drawChallenger(challengerOf(status));
  }

  async function refresh() {
    if (view.refreshing) { scheduleRefresh(); return; }
    view.refreshing = true;
    try { await loadPair(); } catch (err) { console.warn("refresh failed", err); }
    finally { view.refreshing = false; }
  }
  function scheduleRefresh() {
    clearTimeout(view.refreshTimer);
    view.refreshTimer = setTimeout(refresh, REFRESH_MS);
  }

  async function poll() {
    if (!view.ws || view.ws.readyState !== WebSocket.OPEN) return;  // no fetch storms while down
    try {
      const [queue, health] = await Promise.all([getJson("/api/train/queue"),
        getJson("/api/health")]);
      if (queue.ok) drawQueue(queue.body);
      if (health.ok && health.body.live) $("clock").textContent = short(health.body.live.now);
      await refresh();
    } catch (err) { console.warn("poll failed", err); }
  }

  // ---- the WebSocket ----
  function setConn(state, text) { const c = $("conn"); c.dataset.state = state; c.textContent = text; }

  function onMessage(event) {
    const msg = JSON.parse(event.data);
    if (msg.type === "prediction") {
      view.received += 1;
      view.counts[msg.pair] = (view.counts[msg.pair] || 0) + 1;
      $("clock").textContent = short(msg.clock);
      if (msg.pair === view.pair) {
        view.predictions.set(msg.prediction.id, msg.prediction);
        for (const s of msg.settled) view.predictions.set(s.id, s);
        view.lastPushed = msg.prediction.id;
        view.receivedAt[msg.prediction.id] ??= performance.now();
        drawTable();
        drawDrift(msg.drift);
        scheduleRefresh();  // candles, markers and the accuracy curve from the API
      } else drawPairs();
    } else if (msg.type === "challenge" && msg.pair === view.pair) {
      if (msg.challenge) drawChallenger({ ok: true, status: 200, body: msg.challenge });
      else scheduleRefresh();
    } else if (msg.type === "dropped") scheduleRefresh();
  }

  function connect() {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/predictions`;
    const ws = new WebSocket(url);
    view.ws = ws;
    ws.onopen = () => {
      setConn("live", "live");
      if (view.wasOpen) refresh();  // catch up what was missed while disconnected
      view.wasOpen = true; view.retries = 0; view.reconnects += 1;
    };
    ws.onmessage = onMessage;
    ws.onclose = () => {
      const wait = RETRY_MS[Math.min(view.retries, RETRY_MS.length - 1)];
      view.retries += 1;
      setConn("disconnected", `disconnected — reconnecting in ${(wait / 1000).toFixed(1)} s`);
      setTimeout(() => { setConn("reconnecting", "reconnecting…"); connect(); }, wait);
    };
  }

  async function start() {
    makeChartsOnce();
    const health = await getJson("/api/health");
    view.pairs = Object.keys(health.body.models || {});
    const loaded = view.pairs.filter((p) => health.body.models[p].loaded);
    const wanted = location.hash.slice(1).toUpperCase();
    view.pair = view.pairs.includes(wanted) ? wanted : loaded[0] || view.pairs[0];
    if (health.body.live) $("clock").textContent = short(health.body.live.now);
    drawPairs();
    window.addEventListener("hashchange", () => {
      const p = location.hash.slice(1).toUpperCase();
      if (view.pairs.includes(p)) { view.pair = p; view.counts[p] = 0; drawPairs(); refresh(); }
    });
    const queue = await getJson("/api/train/queue");
    if (queue.ok) drawQueue(queue.body);
    await refresh();
    connect();
    setInterval(poll, POLL_MS);
    document.body.dataset.ready = "true";
  }
  function makeChartsOnce() { if (!view.charts) view.charts = makeCharts(); }

  start().catch((err) => { banner("The dashboard could not start: " + err); console.warn(err); });
})();
