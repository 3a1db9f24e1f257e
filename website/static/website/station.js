// A station's dashboard: the chart of on hand and incoming from the ledger (the history API),
// and the page's tables kept live from the station's event stream.
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const code = document.body.dataset.station;
  const chart = document.getElementById("chart");
  const commoditySelect = document.getElementById("chart-commodity");
  const spanSelect = document.getElementById("chart-span");
  const statusBadge = document.getElementById("status");
  const W = 640, H = 240, PAD = { left: 44, right: 8, top: 10, bottom: 22 };

  function el(name, attributes, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
    parent.appendChild(node);
    return node;
  }

  async function drawChart() {
    const commodity = commoditySelect.value;
    if (!commodity) return;
    const days = Number(spanSelect.value);
    const end = new Date();
    const start = new Date(end.getTime() - days * 86400000);
    const query = new URLSearchParams({
      commodity, start: start.toISOString(), end: end.toISOString(), interval: days > 7 ? "day" : "hour",
    });
    const answer = await fetch("/api/inventory/" + encodeURIComponent(code) + "/history/?" + query, { credentials: "same-origin" });
    if (!answer.ok || commodity !== commoditySelect.value) return;
    const history = await answer.json();
    const points = history.points;
    chart.replaceChildren();
    chart.dataset.commodity = commodity;
    chart.dataset.points = String(points.length);
    const t0 = Date.parse(history.start), t1 = Date.parse(history.end);
    const top = Math.max(1, ...points.map((p) => Math.max(p.on_hand, p.incoming)));
    const x = (at) => PAD.left + ((Date.parse(at) - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
    const y = (v) => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);
    el("line", { x1: PAD.left, y1: H - PAD.bottom, x2: W - PAD.right, y2: H - PAD.bottom, stroke: "#ccd" }, chart);
    [0, top / 2, top].forEach((v) => {
      const label = el("text", { x: 4, y: y(v) + 3 }, chart);
      label.textContent = String(Math.round(v));
    });
    [history.start, history.end].forEach((at, i) => {
      const label = el("text", { x: i ? W - PAD.right - 80 : PAD.left, y: H - 6 }, chart);
      label.textContent = new Date(at).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
    });
    ["on_hand", "incoming"].forEach((bucket) => {
      // A level holds until the next change: steps, not slopes.
      const path = points.map((p, i) => (i ? "H" + x(p.at).toFixed(1) + "V" : "M" + x(p.at).toFixed(1) + ",") + y(p[bucket]).toFixed(1)).join("");
      el("path", { d: path, class: bucket.replace("_", "-") }, chart);
    });
    const option = commoditySelect.selectedOptions[0].dataset;  // its unit, for one and for more
    const amount = (count) => TradeNet.quantity(count, option);
    points.forEach((p) => {
      const dot = el("circle", { cx: x(p.at), cy: y(p.on_hand), r: points.length > 60 ? 0 : 2,
                                 "data-point": "", "data-at": p.at, "data-on-hand": p.on_hand, "data-incoming": p.incoming }, chart);
      el("title", {}, dot).textContent = new Date(p.at).toLocaleString() + ": on hand " + amount(p.on_hand) + ", incoming " + amount(p.incoming);
    });
    document.getElementById("chart-range").textContent =
      TradeNet.quantity(points.length, { unit: "point", units: "points" }) + (option.units ? ", in " + option.units : "");
  }

  // Credits: balance and available over the last 7 days, by the hour, from the entries.
  const creditChart = document.getElementById("credit-chart");
  async function drawCredits() {
    const CH = 160;
    const end = new Date(), start = new Date(end.getTime() - 7 * 86400000);
    const query = new URLSearchParams({ start: start.toISOString(), end: end.toISOString(), interval: "hour" });
    const answer = await fetch("/api/accounts/" + encodeURIComponent(code) + "/history/?" + query, { credentials: "same-origin" });
    if (!answer.ok) return;
    const history = await answer.json();
    const points = history.points.map((p) => ({ at: p.at, balance: Number(p.balance), available: Number(p.available) }));
    creditChart.replaceChildren();
    creditChart.dataset.points = String(points.length);
    creditChart.dataset.balance = points.length ? history.points[points.length - 1].balance : "";
    const t0 = Date.parse(history.start), t1 = Date.parse(history.end);
    const values = points.flatMap((p) => [p.balance, p.available]);
    const low = Math.min(0, ...values), high = Math.max(1, ...values);
    const x = (at) => PAD.left + ((Date.parse(at) - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
    const y = (v) => CH - PAD.bottom - ((v - low) / (high - low)) * (CH - PAD.top - PAD.bottom);
    el("line", { x1: PAD.left, y1: y(0), x2: W - PAD.right, y2: y(0), stroke: "#ccd" }, creditChart);
    [low, high].forEach((v) => {
      const label = el("text", { x: 4, y: y(v) + 3 }, creditChart);
      label.textContent = Math.round(v).toLocaleString();
    });
    ["balance", "available"].forEach((series) => {
      const path = points.map((p, i) => (i ? "H" + x(p.at).toFixed(1) + "V" : "M" + x(p.at).toFixed(1) + ",") + y(p[series]).toFixed(1)).join("");
      el("path", { d: path, class: series }, creditChart);
    });
    document.getElementById("credit-chart-range").textContent = points.length + " points, in credits";
  }

  // Live: what the stream announces, the page shows (tables re-read from the server, so they
  // say exactly what a reload would).
  let pending = null;
  let creditsChanged = false;  // redrawn once per burst of account.changed, with the tables
  function refreshSoon(redrawChart) {
    clearTimeout(pending);
    pending = setTimeout(async () => {
      const answer = await fetch(location.href, { credentials: "same-origin" });
      if (!answer.ok) return;
      const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
      ["#stock tbody", "#credits tbody", "#proposals-waiting tbody", "#proposals-sent tbody", "#agreements tbody",
       "#shipments tbody", "#trades tbody", "#ledger tbody"].forEach((selector) => {
        const now = document.querySelector(selector), next = fresh.querySelector(selector);
        if (now && next) now.replaceWith(next);
      });
      if (redrawChart) drawChart();
      if (creditsChanged) { creditsChanged = false; drawCredits(); }
    }, 300);
  }

  function connect() {
    const source = new EventSource("/api/updates/stations/" + encodeURIComponent(code) + "/", { withCredentials: true });
    const setStatus = (state, text) => { statusBadge.className = "status " + state; statusBadge.textContent = text; document.body.dataset.stream = state; };
    setStatus("connecting", "connecting…");
    source.onopen = () => setStatus("live", "live");
    source.onerror = () => setStatus(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting",
      source.readyState === EventSource.CLOSED ? "disconnected — reload the page" : "reconnecting…");
    source.addEventListener("inventory.changed", (message) => {
      const change = JSON.parse(message.data);
      refreshSoon(change.commodity === commoditySelect.value);
    });
    source.addEventListener("account.changed", () => { creditsChanged = true; refreshSoon(false); });
    // Proposals and agreements: the lists of what waits for an answer (the answers are plain
    // forms, posted to this page, which comes back saying what happened).
    ["trade.initiated", "trade.status_changed", "cargo.created", "cargo.updated",
     "proposal.created", "proposal.accepted", "proposal.declined", "proposal.withdrawn", "proposal.expired",
     "agreement.granted", "agreement.revoked", "stream-reset"].forEach(
      (type) => source.addEventListener(type, () => refreshSoon(type === "stream-reset")));
  }

  // An answer is posted once: its buttons wait while the page reloads with the outcome.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.closest("td.answer")) return;
    setTimeout(() => form.querySelectorAll("button").forEach((b) => { b.disabled = true; }), 0);
  });

  commoditySelect.addEventListener("change", drawChart);
  spanSelect.addEventListener("change", drawChart);
  drawChart();
  drawCredits();
  connect();
})();
