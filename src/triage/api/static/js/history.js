/* Incident history: filters (kept in the URL, so a search can be shared), results, trends, CSV export. */
"use strict";

(() => {
  const { el, replace, time, severity, chart, chartCard, api, clearError, showError } = Triage;
  const PAGE = 25;
  const FIELDS = ["q", "service", "category", "severity", "rootCause", "status", "since", "until"];

  function field(name, label, control) {
    control.id = `f-${name}`;
    control.name = name;
    return el("div", {}, el("label", { for: control.id }, label), control);
  }

  function select(options, anyLabel) {
    return el("select", {}, el("option", { value: "" }, anyLabel), options.map((o) => el("option", { value: o }, o)));
  }

  function layout(facets) {
    const form = el("form", { id: "filters", class: "filters card", role: "search", "aria-label": "Filter incidents" },
      field("q", "Text", el("input", { type: "search", placeholder: "words in title, cause, errors…" })),
      field("service", "Service", select(facets.services, "Any service")),
      field("category", "Category", select(facets.categories, "Any category")),
      field("severity", "Severity", select(facets.severities, "Any severity")),
      field("rootCause", "Root cause", el("input", { type: "text", list: "root-services", placeholder: "service or words" })),
      field("status", "Status", select(facets.statuses, "Any status")),
      field("since", "From", el("input", { type: "date" })),
      field("until", "To", el("input", { type: "date" })),
      el("div", { class: "actions" }, el("button", { type: "submit" }, "Search"),
        el("button", { type: "button", class: "secondary", id: "clear" }, "Clear"),
        el("button", { type: "button", class: "secondary", id: "export" }, "Export CSV")));
    document.getElementById("main").replaceChildren(
      el("h1", {}, "Incident history"),
      form,
      el("datalist", { id: "root-services" }, facets.rootServices.map((s) => el("option", { value: s }))),
      el("section", { class: "card", "aria-labelledby": "mttr-h" }, el("h2", { id: "mttr-h" }, "Time to resolve"),
        el("div", { id: "mttr" })),
      el("div", { class: "grid two" },
        chartCard("weekly-category", "Incidents per category per week"),
        chartCard("weekly-mttr", "Mean time to resolve per week (minutes)")),
      el("section", { class: "card", "aria-labelledby": "results-h" },
        el("h2", { id: "results-h" }, "Incidents"),
        el("p", { id: "result-count", role: "status", "aria-live": "polite" }),
        el("div", { id: "results" }),
        el("div", { class: "pager" },
          el("button", { type: "button", class: "secondary", id: "prev" }, "Previous"),
          el("span", { id: "page-info" }),
          el("button", { type: "button", class: "secondary", id: "next" }, "Next"))));
    form.addEventListener("submit", (event) => { event.preventDefault(); offset = 0; search(true); });
    document.getElementById("clear").addEventListener("click", () => { form.reset(); offset = 0; search(true); });
    document.getElementById("export").addEventListener("click", exportCsv);
    document.getElementById("prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); search(true); });
    document.getElementById("next").addEventListener("click", () => { offset += PAGE; search(true); });
  }

  let offset = 0;
  let latest = 0; // only the newest search may draw (an older answer can arrive after it)

  function params() {
    const form = document.getElementById("filters");
    const p = new URLSearchParams();
    for (const name of FIELDS) {
      const value = form.elements[name].value.trim();
      if (!value) continue;
      if (name === "since") p.set(name, new Date(`${value}T00:00:00Z`).toISOString());
      else if (name === "until") p.set(name, new Date(`${value}T23:59:59Z`).toISOString());
      else p.set(name, value);
    }
    return p;
  }

  function fromUrl() {
    const url = new URLSearchParams(location.search);
    const form = document.getElementById("filters");
    for (const name of FIELDS) {
      if (!url.has(name)) continue;
      const value = url.get(name);
      form.elements[name].value = (name === "since" || name === "until") ? value.slice(0, 10) : value;
    }
    offset = Number(url.get("offset") || 0);
  }

  async function search(pushState) {
    const p = params();
    if (pushState) {
      const shown = new URLSearchParams(p);
      if (offset) shown.set("offset", offset);
      history.replaceState(null, "", `${location.pathname}${shown.toString() ? `?${shown}` : ""}`);
    }
    const mine = ++latest;
    try {
      const page = new URLSearchParams(p); page.set("limit", PAGE); page.set("offset", offset);
      const [found, trend] = await Promise.all([api(`/v1/history/incidents?${page}`), api(`/v1/history/trends?${p}`)]);
      if (mine !== latest) return;
      clearError();
      results(found);
      trends(trend);
    } catch (error) { showError(error); }
  }

  function results(found) {
    const first = found.total ? found.offset + 1 : 0;
    const last = Math.min(found.offset + found.items.length, found.total);
    document.getElementById("result-count").textContent = `${found.total} incident${found.total === 1 ? "" : "s"} match.`;
    document.getElementById("page-info").textContent = found.total ? `${first}–${last} of ${found.total}` : "";
    document.getElementById("prev").disabled = found.offset === 0;
    document.getElementById("next").disabled = last >= found.total;
    if (!found.items.length) { replace("results", el("p", { class: "empty" }, "No incidents match these filters.")); return; }
    replace("results", el("table", { id: "results-table" },
      el("caption", { class: "visually-hidden" }, "Incidents matching the filters, newest first"),
      el("thead", {}, el("tr", {}, ["Incident", "Severity", "Category", "Services", "Root cause", "Status", "Started",
        "Time to resolve", "Fix"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, found.items.map((i) => el("tr", { "data-incident": i.incidentId },
        el("td", {}, el("a", { href: `/incidents/${encodeURIComponent(i.incidentId)}` }, i.title),
          el("div", { class: "muted mono" }, i.incidentId)),
        el("td", {}, severity(i.severity)), el("td", {}, i.category), el("td", {}, i.services.join(", ")),
        el("td", {}, i.rootService ? `${i.rootService}: ${i.rootIssue || ""}` : "–"), el("td", {}, i.status),
        el("td", {}, time(i.firstSeen)),
        el("td", {}, i.minutesToResolve === null ? "–" : `${Math.round(i.minutesToResolve)} min`),
        el("td", {}, i.fix || "–"))))));
  }

  function trends(t) {
    const m = t.mttr;
    const fmt = (x) => (x === null ? "–" : `${Math.round(x)} min`);
    replace("mttr",
      el("ul", { class: "counts" },
        el("li", {}, el("span", { class: "n" }, String(m.incidents)), "incidents"),
        el("li", {}, el("span", { class: "n" }, String(m.resolved)), "resolved"),
        el("li", {}, el("span", { class: "n", id: "mttr-mean" }, fmt(m.meanMinutes)), "mean (MTTR)"),
        el("li", {}, el("span", { class: "n" }, fmt(m.medianMinutes)), "median"),
        el("li", {}, el("span", { class: "n" }, fmt(m.p90Minutes)), "90th percentile")),
      t.mttrByCategory.length ? el("details", {}, el("summary", {}, "By category"),
        el("table", {}, el("thead", {}, el("tr", {}, ["Category", "Incidents", "Resolved", "MTTR", "Median"].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, t.mttrByCategory.map((r) => el("tr", {}, el("td", {}, r.category), el("td", {}, String(r.incidents)),
            el("td", {}, String(r.resolved)), el("td", {}, fmt(r.meanMinutes)), el("td", {}, fmt(r.medianMinutes))))))) : null);
    const weeks = [...new Set(t.weeklyByCategory.map((r) => r.week))];
    const categories = [...new Set(t.weeklyByCategory.map((r) => r.category))];
    const lookup = new Map(t.weeklyByCategory.map((r) => [`${r.week}|${r.category}`, r.incidents]));
    chart(document.getElementById("weekly-category"), { type: "bar", stacked: true, labels: weeks, yTitle: "incidents",
      label: "Incidents per category per week (week starting Monday)",
      series: categories.map((c) => ({ name: c, values: weeks.map((w) => lookup.get(`${w}|${c}`) || 0) })) });
    chart(document.getElementById("weekly-mttr"), { type: "line", labels: t.weeklyMttr.map((r) => r.week), yTitle: "minutes",
      label: "Mean and median minutes to resolve per week",
      series: [{ name: "mean", values: t.weeklyMttr.map((r) => r.meanMinutes) },
               { name: "median", values: t.weeklyMttr.map((r) => r.medianMinutes) }] });
  }

  async function exportCsv() {
    try {
      const response = await api(`/v1/history/incidents.csv?${params()}`, { raw: true });
      const blob = await response.blob();
      const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "")?.[1] || "incidents.csv";
      const link = el("a", { href: URL.createObjectURL(blob), download: name });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    } catch (error) { showError(error); }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    try {
      const facets = await api("/v1/history/facets");
      layout(facets);
      fromUrl();
      search(false);
    } catch (error) { showError(error); }
  });
})();
