/* The public status page is rendered on the server; this refreshes it in place (no reload) and shows
   times in the reader's time zone. No key, no data beyond what the page itself shows. */
"use strict";

(() => {
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach((t) => {
      const when = new Date(t.getAttribute("datetime"));
      if (!Number.isNaN(when.getTime())) t.textContent = when.toLocaleString();
    });
  }

  async function refresh() {
    try {
      const response = await fetch("/status", { headers: { Accept: "text/html" }, cache: "no-store" });
      if (!response.ok) return;
      const next = new DOMParser().parseFromString(await response.text(), "text/html");
      const main = next.getElementById("main");
      const updated = next.getElementById("updated");
      if (!main) return;
      // Keep keyboard focus where it was if that element still exists.
      const focused = document.activeElement && document.activeElement.id;
      document.getElementById("main").replaceChildren(...main.childNodes);
      if (updated) document.getElementById("updated").replaceChildren(...updated.childNodes);
      localTimes(document);
      if (focused) document.getElementById(focused)?.focus();
    } catch (_) { /* offline for a moment: keep what is shown, try again next round */ }
  }

  document.addEventListener("DOMContentLoaded", () => {
    localTimes(document);
    const seconds = Number(document.getElementById("main").dataset.refresh || 30);
    setInterval(() => { if (document.visibilityState === "visible") refresh(); }, seconds * 1000);
  });
})();
