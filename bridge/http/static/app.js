// The bridge's status page: built from /api/events (server-sent events), updated in place.
// Every value is written with textContent: nothing a meter or a configuration says is HTML.
"use strict";

const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
const state = { catalogue: {}, meters: new Map(), buses: new Map(), offset: 0, bridge: null, history: null };
const pointsShown = new Set(); // meters whose metering points are open: only theirs are sent
const historyShown = new Set(); // meters whose history is open (a Series 8000's points are sent then)
const rows = new Map(); // meter id -> its elements
const busViews = new Map(); // bus name -> its elements

// -- small helpers --------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "hidden") node.hidden = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function fixed(value, precision) {
  if (value === null || value === undefined) return "–";
  return Number(value).toFixed(precision);
}

function serverNow() {
  return Date.now() / 1000 + state.offset;
}

// Every time the bridge sends is ISO 8601 (UTC); the page works in seconds since the epoch.
function seconds(iso) {
  return iso ? Date.parse(iso) / 1000 : null;
}

function clock(iso) {
  if (!iso) return "–";
  const when = new Date(iso);
  const today = new Date().toDateString() === when.toDateString();
  const time = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return today ? time : `${when.toLocaleDateString()} ${time}`;
}

function age(seconds) {
  if (seconds < 1) return "just now";
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} days ago`;
}

function ms(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  return seconds < 1 ? `${(seconds * 1000).toFixed(seconds < 0.01 ? 1 : 0)} ms` : `${seconds.toFixed(2)} s`;
}

function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "-");
}

// -- the header: health and publishers ------------------------------------------------------

function showBridge(bridge) {
  state.bridge = bridge;
  if (bridge.now) state.offset = seconds(bridge.now) - Date.now() / 1000;
  const faces = Object.values(bridge.faces || {});
  const degraded = faces.some((face) => !face.up);
  const health = document.getElementById("health");
  health.className = `badge ${!bridge.health.ok ? "bad" : degraded ? "warn" : "ok"}`;
  setText(health, !bridge.health.ok ? "unhealthy" : degraded ? "degraded" : "healthy");
  const problems = document.getElementById("problems");
  const lines = [...bridge.health.problems, ...bridge.health.notes];
  problems.hidden = lines.length === 0;
  problems.className = bridge.health.ok ? "problems note" : "problems";
  setText(problems, lines.join("\n"));

  // One entry a face (MQTT, BACnet/IP, ...), before "Live".
  const list = document.getElementById("links");
  const live = document.getElementById("live-entry");
  for (const face of faces) {
    let dd = document.getElementById(`face-${face.key}`);
    if (!dd) {
      dd = el("dd", { id: `face-${face.key}` });
      list.insertBefore(el("div", {}, el("dt", { text: face.title }), dd), live);
    }
    const words = face.up
      ? `${face.summary} since ${clock(face.since)}`
      : `${face.summary}${face.problem ? `: ${face.problem}` : ""} (since ${clock(face.since)})`;
    dd.replaceChildren(el("span", { class: `dot ${face.up ? "ok" : "bad"}` }), words);
  }
}

function showLive(connected, words) {
  const live = document.getElementById("live");
  live.replaceChildren(el("span", { class: `dot ${connected ? "ok" : "warn"}` }), words);
}

// -- a bus ----------------------------------------------------------------------------------

function figure(label, cls) {
  const value = el("dd", { class: cls || "" });
  return [el("div", {}, el("dt", { text: label }), value), value];
}

function busView(bus) {
  let view = busViews.get(bus.name);
  if (view) return view;
  const [rate, rateValue] = figure("Transactions");
  const [trip, tripValue] = figure("Round trip (mean / p99)");
  const [cycle, cycleValue] = figure("Cycle / interval");
  const [errors, errorsValue] = figure("Failed polls");
  const tbody = el("tbody");
  const section = el(
    "section",
    { class: "bus", id: `bus-${slug(bus.name)}`, "data-bus": bus.name },
    el(
      "header",
      {},
      el("h2", { text: bus.name }),
      el("span", { class: "url", text: bus.connect }),
      el("dl", { class: "figures" }, rate, trip, cycle, errors),
    ),
    el(
      "table",
      { class: "meters" },
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          ...["Meter", "Model", "Status", "Readings", "Last poll", "Last error", ""].map((t) =>
            el("th", { text: t }),
          ),
        ),
      ),
      tbody,
    ),
  );
  document.getElementById("buses").append(section);
  view = { section, tbody, rateValue, tripValue, cycleValue, errorsValue };
  busViews.set(bus.name, view);
  return view;
}

function showBus(bus) {
  const known = state.buses.get(bus.name) || {};
  Object.assign(known, bus);
  state.buses.set(bus.name, known);
  const view = busView(known);
  const f = known.figures;
  if (!f) return;
  setText(view.rateValue, f.transactions_per_s === null ? "–" : `${f.transactions_per_s.toFixed(1)}/s`);
  setText(view.tripValue, `${ms(f.round_trip_mean_s)} / ${ms(f.round_trip_p99_s)}`);
  setText(view.cycleValue, `${f.cycle_s === null ? "–" : f.cycle_s.toFixed(2)} s of ${f.poll_interval_s} s`);
  view.cycleValue.classList.toggle("late", f.cycle_s !== null && f.cycle_s > f.poll_interval_s);
  const kinds = Object.entries(f.failed_polls);
  setText(view.errorsValue, kinds.length ? kinds.map(([k, n]) => `${k} ${n}`).join(", ") : "none");
  view.errorsValue.classList.toggle("errors", kinds.length > 0);
}

// -- a meter --------------------------------------------------------------------------------

function readingItem(key) {
  const info = state.catalogue[key] || { name: key, unit: null, precision: 2 };
  const value = el("span", { class: "value" });
  const item = el(
    "li",
    { "data-key": key, class: info.diagnostic ? "diagnostic" : "" },
    el("span", { class: "label", text: info.name }),
    el("span", {}, value, info.unit ? el("span", { class: "unit", text: info.unit }) : null),
  );
  return { item, value, info };
}

function meterRow(meter) {
  let row = rows.get(meter.id);
  if (row) return row;
  const view = busView(state.buses.get(meter.bus) || { name: meter.bus, connect: "" });
  const name = el("div", { class: "name" });
  const unit = el("div", { class: "sub" });
  const model = el("div");
  const firmware = el("div", { class: "sub" });
  const status = el("span", { class: "status waiting" });
  const since = el("div", { class: "sub" });
  const readings = el("ul", { class: "readings" });
  const ageCell = el("td", { class: "age", "data-label": "Last poll" });
  const error = el("div", { class: "clamp", title: "" });
  error.addEventListener("click", () => error.classList.toggle("open"));
  const actions = el("div", { class: "actions" });
  const tr = el(
    "tr",
    { class: "meter", "data-meter": meter.id },
    el("td", { class: "who" }, name, unit),
    el("td", { class: "model", "data-label": "Model" }, model, firmware),
    el("td", { class: "state", "data-label": "Status" }, status, since),
    el("td", { class: "values", "data-label": "Readings" }, readings),
    ageCell,
    el("td", { class: "error", "data-label": "Last error" }, error),
    el("td", { class: "act" }, actions),
  );
  view.tbody.append(tr);
  row = { tr, name, unit, model, firmware, status, since, readings, ageCell, error, actions };
  row.items = new Map();
  row.points = null;
  rows.set(meter.id, row);
  return row;
}

function showStatic(meter, row) {
  setText(row.name, meter.name);
  setText(row.unit, `unit ${meter.unit}`);
  setText(row.model, meter.model ? `${meter.label}, ${meter.model}` : meter.label);
  row.model.classList.toggle("provisional", meter.provisional);
  const versions = meter.hardware_version || meter.software_version
    ? `hardware V${meter.hardware_version || "?"}, software V${meter.software_version || "?"}`
    : "";
  const program = meter.program_id !== null && meter.program_id !== undefined ? `program id ${meter.program_id}` : "";
  setText(row.firmware, [versions, program].filter(Boolean).join(" · "));
  const keys = meter.reading_keys.filter((key) => key in state.catalogue);
  if (keys.join() !== [...row.items.keys()].join()) {
    row.items.clear();
    row.readings.replaceChildren();
    for (const key of keys) {
      const item = readingItem(key);
      row.items.set(key, item);
      row.readings.append(item.item);
    }
  }
  if (meter.can_reset && !row.reset) row.reset = resetControls(meter, row);
  if (!meter.can_reset && row.reset) {
    row.actions.replaceChildren();
    row.reset = null;
  }
  if (meter.point_keys.length && !row.points) row.points = pointsTable(meter, row);
  if (state.history !== null && !row.history) row.history = historyFold(meter, row);
}

function showLiveValues(meter, row) {
  const online = meter.available;
  const never = !meter.read && !online;
  let word = online ? "online" : never ? "waiting" : "offline";
  let cls = word;
  if (online && meter.failures > 0) {
    word = `online (${meter.failures} failed)`;
    cls = "failing";
  }
  row.status.className = `status ${cls}`;
  setText(row.status, never && meter.error ? "unavailable" : word);
  if (never && meter.error) row.status.className = "status offline";
  setText(row.since, meter.since ? `since ${clock(meter.since)}` : "");
  row.tr.dataset.available = String(online);
  for (const [key, item] of row.items) {
    const value = meter.readings ? meter.readings[key] : undefined;
    const known = value !== null && value !== undefined;
    setText(item.value, known ? fixed(value, item.info.precision) : "–");
    item.item.dataset.value = known ? String(value) : "";
    item.item.classList.toggle("unknown", !known);
  }
  if (row.history && row.history.details.open && meter.readings) liveBars(row.history, null, meter.readings);
  setText(row.error, meter.error || "");
  row.error.title = meter.error || "";
  row.error.parentElement.classList.toggle("none", !meter.error);
  showAge(meter, row);
}

function showAge(meter, row) {
  if (!meter.read) {
    setText(row.ageCell, "never");
    return;
  }
  const elapsed = Math.max(0, serverNow() - seconds(meter.read));
  setText(row.ageCell, age(elapsed));
  row.ageCell.title = clock(meter.read);
  const bus = state.buses.get(meter.bus);
  const interval = bus && bus.figures ? bus.figures.poll_interval_s : 10;
  row.ageCell.classList.toggle("stale", elapsed > 3 * interval + 5);
}

// -- Series 8000 points -----------------------------------------------------------------------

function pointsTable(meter, row) {
  const head = el(
    "tr",
    {},
    el("th", { text: "Point" }),
    ...meter.point_keys.map((key) => {
      const info = state.catalogue[key] || { name: key, unit: "" };
      return el("th", { class: "n", text: info.unit ? `${info.name} (${info.unit})` : info.name });
    }),
  );
  const body = el("tbody");
  const summary = el("summary", { text: `${meter.point_count || ""} metering points` });
  const table = el("table", { class: "points" }, el("thead", {}, head), body);
  const details = el("details", {}, summary, el("div", { class: "points-wrap" }, table));
  details.open = pointsShown.has(meter.id);
  details.addEventListener("toggle", () => {
    if (details.open === pointsShown.has(meter.id)) return;
    if (details.open) pointsShown.add(meter.id);
    else pointsShown.delete(meter.id);
    reconnectSoon(); // the stream sends a meter's points only while they are shown
  });
  const tr = el("tr", { class: "points-row", "data-points-of": meter.id }, el("td", { colspan: "7" }, details));
  row.tr.after(tr);
  row.tr.classList.add("has-points");
  return { tr, body, summary, details, cells: new Map(), keys: meter.point_keys };
}

function showPoints(meter, row, data) {
  const points = row.points;
  // data: {"1": {"energy_delivered": 12.3, ...}, ...}, as in the meter's MQTT state
  const numbers = Object.keys(data).sort((a, b) => Number(a) - Number(b));
  setText(points.summary, `${numbers.length} metering points`);
  for (const number of numbers) {
    let cells = points.cells.get(number);
    if (!cells) {
      cells = new Map();
      const tr = el("tr", { "data-point": number }, el("td", { class: "n", text: number }));
      for (const key of points.keys) {
        const td = el("td", { class: "n", "data-key": key });
        cells.set(key, td);
        tr.append(td);
      }
      points.body.append(tr);
      points.cells.set(number, cells);
    }
    const values = data[number];
    for (const [key, td] of cells) {
      const value = values[key];
      const info = state.catalogue[key] || { precision: 2 };
      const known = value !== null && value !== undefined;
      setText(td, known ? fixed(value, info.precision) : "–");
      td.dataset.value = known ? String(value) : "";
    }
  }
}

// -- peak-demand reset: a confirmation step, then the result ----------------------------------

function resetControls(meter, row) {
  const button = el("button", { type: "button", class: "reset", text: "Reset peak demand" });
  const question = el("span", { text: "Reset peak demand now?" });
  const yes = el("button", { type: "button", class: "confirm-reset", text: "Reset" });
  const no = el("button", { type: "button", class: "cancel-reset secondary", text: "Cancel" });
  const confirm = el("div", { class: "confirm", hidden: true }, question, yes, no);
  const result = el("div", { class: "result", role: "status" });
  row.actions.replaceChildren(button, confirm, result);
  button.addEventListener("click", () => {
    button.hidden = true;
    confirm.hidden = false;
    setText(result, "");
    no.focus();
  });
  no.addEventListener("click", () => {
    confirm.hidden = true;
    button.hidden = false;
    button.focus();
  });
  yes.addEventListener("click", async () => {
    yes.disabled = no.disabled = true;
    result.className = "result";
    setText(result, "Resetting…");
    try {
      const answer = await fetch(`/api/meters/${encodeURIComponent(meter.id)}/reset_peak_demand`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken },
        body: JSON.stringify({ confirm: true }),
        credentials: "same-origin",
      });
      const outcome = await answer.json().catch(() => ({ ok: false, error: `HTTP ${answer.status}` }));
      if (outcome.ok) {
        result.className = "result ok";
        const counter = `counter ${outcome.reset_count_before ?? "?"} → ${outcome.reset_count_after ?? "?"}`;
        const peak = `peak ${fixed(outcome.peak_demand_before, 2)} → ${fixed(outcome.peak_demand_after, 2)} kW`;
        setText(result, `${outcome.coalesced ? "Already reset just now" : "Reset"}: ${counter}, ${peak}`);
      } else {
        result.className = "result bad";
        setText(result, `Not reset: ${outcome.error}`);
      }
    } catch (problem) {
      result.className = "result bad";
      setText(result, `Not reset: ${problem}`);
    } finally {
      yes.disabled = no.disabled = false;
      confirm.hidden = true;
      button.hidden = false;
    }
  });
  return { button, confirm, result };
}

// -- history: the last 24 hours (energy bars, power line) and 30 days, drawn as SVG -------------
// No library: a few rects and a polyline. Every bar carries its values as data attributes
// (data-start, data-energy, data-quality), its words as a <title>.

const SVG = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

function historyFold(meter, row) {
  const body = el("div", { class: "charts" }, el("p", { class: "sub", text: "Loading the history…" }));
  const summary = el("summary", { text: "History: the last 24 hours and 30 days" });
  const details = el("details", { class: "history" }, summary, body);
  details.open = historyShown.has(meter.id);
  const view = { id: meter.id, details, body, series: new Map(), loading: null };
  details.addEventListener("toggle", () => {
    if (details.open) {
      historyShown.add(meter.id);
      loadHistory(view);
    } else {
      historyShown.delete(meter.id);
    }
    if (meter.point_keys.length) reconnectSoon(); // a Series 8000's points grow its bars live
  });
  const tr = el("tr", { class: "history-row", "data-history-of": meter.id }, el("td", { colspan: "7" }, details));
  (row.points ? row.points.tr : row.tr).after(tr);
  return view;
}

async function loadHistory(view) {
  if (view.loading) return view.loading;
  const base = `/api/meters/${encodeURIComponent(view.id)}/history`;
  view.loading = (async () => {
    try {
      const [day, month] = await Promise.all(
        [base, `${base}?step=day`].map(async (url) => {
          const answer = await fetch(url, { credentials: "same-origin" });
          const data = await answer.json();
          if (!answer.ok) throw new Error(data.error || `HTTP ${answer.status}`);
          return data;
        }),
      );
      drawHistory(view, day, month);
    } catch (problem) {
      view.body.replaceChildren(el("p", { class: "sub error", text: `The history cannot be shown: ${problem.message}` }));
    } finally {
      view.loading = null;
    }
  })();
  return view.loading;
}

function byPoint(rows) {
  const groups = new Map();
  for (const row of rows) {
    const key = row.point === null ? "" : String(row.point);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(row);
  }
  return groups;
}

function drawHistory(view, day, month) {
  const days = byPoint(month.rows);
  const keys = day.points.map((p) => (p === null ? "" : String(p)));
  if (!keys.length) {
    view.body.replaceChildren(el("p", { class: "sub", text: "Nothing recorded yet." }));
    return;
  }
  const intervals = byPoint(day.rows);
  const figures = [];
  view.series.clear();
  for (const key of keys) {
    const rowsOfDay = intervals.get(key) || [];
    const chart = { rows: rowsOfDay, interval: day.interval_minutes * 60, from: seconds(day.from), to: seconds(day.to) };
    chart.svg = dayChart(chart);
    const figure = el(
      "figure",
      { class: "chart", "data-point": key },
      el("figcaption", { text: key ? `Point ${key}` : "Energy delivered" }),
      chart.svg,
      monthChart(days.get(key) || [], seconds(month.to)),
    );
    chart.figure = figure;
    view.series.set(key, chart);
    figures.push(figure);
  }
  view.body.classList.toggle("single", figures.length === 1);
  view.body.replaceChildren(...figures);
}

function hourMinute(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function dayMonth(iso) {
  return new Date(iso).toLocaleDateString([], { month: "short", day: "numeric" });
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

function barWords(row, unit) {
  const energy = row.energy_delivered === null ? "unknown" : `${fixed(row.energy_delivered, 2)} ${unit}`;
  const power = row.average_power === null ? "" : `, ${fixed(row.average_power, 2)} kW average`;
  return `${energy}${power} (${row.quality})`;
}

const CHART = { width: 640, height: 170, left: 52, right: 52, top: 10, bottom: 22 };

function dayChart(chart) {
  const { rows, interval } = chart;
  const { width, height, left, right, top, bottom } = CHART;
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, class: "day", role: "img" });
  svg.append(svgEl("title", {}, "Energy delivered per interval (bars) and average power (line), last 24 hours"));
  if (!rows.length) return svg;
  // The last 24 hours, whatever is recorded of them; the interval in progress included.
  const first = Math.min(chart.from, seconds(rows[0].start));
  const last = Math.max(chart.to, seconds(rows[rows.length - 1].end));
  const span = Math.max(last - first, interval);
  const energyMax = niceMax(Math.max(...rows.map((r) => r.energy_delivered || 0)));
  const powerMax = niceMax(Math.max(...rows.map((r) => r.average_power || 0)));
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const x = (t) => left + ((t - first) / span) * plotW;
  svg.append(
    svgEl("line", { x1: left, y1: top + plotH, x2: width - right, y2: top + plotH, class: "axis" }),
    svgEl("text", { x: left - 4, y: top + 8, class: "label end" }, `${energyMax} kWh`),
    svgEl("text", { x: width - right + 4, y: top + 8, class: "label power" }, `${powerMax} kW`),
  );
  for (let t = Math.ceil(first / 21600) * 21600; t < last; t += 21600) {
    svg.append(svgEl("text", { x: x(t), y: height - 6, class: "label middle" }, hourMinute(new Date(t * 1000).toISOString())));
  }
  const barW = Math.max(1, (interval / span) * plotW - 1);
  const bars = svgEl("g", { class: "bars" });
  for (const row of rows) {
    const start = seconds(row.start);
    const known = row.energy_delivered !== null;
    const h = known ? Math.max(0, (row.energy_delivered / energyMax) * plotH) : 3;
    const words = row.quality.split("+");
    const cls = ["bar", row.quality === "open" ? "open" : "", known ? "" : "gap", words.includes("estimated") ? "estimated" : ""];
    const rect = svgEl("rect", {
      x: x(start).toFixed(1),
      y: (top + plotH - h).toFixed(1),
      width: barW.toFixed(1),
      height: h.toFixed(1),
      class: cls.filter(Boolean).join(" "),
      "data-start": row.start,
      "data-energy": known ? row.energy_delivered : "",
      "data-quality": row.quality,
    });
    rect.append(svgEl("title", {}, `${hourMinute(row.start)}–${hourMinute(row.end)}: ${barWords(row, "kWh")}`));
    bars.append(rect);
  }
  svg.append(bars);
  const points = rows
    .filter((r) => r.average_power !== null && r.quality !== "open")
    .map((r) => `${(x(seconds(r.start)) + barW / 2).toFixed(1)},${(top + plotH - (r.average_power / powerMax) * plotH).toFixed(1)}`);
  if (points.length) svg.append(svgEl("polyline", { points: points.join(" "), class: "power" }));
  svg.dataset.energyMax = energyMax;
  return svg;
}

function monthChart(rows, to) {
  const { width, left, right, top, bottom } = CHART;
  const height = 120;
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, class: "month", role: "img" });
  svg.append(svgEl("title", {}, "Energy delivered per day, last 30 days"));
  if (!rows.length) return svg;
  const energyMax = niceMax(Math.max(...rows.map((r) => r.energy_delivered || 0)));
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const slot = plotW / 30;
  const firstDay = Math.round(to - 30 * 86400); // local midnights, 30 days back from the end
  svg.append(
    svgEl("line", { x1: left, y1: top + plotH, x2: width - right, y2: top + plotH, class: "axis" }),
    svgEl("text", { x: left - 4, y: top + 8, class: "label end" }, `${energyMax} kWh`),
  );
  for (const row of rows) {
    const index = Math.round((seconds(row.start) - firstDay) / 86400);
    if (index < 0 || index > 29) continue;
    const known = row.energy_delivered !== null;
    const h = known ? (row.energy_delivered / energyMax) * plotH : 3;
    const rect = svgEl("rect", {
      x: (left + index * slot + 1).toFixed(1),
      y: (top + plotH - h).toFixed(1),
      width: Math.max(1, slot - 2).toFixed(1),
      height: h.toFixed(1),
      class: `bar${known ? "" : " gap"}${row.quality.includes("incomplete") ? " partial" : ""}`,
      "data-start": row.start,
      "data-energy": known ? row.energy_delivered : "",
      "data-quality": row.quality,
    });
    rect.append(svgEl("title", {}, `${dayMonth(row.start)}: ${barWords(row, "kWh")}`));
    svg.append(rect);
    if (index % 7 === 0) svg.append(svgEl("text", { x: left + index * slot + slot / 2, y: height - 6, class: "label middle" }, dayMonth(row.start)));
  }
  return svg;
}

// The interval in progress grows as the meter is read: its bar is the total now less the
// total at the interval's start.
function liveBars(view, point, values) {
  const chart = view.series.get(point === null ? "" : String(point));
  if (!chart || !chart.rows.length) return;
  const open = chart.rows[chart.rows.length - 1];
  if (open.quality !== "open" || open.energy_delivered === null || open.delivered_total === null) return;
  const total = values.energy_delivered;
  if (total === null || total === undefined) return;
  const startTotal = open.delivered_total - open.energy_delivered;
  const energy = Math.max(0, total - startTotal);
  if (Math.abs(energy - open.energy_delivered) < 1e-9) return;
  open.energy_delivered = energy;
  open.delivered_total = total;
  const svg = dayChart(chart);
  chart.svg.replaceWith(svg);
  chart.svg = svg;
}

// -- the stream -------------------------------------------------------------------------------

function showMeter(meter) {
  const known = state.meters.get(meter.id) || {};
  Object.assign(known, meter);
  state.meters.set(meter.id, known);
  const row = meterRow(known);
  if ("reading_keys" in meter) showStatic(known, row);
  showLiveValues(known, row);
}

function stamp(now) {
  state.offset = seconds(now) - Date.now() / 1000;
  const updated = document.getElementById("updated");
  setText(updated, clock(now));
  updated.dateTime = now;
}

function showAllPoints(points) {
  for (const [id, data] of Object.entries(points || {})) {
    const row = rows.get(id);
    if (row && row.points) showPoints(state.meters.get(id), row, data);
    if (row && row.history && row.history.details.open) {
      for (const [point, values] of Object.entries(data)) liveBars(row.history, point, values);
    }
  }
}

function historyCycles(cycles) {
  if (cycles === undefined || cycles === state.history) return;
  state.history = cycles;
  for (const row of rows.values()) if (row.history && row.history.details.open) loadHistory(row.history);
}

function snapshot(data) {
  state.catalogue = data.catalogue;
  historyCycles(data.history);
  stamp(data.now);
  const main = document.getElementById("buses");
  if (main.querySelector(".loading")) main.replaceChildren();
  for (const bus of data.buses) showBus(bus);
  for (const meter of data.meters) showMeter(meter);
  showAllPoints(data.points);
  showBridge(data.bridge);
  document.body.dataset.ready = "true";
}

function update(data) {
  stamp(data.now);
  historyCycles(data.history);
  for (const meter of data.identified || []) showMeter(meter);
  for (const meter of data.meters) showMeter(meter);
  showAllPoints(data.points);
  for (const bus of data.buses) showBus(bus);
}

let source = null;
let reconnecting = null;

function reconnectSoon() {
  clearTimeout(reconnecting);
  reconnecting = setTimeout(connect, 250);
}

function connect() {
  if (source) source.close();
  const shown = [...new Set([...pointsShown, ...historyShown])].sort().join(",");
  source = new EventSource(shown ? `/api/events?points=${encodeURIComponent(shown)}` : "/api/events");
  const current = source;
  source.addEventListener("snapshot", (e) => {
    snapshot(JSON.parse(e.data));
    showLive(true, "live");
  });
  source.addEventListener("update", (e) => update(JSON.parse(e.data)));
  source.addEventListener("bridge", (e) => {
    const bridge = JSON.parse(e.data);
    stamp(bridge.now);
    showBridge(bridge);
  });
  source.addEventListener("error", async () => {
    if (current !== source) return; // replaced on purpose
    showLive(false, "reconnecting…");
    if (source.readyState === EventSource.CLOSED) {
      // Refused (e.g. the session ended): the page itself says why.
      const answer = await fetch("/api/status", { credentials: "same-origin" }).catch(() => null);
      if (answer && answer.status === 401) window.location.reload();
      else setTimeout(connect, 3000);
    }
  });
}

function tick() {
  for (const [id, meter] of state.meters) {
    const row = rows.get(id);
    if (row) showAge(meter, row);
  }
}

const logout = document.getElementById("logout");
if (logout) {
  logout.addEventListener("click", async () => {
    await fetch("/logout", { method: "POST", headers: { "X-CSRF-Token": csrfToken }, credentials: "same-origin" });
    window.location.href = "/login";
  });
}

connect();
setInterval(tick, 1000);
