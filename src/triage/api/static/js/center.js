/* The command center: polls /v1/dashboard/summary (ETag: unchanged data costs a 304) and redraws. */
"use strict";

(() => {
  const { el, replace, duration, time, percent, severity, chart, chartCard, api, poll, clearError } = Triage;
  const REFRESH_SECONDS = 3;
  let known = null; // incident ids seen, to announce new ones

  function layout() {
    const main = document.getElementById("main");
    main.replaceChildren(
      el("h1", {}, "Command center"),
      el("ul", { class: "counts", id: "counts", "aria-label": "Totals" }),
      el("div", { class: "grid center-grid" },
        el("section", { "aria-labelledby": "active-h", class: "stack" },
          el("h2", { id: "active-h" }, "Active incidents"),
          el("div", { id: "incidents", class: "stack" }, el("p", { class: "empty" }, "Loading…"))),
        el("div", { class: "stack" },
          el("section", { class: "card", "aria-labelledby": "oncall-h" },
            el("h2", { id: "oncall-h" }, "On call"), el("div", { id: "oncall" })),
          el("section", { class: "card", "aria-labelledby": "esc-h" },
            el("h2", { id: "esc-h" }, "Escalated alerts"), el("div", { id: "escalations" })),
          el("section", { class: "card", "aria-labelledby": "models-h" },
            el("h2", { id: "models-h" }, "Models in service"), el("div", { id: "models" })))),
      el("p", {}, el("label", { for: "window" }, "Error trends over "),
        el("select", { id: "window", onchange: () => refresh().catch(Triage.showError) },
          [1, 6, 24, 168].map((h) => el("option", { value: h }, h === 168 ? "7 days" : `${h} hour${h > 1 ? "s" : ""}`)))),
      el("div", { class: "grid two" },
        chartCard("trend-services", "Errors per service"),
        chartCard("trend-templates", "Errors per template")),
      el("section", { class: "card", "aria-labelledby": "changes-h" },
        el("h2", { id: "changes-h" }, "Recent changes"), el("div", { id: "changes" })),
    );
  }

  function counts(c) {
    const item = (n, label) => el("li", {}, el("span", { class: "n" }, String(n)), label);
    replace("counts", item(c.open, "open incidents"), item(c.CRITICAL, "critical"), item(c.HIGH, "high"),
      item(c.rtoBreached, "past their RTO"), item(c.openAlerts, "open alerts"), item(c.openChanges, "open changes"));
  }

  function rto(r) {
    const text = `${duration(r.elapsedSeconds)} of ${duration(r.rtoSeconds)} RTO`;
    return el("div", { class: `rto${r.breached ? " breached" : ""}` },
      el("meter", { min: 0, max: 1, low: 0.5, high: 0.8, optimum: 0, value: Math.min(r.used, 1),
                    "aria-label": `Elapsed against the recovery time objective: ${text}` }),
      el("span", {}, r.breached ? `${text} — RTO exceeded` : text));
  }

  function incidentCard(i) {
    const root = i.rootCause;
    return el("article", { class: `card incident-card sev-border-${i.severity}`, "data-incident": i.incidentId },
      el("header", {},
        severity(i.severity),
        el("h3", {}, el("a", { href: `/incidents/${encodeURIComponent(i.incidentId)}` }, i.title)),
        el("span", { class: "muted" }, `${i.status} · ${i.incidentId}`)),
      el("dl", { class: "kv" },
        el("dt", {}, "Services"), el("dd", {}, i.services.map((s) => el("span", { class: "chip" }, s))),
        el("dt", {}, "Root cause"),
        el("dd", {}, root ? [el("strong", {}, root.service), ` — ${root.issue} `,
                             el("span", { class: "muted" }, `(confidence ${percent(root.confidence)})`)] : "not yet ranked"),
        el("dt", {}, "Elapsed"), el("dd", {}, rto(i.rto)),
        el("dt", {}, "Errors"), el("dd", {}, `${i.errorCount} since `, time(i.firstSeen)),
        i.template ? [el("dt", {}, "Template"), el("dd", {}, el("code", {}, i.template))] : null),
      el("div", { class: "grid two" },
        el("div", {}, el("h4", {}, "Suggested fixes"),
          i.suggestedFixes.length ? el("ul", { class: "fixes" }, i.suggestedFixes.map((f) =>
            el("li", {}, f.action, el("span", { class: "muted" }, ` · ${f.estimatedTime} · risk ${f.risk}`))))
            : el("p", { class: "empty" }, "none")),
        el("div", {}, el("h4", {}, `Recovery plan (${i.recoveryPlan.automatic ? "automatic" : "needs approval"})`),
          el("ol", { class: "plan" }, i.recoveryPlan.stages.map((s) => el("li", {}, s.description))))),
      i.actions.length || i.alerts.length || i.changes.length ? el("details", {},
        el("summary", {}, `Recent actions (${i.actions.length}), alerts (${i.alerts.length}), changes (${i.changes.length})`),
        el("ul", {}, i.actions.map((a) => el("li", {}, time(a.at), ` ${a.kind}: ${a.summary}`)),
          i.alerts.map((a) => el("li", {}, `alert ${a.id}: ${a.title} → ${a.team} (${a.state})`)),
          i.changes.map((c) => el("li", {}, `${c.id} ${c.type} change “${c.title}” — ${c.state}`)))) : null,
    );
  }

  function announce(incidents) {
    const ids = new Set(incidents.map((i) => i.incidentId));
    if (known !== null) {
      const fresh = incidents.filter((i) => !known.has(i.incidentId));
      if (fresh.length) {
        document.getElementById("live").textContent =
          `New incident: ${fresh.map((i) => `${i.severity} ${i.title}`).join("; ")}`;
      }
    }
    known = ids;
  }

  function changesTable(changes) {
    if (!changes.length) return el("p", { class: "empty" }, "No change requests yet.");
    return el("table", {},
      el("thead", {}, el("tr", {}, ["Change", "Type", "State", "Title", "Services", "Risk", "Updated"].map((h) =>
        el("th", { scope: "col" }, h)))),
      el("tbody", {}, changes.map((c) => el("tr", {},
        el("td", {}, c.id), el("td", {}, c.type), el("td", {}, c.state), el("td", {}, c.title),
        el("td", {}, c.services.join(", ")), el("td", {}, c.risk === null ? "–" : `${c.risk}/10 ${c.riskLevel}`),
        el("td", {}, time(c.updatedAt))))));
  }

  function onCall(o) {
    return [
      el("p", {}, el("strong", {}, "Primary: "), o.primary.length ? o.primary.join(", ") : "nobody configured (alerting.yaml)"),
      el("p", { class: "muted" }, `Unacknowledged alerts escalate every ${o.escalateAfterMinutes} min: ${o.chain.join(" → ")}`),
      el("details", {}, el("summary", {}, "Routing"),
        el("ul", {}, o.routes.map((r) => el("li", {}, `${r.type.replace("_", " ")} → ${r.team}`)))),
    ];
  }

  function escalations(list) {
    if (!list.length) return el("p", { class: "empty" }, "Nothing escalated.");
    return el("ul", {}, list.map((a) => el("li", {}, severity(a.severity), ` ${a.title} `,
      el("span", { class: "muted" }, `level ${a.escalationLevel} → ${a.escalatedTo.join(", ") || a.team} (${a.state})`))));
  }

  function models(list) {
    if (!list.length) return el("p", { class: "empty" }, "No trained models: classifying with the knowledge pack's rules.");
    return el("table", {}, el("tbody", {}, list.map((m) =>
      el("tr", {}, el("th", { scope: "row" }, m.name), el("td", {}, el("code", {}, m.version))))));
  }

  function trends(t) {
    const format = t.hours > 24 ? { weekday: "short", hour: "2-digit" } : { hour: "2-digit", minute: "2-digit" };
    const labels = t.buckets.map((b) => new Date(b).toLocaleString([], format));
    const sLabel = `Errors per service, ${t.bucketMinutes}-minute buckets over ${t.hours} h`;
    chart(document.getElementById("trend-services"), { type: "line", labels, label: sLabel, yTitle: "errors",
      series: t.services.map((s) => ({ name: s.name, values: s.counts })) });
    chart(document.getElementById("trend-templates"), { type: "bar", stacked: true, labels, yTitle: "errors",
      label: `Errors per template, ${t.bucketMinutes}-minute buckets over ${t.hours} h`,
      series: t.templates.map((s) => ({ name: truncate(s.template, 60), values: s.counts })) });
  }

  function truncate(text, n) { return text.length > n ? `${text.slice(0, n - 1)}…` : text; }

  async function refresh() {
    const hours = document.getElementById("window").value || 1;
    const data = await api(`/v1/dashboard/summary?hours=${hours}`, { etag: true });
    if (data === null) return; // unchanged
    clearError();
    counts(data.counts);
    replace("incidents", data.incidents.length ? data.incidents.map(incidentCard)
      : el("p", { class: "empty", id: "no-incidents" }, "No active incidents."));
    announce(data.incidents);
    replace("oncall", onCall(data.onCall));
    replace("escalations", escalations(data.escalations));
    replace("models", models(data.models));
    replace("changes", changesTable(data.changes));
    trends(data.trends);
  }

  document.addEventListener("DOMContentLoaded", () => { layout(); poll(refresh, REFRESH_SECONDS); });
})();
