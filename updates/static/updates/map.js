// The galaxy map: stations at their positions (x, y in light-years, seen from above), the
// caller's shipments on their way drawn on their routes, kept live by the same event stream as
// /live/ (an EventSource reconnects by itself and resumes with Last-Event-ID; after a
// stream-reset the page reloads its state). Plain SVG: no library earns its place for this.
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const ON_THE_MAP = new Set(["pending", "in_transit"]);
  const svg = document.getElementById("galaxy");
  const layers = {
    routes: document.getElementById("routes"),
    stations: document.getElementById("stations"),
    shipments: document.getElementById("shipments"),
  };
  const statusBadge = document.getElementById("status");
  const notice = document.getElementById("notice");
  const stationFilter = document.getElementById("station-filter");
  const commodityFilter = document.getElementById("commodity-filter");
  const counts = document.getElementById("counts");
  const panel = document.getElementById("panel");

  let state = JSON.parse(document.getElementById("map-state").textContent);
  const stations = new Map(); // code -> {data, x, y, el}
  const shipments = new Map(); // shipment_id -> {data, el, route}
  const tradeCommodities = new Map(); // transaction_id -> [commodity codes], from trade.initiated
  let selected = null;

  function el(name, attributes, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
    if (parent) parent.appendChild(node);
    return node;
  }

  function setStatus(stateName, text) {
    statusBadge.className = "status " + stateName;
    statusBadge.textContent = text;
    document.body.dataset.stream = stateName;
  }

  // Positions: the stations' bounding square mapped onto 0..100, y pointing up.
  function project(list) {
    const xs = list.map((s) => s.x), ys = list.map((s) => s.y);
    const minX = Math.min(...xs, 0), maxX = Math.max(...xs, 0);
    const minY = Math.min(...ys, 0), maxY = Math.max(...ys, 0);
    const span = Math.max(maxX - minX, maxY - minY) || 1;
    const offsetX = (span - (maxX - minX)) / 2, offsetY = (span - (maxY - minY)) / 2;
    return (s) => [((s.x - minX + offsetX) / span) * 100, ((maxY - s.y + offsetY) / span) * 100];
  }

  function drawStations() {
    layers.stations.replaceChildren();
    stations.clear();
    const position = project(state.stations);
    for (const data of state.stations) {
      const [x, y] = position(data);
      const group = el("g", { "data-station": data.code, "data-kind": data.kind, tabindex: "0",
                              role: "button", "aria-label": data.name + " (" + data.code + ")" }, layers.stations);
      if (data.own) group.classList.add("own");
      // Drawn at the origin of a group placed at the station and scaled with the view, so a
      // mark keeps its size on screen as one zooms in (close neighbours come apart).
      const mark = el("g", { class: "mark", "data-x": x, "data-y": y }, group);
      if (data.kind === "outpost") {
        el("polygon", { points: "0,-1.1 -1,0.7 1,0.7" }, mark);
      } else {
        el("circle", { cx: 0, cy: 0, r: data.kind === "planet" ? 1.1 : 0.8 }, mark);
      }
      const title = el("title", {}, group);
      title.textContent = data.name + " (" + data.code + ") · " + data.kind;
      const label = el("text", { x: 1.4, y: 0.7, class: "label" + (data.own ? " own" : "") }, mark);
      label.textContent = data.code;
      group.addEventListener("click", () => select(data.code));
      group.addEventListener("keydown", (e) => { if (e.key === "Enter") select(data.code); });
      stations.set(data.code, { data, x, y, el: group });
    }
  }

  // Where a shipment is now: at its origin until it departs, then at its share of the way
  // between departure and ETA; past the ETA it waits at the destination, marked overdue.
  function placement(data, now) {
    const from = stations.get(data.origin), to = stations.get(data.destination);
    if (!from || !to) return null;
    if (data.status !== "in_transit" || !data.departed_at) return { x: from.x, y: from.y, overdue: false };
    const start = Date.parse(data.departed_at), end = Date.parse(data.eta);
    const share = end > start ? Math.min(1, Math.max(0, (now - start) / (end - start))) : 1;
    return { x: from.x + (to.x - from.x) * share, y: from.y + (to.y - from.y) * share, overdue: now > end };
  }

  function shown(data) {
    const station = stationFilter.value, commodity = commodityFilter.value;
    if (station && data.origin !== station && data.destination !== station) return false;
    if (commodity && !(data.commodities || []).includes(commodity)) return false;
    return true;
  }

  function upsertShipment(data) {
    if (!data.commodities || !data.commodities.length) {
      data.commodities = tradeCommodities.get(data.transaction_id) || data.commodities || [];
    }
    if (!ON_THE_MAP.has(data.status)) {
      removeShipment(data.shipment_id);
      return;
    }
    let entry = shipments.get(data.shipment_id);
    if (!entry) {
      const from = stations.get(data.origin), to = stations.get(data.destination);
      if (!from || !to) return;
      const route = el("line", { class: "route", x1: from.x, y1: from.y, x2: to.x, y2: to.y,
                                 "data-route": data.shipment_id }, layers.routes);
      const mark = el("path", { d: "M0,-0.9 L0.9,0 L0,0.9 L-0.9,0 Z", "data-shipment": data.shipment_id }, layers.shipments);
      el("title", {}, mark);
      entry = { data, el: mark, route };
      shipments.set(data.shipment_id, entry);
    }
    entry.data = Object.assign(entry.data, data);
    entry.el.dataset.status = entry.data.status;
    entry.el.dataset.origin = entry.data.origin;
    entry.el.dataset.destination = entry.data.destination;
    entry.el.firstChild.textContent = entry.data.shipment_id + ": " + entry.data.origin + " → " +
      entry.data.destination + " (" + entry.data.status.replace("_", " ") + ", ETA " +
      new Date(entry.data.eta).toLocaleString() + ")" +
      (entry.data.commodities.length ? " · " + entry.data.commodities.join(", ") : "");
    place(entry, Date.now());
  }

  function removeShipment(id) {
    const entry = shipments.get(id);
    if (!entry) return;
    entry.el.remove();
    entry.route.remove();
    shipments.delete(id);
  }

  let markScale = 1;

  function place(entry, now) {
    const where = placement(entry.data, now);
    if (!where) return;
    entry.el.setAttribute("transform", "translate(" + where.x.toFixed(3) + "," + where.y.toFixed(3) + ") scale(" + markScale.toFixed(4) + ")");
    entry.el.classList.toggle("overdue", where.overdue);
    const visible = shown(entry.data);
    entry.el.style.display = visible ? "" : "none";
    entry.route.style.display = visible ? "" : "none";
  }

  function refresh() {
    const now = Date.now();
    shipments.forEach((entry) => place(entry, now));
    const station = stationFilter.value;
    stations.forEach((s, code) => s.el.classList.toggle("dimmed", Boolean(station) && code !== station));
    const visible = [...shipments.values()].filter((e) => e.el.style.display !== "none").length;
    counts.textContent = stations.size + " stations · " + visible + " shipments on their way";
    counts.dataset.shipments = String(visible);
    if (selected) fillShipments(selected);
  }

  // The first view frames where most stations are (the 5th to 95th percentile of each axis):
  // one far-off colony would otherwise squeeze everything else into a corner. Zoom out for it.
  function fitView() {
    const xs = [...stations.values()].map((s) => s.x).sort((a, b) => a - b);
    const ys = [...stations.values()].map((s) => s.y).sort((a, b) => a - b);
    if (!xs.length) return;
    const at = (list, q) => list[Math.min(list.length - 1, Math.max(0, Math.round(q * (list.length - 1))))];
    const x0 = at(xs, 0.05), x1 = at(xs, 0.95), y0 = at(ys, 0.05), y1 = at(ys, 0.95);
    const side = Math.max(x1 - x0, y1 - y0, 1) * 1.3;
    view = { x: (x0 + x1) / 2 - side / 2, y: (y0 + y1) / 2 - side / 2, w: side, h: side };
  }

  function loadState(newState) {
    const first = stations.size === 0;
    state = newState;
    drawStations();
    if (first) fitView();
    applyView();
    shipments.forEach((_, id) => removeShipment(id));
    state.shipments.forEach(upsertShipment);
    if (selected && stations.has(selected)) stations.get(selected).el.classList.add("selected");
    refresh();
  }

  // Pan and zoom, by moving the SVG's viewBox.
  let view = { x: -5, y: -5, w: 110, h: 110 };
  function applyView() {
    svg.setAttribute("viewBox", [view.x, view.y, view.w, view.h].join(" "));
    svg.classList.toggle("show-labels", view.w < 45);
    markScale = view.w / 110;
    layers.stations.querySelectorAll("g.mark").forEach((mark) => {
      mark.setAttribute("transform", "translate(" + mark.dataset.x + "," + mark.dataset.y + ") scale(" + markScale.toFixed(4) + ")");
    });
    const now = Date.now();
    shipments.forEach((entry) => place(entry, now));
  }
  function toView(event) {
    const box = svg.getBoundingClientRect();
    const scale = Math.max(view.w / box.width, view.h / box.height);
    const offsetX = (box.width * scale - view.w) / 2, offsetY = (box.height * scale - view.h) / 2;
    return [view.x - offsetX + (event.clientX - box.left) * scale, view.y - offsetY + (event.clientY - box.top) * scale, scale];
  }
  svg.addEventListener("wheel", (event) => {
    event.preventDefault();
    const [px, py] = toView(event);
    const factor = event.deltaY < 0 ? 0.8 : 1.25;
    const w = Math.min(400, Math.max(0.0005, view.w * factor));
    const k = w / view.w;
    view = { x: px - (px - view.x) * k, y: py - (py - view.y) * k, w, h: view.h * k };
    applyView();
  }, { passive: false });
  let drag = null;
  svg.addEventListener("pointerdown", (event) => {
    if (event.target.closest("[data-station]")) return;
    drag = { x: event.clientX, y: event.clientY, view: Object.assign({}, view), scale: toView(event)[2] };
    svg.classList.add("dragging");
    svg.setPointerCapture(event.pointerId);
  });
  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    view.x = drag.view.x - (event.clientX - drag.x) * drag.scale;
    view.y = drag.view.y - (event.clientY - drag.y) * drag.scale;
    applyView();
  });
  const endDrag = () => { drag = null; svg.classList.remove("dragging"); };
  svg.addEventListener("pointerup", endDrag);
  svg.addEventListener("pointercancel", endDrag);

  // The station panel: what the caller may read of it (the API says 404 otherwise).
  function text(tag, content) {
    const node = document.createElement(tag);
    node.textContent = content;
    return node;
  }

  function fillShipments(code) {
    const list = document.getElementById("panel-shipments");
    const mine = [...shipments.values()].map((e) => e.data).filter((d) => d.origin === code || d.destination === code);
    list.replaceChildren(...(mine.length ? mine.map((d) => {
      const item = text("li", (d.origin === code ? "out to " + d.destination : "in from " + d.origin) + ": " +
        d.shipment_id + ", " + d.status.replace("_", " ") + ", ETA " + new Date(d.eta).toLocaleString());
      item.dataset.panelShipment = d.shipment_id;
      return item;
    }) : [text("li", "None of yours on their way.")]));
  }

  async function select(code) {
    if (selected && stations.has(selected)) stations.get(selected).el.classList.remove("selected");
    selected = code;
    const station = stations.get(code);
    station.el.classList.add("selected");
    panel.hidden = false;
    panel.dataset.station = code;
    document.getElementById("panel-title").textContent = station.data.name + " (" + code + ")";
    const link = document.getElementById("panel-link");
    link.replaceChildren();
    if (station.data.own) {
      const a = text("a", "Station page");
      a.href = "/stations/" + encodeURIComponent(code) + "/";
      link.append(station.data.kind + " · ", a);
    } else {
      link.textContent = station.data.kind + " · not one of your stations";
    }
    fillShipments(code);
    const stock = document.getElementById("panel-stock");
    const trades = document.getElementById("panel-trades");
    stock.replaceChildren(text("p", "…"));
    trades.replaceChildren();
    const [inventory, recent] = await Promise.all([
      fetch("/api/inventory/" + encodeURIComponent(code) + "/", { credentials: "same-origin" }),
      fetch("/api/trades/?station=" + encodeURIComponent(code) + "&page_size=8", { credentials: "same-origin" }),
    ]);
    if (selected !== code) return;
    if (inventory.ok) {
      const body = await inventory.json();
      const table = document.createElement("table");
      const head = table.createTHead().insertRow();
      ["Commodity", "On hand", "Incoming"].forEach((h) => head.appendChild(text("th", h)));
      const rows = table.createTBody();
      body.items.forEach((item) => {
        const row = rows.insertRow();
        row.dataset.commodity = item.commodity;
        [item.commodity, item.on_hand, item.incoming].forEach((v) => row.appendChild(text("td", String(v))));
      });
      stock.replaceChildren(table);
    } else {
      stock.replaceChildren(text("p", "Not yours to see: only its operators and dispatch staff read its stock."));
    }
    const results = recent.ok ? (await recent.json()).results : [];
    trades.replaceChildren(...(results.length ? results.map((t) => {
      const item = text("li", t.transaction_id + ": " + t.seller + " → " + t.buyer + ", " +
        t.items.map((i) => i.quantity + " " + i.commodity).join(", ") + " (" + t.status + ")");
      item.dataset.panelTrade = t.transaction_id;
      return item;
    }) : [text("li", "No trades of yours with it.")]));
  }
  document.getElementById("panel-close").addEventListener("click", () => {
    panel.hidden = true;
    if (selected && stations.has(selected)) stations.get(selected).el.classList.remove("selected");
    selected = null;
  });

  // Live.
  function connect() {
    setStatus("connecting", "connecting…");
    const source = new EventSource("/api/updates/real-time/", { withCredentials: true });
    source.onopen = () => setStatus("live", "live");
    source.onerror = () => setStatus(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting",
      source.readyState === EventSource.CLOSED ? "disconnected — reload the page to sign in again" : "reconnecting…");
    source.addEventListener("trade.initiated", (message) => {
      const trade = JSON.parse(message.data);
      const codes = [...new Set(trade.items.map((i) => i.commodity))].sort();
      tradeCommodities.set(trade.transaction_id, codes);
      shipments.forEach((entry) => {
        if (entry.data.transaction_id === trade.transaction_id) {
          entry.data.commodities = codes;
          place(entry, Date.now());
        }
      });
      refresh();
    });
    ["cargo.created", "cargo.updated"].forEach((type) => source.addEventListener(type, (message) => {
      upsertShipment(JSON.parse(message.data));
      refresh();
    }));
    source.addEventListener("stream-reset", async () => {
      notice.hidden = false;
      notice.textContent = "Some events could not be replayed after a disconnection; the map was reloaded.";
      const answer = await fetch("/map/data/", { credentials: "same-origin" });
      if (answer.ok) loadState(await answer.json());
    });
  }

  stationFilter.addEventListener("change", refresh);
  commodityFilter.addEventListener("change", refresh);
  applyView();
  loadState(state);
  setInterval(refresh, 1000);
  connect();
})();
