// Dialer dashboard: applies the server's live snapshots (Server-Sent Events) to the page.
// No framework and no build step; the pages work without it, only less alive.
"use strict";

(function () {
  const CHART_WIDTH = 440; // the outcome bars' room in the SVG (campaign.html)
  const COUNT_X = 136; // where a bar's count starts, past its bar

  function setText(root, selector, text) {
    root.querySelectorAll(selector).forEach(function (el) {
      if (el.textContent !== String(text)) el.textContent = text;
    });
  }

  function setMeter(el, value, max) {
    if (!el) return;
    el.max = Math.max(max, 1);
    el.value = value;
  }

  function capText(cap) {
    return cap === null || cap === undefined ? "no cap" : String(cap);
  }

  function fillRow(tr, row) {
    tr.dataset.campaign = row.id;
    const name = tr.querySelector('[data-col="name"]');
    name.textContent = row.name;
    name.href = "/dashboard/campaigns/" + row.id;
    const status = tr.querySelector('[data-col="status"]');
    status.textContent = row.status;
    status.dataset.status = row.status;
    setMeter(tr.querySelector('[data-col="bar"]'), row.done, row.total);
    setText(tr, '[data-col="progress"]', row.progress_text);
    setText(tr, '[data-col="live"]', row.live_text);
  }

  function applyList(snapshot) {
    const body = document.querySelector("[data-campaign-rows]");
    if (!body) return;
    const template = document.getElementById("campaign-row");
    snapshot.campaigns.forEach(function (row) {
      let tr = body.querySelector('tr[data-campaign="' + row.id + '"]');
      if (!tr && template) {
        body.querySelectorAll("tr.empty").forEach(function (el) { el.remove(); });
        tr = template.content.firstElementChild.cloneNode(true);
        body.appendChild(tr);
      }
      if (tr) fillRow(tr, row);
    });
  }

  function applyTotals(snapshot) {
    setText(document, '[data-field="tenant-live"]', snapshot.tenant.live);
    setText(document, '[data-field="tenant-cap"]', capText(snapshot.tenant.cap));
    setText(document, '[data-field="global-live"]', snapshot.global.live);
    setText(document, '[data-field="global-cap"]', capText(snapshot.global.cap));
  }

  function applyCaps(caps) {
    Object.keys(caps).forEach(function (key) {
      const meter = document.querySelector('[data-meter="' + key + '"]');
      const cap = caps[key].cap;
      if (!meter) return;
      meter.hidden = cap === null;
      setMeter(meter, caps[key].live, cap === null ? 0 : cap);
    });
  }

  function applyOutcomes(outcomes) {
    outcomes.forEach(function (bar) {
      const width = (bar.share * CHART_WIDTH).toFixed(1);
      const rect = document.querySelector('[data-bar="' + bar.name + '"]');
      const count = document.querySelector('[data-count="' + bar.name + '"]');
      if (rect) rect.setAttribute("width", width);
      if (count) {
        count.setAttribute("x", (COUNT_X + Number(width)).toFixed(1));
        count.textContent = bar.count;
      }
    });
  }

  function applyWaiting(lines) {
    const list = document.querySelector("[data-waiting]");
    if (!list) return;
    const now = Array.prototype.map.call(list.children, function (li) { return li.textContent; });
    if (now.join("\n") === lines.join("\n")) return;
    list.replaceChildren.apply(list, lines.map(function (line) {
      const li = document.createElement("li");
      li.textContent = line;
      return li;
    }));
    const none = document.querySelector("[data-waiting-none]");
    if (none) none.hidden = lines.length > 0;
  }

  function applyActions(status) {
    document.querySelectorAll("form[data-when]").forEach(function (form) {
      form.hidden = form.dataset.when.split(" ").indexOf(status) < 0;
    });
  }

  // Money meters (a budget's spend): the server sends decimal strings; a number here only
  // places the bar.
  function applyMeters(meters) {
    Object.keys(meters || {}).forEach(function (key) {
      const el = document.querySelector('[data-meter="' + key + '"]');
      if (!el) return;
      el.max = Number(meters[key].max);
      el.value = Number(meters[key].value);
    });
  }

  function applyCampaign(detail) {
    if (!detail) return;
    Object.keys(detail.text).forEach(function (key) {
      setText(document, '[data-field="' + key + '"]', detail.text[key]);
    });
    document.querySelectorAll('[data-field="status"]').forEach(function (el) {
      el.dataset.status = detail.status;
    });
    setMeter(document.querySelector('[data-meter="progress"]'), detail.done, detail.total);
    applyCaps(detail.caps);
    applyMeters(detail.meters);
    applyOutcomes(detail.outcomes);
    applyWaiting(detail.waiting || []);
    applyActions(detail.status);
  }

  function apply(snapshot) {
    applyTotals(snapshot);
    applyList(snapshot);
    applyCampaign(snapshot.campaign);
    document.body.dataset.snapshotAt = snapshot.at;
  }

  function liveState(on) {
    document.querySelectorAll("[data-live-state]").forEach(function (el) {
      el.classList.toggle("on", on);
      el.title = on ? "live updates on" : "live updates reconnecting";
    });
  }

  function connect() {
    const url = document.body.dataset.events;
    if (!url || !window.EventSource) return;
    const source = new EventSource(url);
    source.addEventListener("open", function () { liveState(true); });
    source.addEventListener("error", function () { liveState(false); });
    source.addEventListener("snapshot", function (event) {
      liveState(true);
      apply(JSON.parse(event.data));
    });
    source.addEventListener("signed-out", function () {
      source.close();
      window.location.assign("/dashboard/login");
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  document.addEventListener("DOMContentLoaded", connect);
})();
