/* What every keyed page shares: the API key (sessionStorage, sent as a Bearer header), fetch with ETags,
   polling that pauses in hidden tabs, a safe DOM builder (text only, never innerHTML with data), time
   formatting, and accessible Chart.js charts (HTML legend with toggle buttons, data table, theme colours). */
"use strict";

const Triage = (() => {
  const KEY = "triage.key";
  let keyWaiters = [];

  // --- the key ------------------------------------------------------------------------------------------
  function key() { return sessionStorage.getItem(KEY); }

  function askForKey(message) {
    const dialog = document.getElementById("key-dialog");
    const error = document.getElementById("key-error");
    error.textContent = message || "";
    if (!dialog.open) dialog.showModal();
    document.getElementById("key-input").focus();
    return new Promise((resolve) => keyWaiters.push(resolve));
  }

  function setupKeyDialog() {
    const dialog = document.getElementById("key-dialog");
    const form = document.getElementById("key-form");
    const input = document.getElementById("key-input");
    const signOut = document.getElementById("sign-out");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = input.value.trim();
      if (!value) return;
      sessionStorage.setItem(KEY, value);
      input.value = "";
      dialog.close();
      signOut.hidden = false;
      const waiting = keyWaiters; keyWaiters = [];
      waiting.forEach((resolve) => resolve(value));
    });
    dialog.addEventListener("cancel", (event) => event.preventDefault()); // the page needs a key
    signOut.hidden = !key();
    signOut.addEventListener("click", () => { sessionStorage.removeItem(KEY); location.reload(); });
  }

  // --- requests -------------------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, detail) { super(detail); this.status = status; }
  }

  const etags = new Map();

  /* GET (or other) with the key; asks for a key on 401. With {etag: true} returns null when unchanged. */
  async function api(path, { etag = false, method = "GET", body, raw = false } = {}) {
    for (let attempt = 0; attempt < 5; attempt++) {
      let secret = key();
      if (!secret) secret = await askForKey();
      const headers = { Authorization: `Bearer ${secret}`, Accept: raw ? "*/*" : "application/json" };
      if (etag && etags.has(path)) headers["If-None-Match"] = etags.get(path).tag;
      if (body !== undefined) headers["Content-Type"] = "application/json";
      const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                                           cache: "no-store" });
      if (response.status === 401) {
        sessionStorage.removeItem(KEY);
        await askForKey("That key was not accepted (missing, mistyped or revoked). Try another.");
        continue;
      }
      if (response.status === 304 && etag) return null;
      if (!response.ok) {
        let detail = response.statusText;
        try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
        throw new ApiError(response.status, detail);
      }
      if (raw) return response;
      const data = await response.json();
      if (etag && response.headers.get("ETag")) etags.set(path, { tag: response.headers.get("ETag") });
      return data;
    }
    throw new ApiError(401, "no usable key");
  }

  /* Run `task` now and every `seconds` while the tab is visible; again at once when it becomes visible. */
  function poll(task, seconds) {
    let timer = null;
    const live = document.getElementById("live");
    async function run() {
      clearTimeout(timer);
      try {
        await task();
        if (live) live.textContent = `Live · updated ${new Date().toLocaleTimeString()}`;
        live && live.classList.remove("stale");
      } catch (error) {
        showError(error);
      }
      if (document.visibilityState === "visible") timer = setTimeout(run, seconds * 1000);
    }
    document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") run(); });
    run();
  }

  function showError(error) {
    const main = document.getElementById("main");
    let box = document.getElementById("page-error");
    if (!box) {
      box = el("div", { id: "page-error", class: "error-box", role: "alert" });
      main.prepend(box);
    }
    if (error instanceof ApiError && error.status === 403) {
      box.textContent = `This key may not read this page: ${error.message}. Use “Forget key” to enter another.`;
    } else {
      box.textContent = `Could not load data: ${error.message}`;
    }
  }

  function clearError() {
    const box = document.getElementById("page-error");
    if (box) box.remove();
  }

  // --- DOM ------------------------------------------------------------------------------------------------
  /* el("a", {href: "/x", class: "y"}, "text", child...) — children are text or nodes; never parsed as HTML. */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function replace(id, ...children) {
    const node = document.getElementById(id);
    node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined));
    return node;
  }

  // --- formatting -----------------------------------------------------------------------------------------
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const s = Math.max(0, Math.round(seconds));
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return `${d}d ${h}h`;
    if (h) return `${h}h ${m}m`;
    if (m) return `${m}m`;
    return `${s}s`;
  }

  function time(iso) {
    if (!iso) return "–";
    const t = new Date(iso);
    return el("time", { datetime: iso, title: t.toISOString() }, t.toLocaleString());
  }

  function percent(x) { return x === null || x === undefined ? "–" : `${Math.round(x * 100)}%`; }

  function severity(sev) { return el("span", { class: `badge sev-${sev}` }, sev); }

  // --- charts -----------------------------------------------------------------------------------------------
  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
  function palette() { return [1, 2, 3, 4, 5, 6, 7, 8].map((i) => css(`--series-${i}`)); }

  const charts = new Map();

  /* An accessible chart in `box` (a .chart-card element): canvas with role=img and a summary label,
     a legend of toggle buttons (keyboard operable), and the numbers as a table under <details>. */
  function chart(box, { type, labels, series, label, stacked = false, yTitle = "" }) {
    if (typeof Chart === "undefined") {
      box.querySelector(".chart-box")?.replaceChildren(el("p", { class: "empty" },
        "Charts are unavailable (chart library not installed); the data table below has the numbers."));
    }
    const colors = palette();
    const datasets = series.map((s, i) => ({
      label: s.name, data: s.values, borderColor: colors[i % colors.length],
      backgroundColor: colors[i % colors.length], borderWidth: 2, pointRadius: type === "line" ? 2 : 0,
      tension: 0.25, fill: false,
    }));
    const total = series.reduce((sum, s) => sum + s.values.reduce((a, b) => a + (b || 0), 0), 0);
    const canvas = box.querySelector("canvas");
    if (canvas) {
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label",
        `${label}: ${series.length} series over ${labels.length} points, total ${Math.round(total * 100) / 100}. ` +
        "The data table below lists the values.");
    }
    let instance = charts.get(box);
    if (typeof Chart !== "undefined" && canvas) {
      const grid = css("--chart-grid"), fg = css("--fg"), muted = css("--muted");
      const options = {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { display: false }, tooltip: { enabled: true } },
        scales: {
          x: { stacked, ticks: { color: muted, maxRotation: 0, autoSkip: true, maxTicksLimit: 8 }, grid: { color: grid } },
          y: { stacked, beginAtZero: true, ticks: { color: muted, precision: 0 }, grid: { color: grid },
               title: { display: !!yTitle, text: yTitle, color: fg } },
        },
      };
      if (instance) {
        const hidden = new Set(instance.data.datasets.filter((d, i) => !instance.isDatasetVisible(i)).map((d) => d.label));
        instance.data.labels = labels;
        instance.data.datasets = datasets;
        datasets.forEach((d) => { d.hidden = hidden.has(d.label); });
        instance.options = options;
        instance.update();
      } else {
        instance = new Chart(canvas, { type, data: { labels, datasets }, options });
        charts.set(box, instance);
      }
    }
    legend(box, series, colors, instance);
    table(box, labels, series, label);
  }

  function legend(box, series, colors, instance) {
    const list = box.querySelector(".chart-legend");
    if (!list) return;
    list.replaceChildren(...series.map((s, i) => {
      const visible = instance ? instance.isDatasetVisible(i) : true;
      const button = el("button", { type: "button", "aria-pressed": String(visible),
                                    title: `Show or hide ${s.name}` },
        el("span", { class: "swatch", "aria-hidden": "true" }), s.name);
      button.querySelector(".swatch").style.background = colors[i % colors.length];
      button.addEventListener("click", () => {
        if (!instance) return;
        const now = !instance.isDatasetVisible(i);
        instance.setDatasetVisibility(i, now);
        instance.update();
        button.setAttribute("aria-pressed", String(now));
      });
      return el("li", {}, button);
    }));
  }

  function table(box, labels, series, label) {
    const holder = box.querySelector(".chart-data");
    if (!holder) return;
    const open = holder.querySelector("details")?.open || false;
    const rows = labels.map((l, i) => el("tr", {}, el("th", { scope: "row" }, l),
      ...series.map((s) => el("td", {}, s.values[i] === null ? "–" : String(s.values[i])))));
    holder.replaceChildren(el("details", { open },
      el("summary", {}, `Data table: ${label}`),
      el("table", {}, el("thead", {}, el("tr", {}, el("th", { scope: "col" }, ""),
        ...series.map((s) => el("th", { scope: "col" }, s.name)))), el("tbody", {}, rows))));
  }

  function rethemeCharts() {
    for (const [box, instance] of charts) {
      const colors = palette();
      instance.data.datasets.forEach((d, i) => { d.borderColor = colors[i % colors.length]; d.backgroundColor = colors[i % colors.length]; });
      for (const axis of ["x", "y"]) {
        instance.options.scales[axis].ticks.color = css("--muted");
        instance.options.scales[axis].grid.color = css("--chart-grid");
      }
      instance.update();
      box.querySelectorAll(".chart-legend .swatch").forEach((s, i) => { s.style.background = colors[i % colors.length]; });
    }
  }

  function chartCard(id, title) {
    return el("section", { class: "card chart-card", id, "aria-labelledby": `${id}-h` },
      el("h2", { id: `${id}-h` }, title),
      el("div", { class: "chart-box" }, el("canvas", {})),
      el("ul", { class: "chart-legend", "aria-label": `${title}: series` }),
      el("div", { class: "chart-data" }));
  }

  document.addEventListener("DOMContentLoaded", () => {
    setupKeyDialog();
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", rethemeCharts);
  });

  return { api, poll, el, replace, duration, time, percent, severity, chart, chartCard, showError, clearError, key,
           ApiError };
})();
