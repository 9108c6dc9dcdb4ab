/* One incident: timeline, evidence, related incidents, alerts, changes, recovery plan, post-incident review. */
"use strict";

(() => {
  const { el, replace, duration, time, percent, severity, api, poll, clearError } = Triage;
  const id = decodeURIComponent(location.pathname.split("/").pop());

  function layout() {
    document.getElementById("main").replaceChildren(
      el("p", {}, el("a", { href: "/" }, "← Command center")),
      el("div", { id: "head" }, el("h1", {}, `Incident ${id}`)),
      el("div", { class: "grid center-grid" },
        el("div", { class: "stack" },
          section("evidence", "Root cause and evidence"),
          section("timeline", "Timeline"),
          section("review", "Post-incident review")),
        el("div", { class: "stack" },
          section("plan", "Recovery"),
          section("related", "Related incidents"),
          section("alerts", "Alerts"),
          section("changes", "Changes"))));
  }

  function section(name, title) {
    return el("section", { class: "card", "aria-labelledby": `${name}-h` },
      el("h2", { id: `${name}-h` }, title), el("div", { id: name }, el("p", { class: "empty" }, "Loading…")));
  }

  function head(d) {
    const i = d.incident;
    const r = d.rto;
    document.title = `${i.title} · triage`;
    replace("head",
      el("h1", {}, severity(i.severity), " ", i.title),
      el("p", { class: "muted" }, `${i.incidentId} · ${i.status} · ${i.category} · ${i.errorCount} errors · `,
        "first seen ", time(i.firstSeen), i.resolvedAt ? [" · resolved ", time(i.resolvedAt)] : null),
      el("p", {}, i.services.map((s) => el("span", { class: "chip" }, s))),
      el("div", { class: `rto${r.breached ? " breached" : ""}` },
        el("meter", { min: 0, max: 1, low: 0.5, high: 0.8, optimum: 0, value: Math.min(r.used, 1),
                      "aria-label": "Elapsed against the recovery time objective" }),
        el("span", {}, `${duration(r.elapsedSeconds)} of ${duration(r.rtoSeconds)} RTO${r.breached ? " — exceeded" : ""}`)));
  }

  function evidence(d) {
    const e = d.evidence;
    const ev = e.evidence || {};
    const root = e.rootCause;
    const scores = Object.entries(ev.modelScores || {});
    return [
      root ? el("p", {}, el("strong", {}, root.service), ` — ${root.issue} `,
                el("span", { class: "muted" }, `(confidence ${percent(root.confidence)})`)) : el("p", { class: "empty" }, "No diagnosis yet."),
      ev.knownPattern ? el("p", {}, "Known pattern: ", el("code", {}, ev.knownPattern)) : null,
      ev.template ? el("p", {}, "Latest template: ", el("code", {}, ev.template)) : null,
      ev.notes && ev.notes.length ? el("ul", {}, ev.notes.map((n) => el("li", {}, n))) : null,
      scores.length ? el("details", {}, el("summary", {}, "Model scores"),
        el("table", {}, el("tbody", {}, scores.map(([k, v]) =>
          el("tr", {}, el("th", { scope: "row" }, k), el("td", {}, el("code", {}, typeof v === "object" ? JSON.stringify(v) : String(v)))))))) : null,
      e.templates.length ? [el("h3", {}, `Error templates (${d.diagnoses} diagnoses)`),
        el("table", {}, el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Count"), el("th", { scope: "col" }, "Template"),
          el("th", { scope: "col" }, "Services"))),
          el("tbody", {}, e.templates.map((t) => el("tr", {}, el("td", {}, String(t.count)),
            el("td", {}, el("code", {}, t.template || t.templateId)), el("td", {}, t.services.join(", "))))))] : null,
      ev.similarEvents && ev.similarEvents.length ? el("details", {}, el("summary", {}, "Similar past events"),
        el("ul", {}, ev.similarEvents.map((s) => el("li", {}, el("code", {}, s.content || s.template || JSON.stringify(s)))))) : null,
      e.suggestedFixes.length ? [el("h3", {}, "Suggested fixes"), el("ol", { class: "fixes" }, e.suggestedFixes.map((f) =>
        el("li", {}, f.action, el("span", { class: "muted" },
          ` · ${f.estimatedTime} · risk ${f.risk}${f.successRate !== null && f.successRate !== undefined ? ` · worked ${percent(f.successRate)}` : ""}`))))] : null,
      e.articles.length ? [el("h3", {}, "Knowledge base"), el("ul", {}, e.articles.map((a) =>
        el("li", {}, a.title, el("span", { class: "muted" }, ` (${a.kind})`))))] : null,
    ];
  }

  /* Newest first; a run of diagnoses in a row becomes one line (an outage can bring hundreds). */
  function timeline(entries) {
    if (!entries.length) return el("p", { class: "empty" }, "Nothing recorded yet.");
    const rows = [];
    for (const t of [...entries].reverse()) {
      const last = rows[rows.length - 1];
      if (t.kind === "diagnosis" && last && last.kind === "diagnosis") {
        last.items.push(t);
      } else {
        rows.push({ kind: t.kind, items: [t] });
      }
    }
    return el("ol", { class: "timeline" }, rows.map((row) => {
      const t = row.items[0];
      if (row.kind === "diagnosis" && row.items.length > 1) {
        const services = new Map();
        row.items.forEach((i) => { const s = i.summary.split(":")[0]; services.set(s, (services.get(s) || 0) + 1); });
        const oldest = row.items[row.items.length - 1];
        return el("li", { "data-kind": "diagnosis" }, time(oldest.at), "–", time(t.at), " ",
          el("span", { class: "tl-kind" }, "diagnosis"), `${row.items.length} errors diagnosed: `,
          [...services].map(([s, n]) => `${s} ×${n}`).join(", "));
      }
      return el("li", { "data-kind": t.kind }, time(t.at), " ", el("span", { class: "tl-kind" }, t.kind), t.summary,
        t.actor ? el("span", { class: "muted" }, ` — ${t.actor}`) : null);
    }));
  }

  function plan(d) {
    if (!d.recoveryPlan) return el("p", { class: "empty" }, "Resolved: no recovery pending.");
    const p = d.recoveryPlan;
    return [
      el("p", {}, `${p.branch.replaceAll("_", " ")} · ${p.automatic ? "runs automatically" : "each step needs approval"}`),
      el("ol", { class: "plan" }, p.stages.map((s) => el("li", {}, s.description,
        s.needsApproval ? el("span", { class: "muted" }, " (approval)") : null))),
      el("p", { class: "muted" }, `Each step is validated with ${p.validation} health checks; then ${p.monitor} monitoring.`),
    ];
  }

  function related(list) {
    if (!list.length) return el("p", { class: "empty" }, "No related incidents.");
    return el("ul", {}, list.map((r) => el("li", {},
      el("a", { href: `/incidents/${encodeURIComponent(r.incidentId)}` }, r.title || r.incidentId),
      el("span", { class: "muted" }, ` · ${r.status || ""} · ${r.why}${r.similarity ? ` ${percent(r.similarity)}` : ""}`),
      r.resolution ? el("div", { class: "muted" }, `fixed by: ${r.resolution}`) : null)));
  }

  function alerts(list) {
    if (!list.length) return el("p", { class: "empty" }, "No alerts.");
    return el("ul", {}, list.map((a) => el("li", {}, severity(a.severity), ` ${a.title} → ${a.team} · ${a.state}`,
      a.escalationLevel ? ` · escalated to ${a.escalatedTo.join(", ")}` : "")));
  }

  function changes(list) {
    if (!list.length) return el("p", { class: "empty" }, "No changes linked to this incident.");
    return el("ul", {}, list.map((c) => el("li", {}, `${c.id} · ${c.type} · `, el("strong", {}, c.state), ` — ${c.title}`,
      c.risk ? el("span", { class: "muted" }, ` · risk ${c.risk}/10`) : null)));
  }

  function review(r) {
    const res = r.resolution;
    return [
      el("p", {}, el("span", { class: "chip" }, r.state), r.dueBy ? [" due by ", time(r.dueBy)] : null),
      el("p", {}, r.summary),
      el("dl", { class: "kv" },
        el("dt", {}, "Started"), el("dd", {}, time(r.impact.startedAt)),
        el("dt", {}, "Detected"), el("dd", {}, time(r.impact.detectedAt)),
        el("dt", {}, "Resolved"), el("dd", {}, r.impact.resolvedAt ? time(r.impact.resolvedAt) : "not yet"),
        el("dt", {}, "Duration"), el("dd", {}, `${r.impact.durationMinutes} min`),
        el("dt", {}, "Root cause"), el("dd", {}, r.rootCause.service ? `${r.rootCause.service}: ${r.rootCause.issue}` : "–"),
        el("dt", {}, "Resolution"), el("dd", {}, res ? `${res.fix || "unspecified"}${res.suggestedFixWorked ? " (suggested fix worked)" : " (suggested fix did not work)"}${res.notes ? ` — ${res.notes}` : ""}` : "–"),
        el("dt", {}, "Acknowledged"), el("dd", {}, r.response.minutesToAcknowledge === null ? "–" : `after ${r.response.minutesToAcknowledge} min`)),
      el("h3", {}, "Action items"),
      r.actionItems.length ? el("ul", {}, r.actionItems.map((a) => el("li", {}, a))) : el("p", { class: "empty" }, "None yet."),
    ];
  }

  async function refresh() {
    let d;
    try {
      d = await api(`/v1/dashboard/incidents/${encodeURIComponent(id)}`, { etag: true });
    } catch (error) {
      if (error.status === 404) { replace("head", el("h1", {}, "Incident not found"), el("p", {}, `No incident ${id}.`)); return; }
      throw error;
    }
    if (d === null) return;
    clearError();
    head(d);
    replace("evidence", evidence(d));
    replace("timeline", timeline(d.incident.timeline));
    replace("plan", plan(d));
    replace("related", related(d.related));
    replace("alerts", alerts(d.alerts));
    replace("changes", changes(d.changes));
    replace("review", review(d.review));
  }

  document.addEventListener("DOMContentLoaded", () => { layout(); poll(refresh, 5); });
})();
