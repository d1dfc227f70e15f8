// Odradek console: the little behaviour pages need (no framework, no build step).
// - message browser: runs a bounded scan as a stream of JSON lines, shows progress, can cancel
// - [data-refresh]: reloads a part of the page (a group's lag) periodically
// Rows arrive as HTML the server has already escaped; nothing here builds markup from data.
"use strict";

function scanBrowser(form) {
  const rows = document.querySelector("[data-scan-rows]");
  const status = document.querySelector("[data-scan-status]");
  const more = document.querySelector("[data-scan-more]");
  const cancel = form.querySelector("[data-scan-cancel]");
  const run = form.querySelector("[data-testid=scan-run]");
  let controller = null;

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle("error", !!isError);
  }

  function finish() {
    controller = null;
    cancel.disabled = true;
    run.disabled = false;
  }

  function describe(ev) {
    const why = {
      end: "reached the end",
      limit: "found as many as asked for",
      budget: "stopped: looked at the most records one scan may",
      time: "stopped: ran as long as one scan may",
      cancelled: "cancelled",
    }[ev.reason] || ev.reason;
    let text = `${ev.matched} shown, ${ev.scanned} looked at in ${ev.elapsed} s: ${why}.`;
    if (ev.note) text = ev.note + " " + text;
    return text;
  }

  function handle(ev) {
    if (ev.type === "record") {
      rows.insertAdjacentHTML("beforeend", ev.html);
    } else if (ev.type === "progress") {
      say(`Scanning: ${ev.matched} shown, ${ev.scanned} looked at, ${ev.elapsed} s…`);
    } else if (ev.type === "done") {
      say(describe(ev));
      if (ev.more_url) {
        const a = document.createElement("a");
        a.href = ev.more_url;
        a.textContent = "Continue from here";
        a.dataset.testid = "scan-continue";
        more.replaceChildren(a);
      }
      status.dataset.state = "done";
    } else if (ev.type === "error") {
      say(ev.message, true);
      status.dataset.state = "error";
    }
  }

  async function start(params) {
    if (controller) controller.abort();
    controller = new AbortController();
    const mine = controller;
    rows.replaceChildren();
    more.replaceChildren();
    status.dataset.state = "running";
    say("Scanning…");
    cancel.disabled = false;
    run.disabled = true;
    let buffer = "";
    try {
      const resp = await fetch(form.dataset.scan + "?" + params.toString(), { signal: mine.signal, headers: { Accept: "application/x-ndjson" } });
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let nl;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          if (line.trim()) handle(JSON.parse(line));
        }
      }
      if (buffer.trim()) handle(JSON.parse(buffer));
      if (status.dataset.state === "running") {
        say("The scan ended before it finished (the console went away?).", true);
        status.dataset.state = "error";
      }
    } catch (err) {
      if (err.name === "AbortError") {
        say(`Cancelled: ${rows.children.length} shown.`);
        status.dataset.state = "cancelled";
      } else {
        say("The scan failed: " + err.message, true);
        status.dataset.state = "error";
      }
    } finally {
      if (controller === mine) finish();
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const params = new URLSearchParams(new FormData(form));
    history.replaceState(null, "", form.action + "?" + params.toString());
    start(params);
  });
  cancel.addEventListener("click", () => {
    if (controller) controller.abort();
  });
  const here = new URLSearchParams(location.search);
  if (here.get("run")) start(here);
}

function autoRefresh(el) {
  const every = Math.max(1000, parseInt(el.dataset.refreshMs || "10000", 10));
  async function tick() {
    if (!document.hidden) {
      try {
        const resp = await fetch(el.dataset.refresh, { headers: { Accept: "text/html" } });
        if (resp.ok) {
          el.innerHTML = await resp.text();  // server-rendered and escaped
          el.classList.remove("stale");
          el.dataset.refreshed = String((parseInt(el.dataset.refreshed || "0", 10) + 1));
        } else {
          el.classList.add("stale");
        }
      } catch (err) {
        el.classList.add("stale");
      }
    }
    setTimeout(tick, every);
  }
  setTimeout(tick, every);
}

document.addEventListener("DOMContentLoaded", () => {
  const scan = document.querySelector("form[data-scan]");
  if (scan) scanBrowser(scan);
  document.querySelectorAll("[data-refresh]").forEach(autoRefresh);
});
