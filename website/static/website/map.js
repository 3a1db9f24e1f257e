// The galaxy map: stations at their positions (x, y in light-years, seen from above), the
// caller's shipments on their way drawn on their routes, kept live by the same event stream as
// /live/ (an EventSource reconnects by itself and resumes with Last-Event-ID; after a
// stream-reset the page reloads its state). Plain SVG: no library earns its place for this.
//
// Everything is drawn in screen pixels from a view (centre in light-years, pixels per
// light-year), so marks, labels and focus rings keep their size at any zoom. On every redraw:
// - stations closer than CLUSTER_PX on screen are drawn as one cluster mark with a count
//   ("Ceres Prime +3"); clicking it zooms in until they come apart;
// - labels are placed greedily, most important first (the caller's own stations, then
//   stations, planets, outposts), at the first free spot around their mark; a label with no
//   free spot is left out (the mark keeps its tooltip), so labels never pile up;
// - stations outside the view are pointed at from the map's edge, by direction, with their
//   name or their count and distance, and the caption says how many are off-screen.
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const ON_THE_MAP = new Set(["pending", "in_transit"]);
  const CLUSTER_PX = 14;
  const LABEL_FONT_PX = 12;
  const MAX_LABELS = 400;
  const EDGE_SECTORS = 16;
  const STATUS_WORDS = { pending: "waiting to depart", in_transit: "in transit", delivered: "delivered", cancelled: "cancelled", lost: "lost" };
  const KIND_RANK = { station: 0, planet: 1, outpost: 2 };

  const svg = document.getElementById("galaxy");
  const layers = {};
  ["routes", "shipments", "stations", "clusters", "edges"].forEach((id) => { layers[id] = document.getElementById(id); });
  const statusBadge = document.getElementById("status");
  const notice = document.getElementById("notice");
  const stationFilter = document.getElementById("station-filter");
  const commodityFilter = document.getElementById("commodity-filter");
  const counts = document.getElementById("counts");
  const panel = document.getElementById("panel");

  let state = JSON.parse(document.getElementById("map-state").textContent);
  const stations = new Map(); // code -> {data, el, mark, label, sx, sy}
  const shipments = new Map(); // shipment_id -> {data, el, route}
  const tradeCommodities = new Map(); // transaction_id -> [commodity codes], from trade.initiated
  let commodities = new Map(); // code -> {code, name, unit, units}
  let selected = null;
  let view = { cx: 0, cy: 0, scale: 10 }; // light-years at the centre; pixels per light-year

  function el(name, attributes, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
    if (parent) parent.appendChild(node);
    return node;
  }

  const when = (at) => new Date(at).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false });
  function plural(count, one, many) { return count + " " + (count === 1 ? one : many); }
  function nameOf(code) { const s = stations.get(code); return s ? s.data.name : code; }
  function amount(quantity, code) {
    const commodity = commodities.get(code);
    return TradeNet.quantity(quantity, commodity) + " " + (commodity ? commodity.name : code);
  }

  function setStatus(stateName, text) {
    statusBadge.className = "status " + stateName;
    statusBadge.textContent = text;
    document.body.dataset.stream = stateName;
  }

  function size() { return [svg.clientWidth || 800, svg.clientHeight || 600]; }
  function toScreen(x, y) {
    const [w, h] = size();
    return [(x - view.cx) * view.scale + w / 2, (view.cy - y) * view.scale + h / 2];
  }
  function toWorld(sx, sy) {
    const [w, h] = size();
    return [(sx - w / 2) / view.scale + view.cx, view.cy - (sy - h / 2) / view.scale];
  }

  // Frames `list` (stations' data) with a margin; one station: a view a few light-years wide.
  function frame(list) {
    if (!list.length) return;
    const xs = list.map((s) => s.x), ys = list.map((s) => s.y);
    const [w, h] = size();
    const spanX = Math.max(...xs) - Math.min(...xs), spanY = Math.max(...ys) - Math.min(...ys);
    view.cx = (Math.max(...xs) + Math.min(...xs)) / 2;
    view.cy = (Math.max(...ys) + Math.min(...ys)) / 2;
    if (spanX === 0 && spanY === 0) {
      view.scale = 40;
      return;
    }
    const fit = Math.min((w - 160) / (spanX || 1e-9), (h - 100) / (spanY || 1e-9));
    view.scale = Math.min(1e6, Math.max(1e-4, fit));
  }

  // The first view frames where most stations are (the 5th to 95th percentile of each axis):
  // one far-off colony would otherwise squeeze everything else into a dot. The map's edge
  // points at the rest, and "Show all" frames every station.
  function firstView() {
    const all = [...stations.values()].map((s) => s.data);
    if (all.length < 8) return frame(all);
    const at = (list, q) => list[Math.round(q * (list.length - 1))];
    const xs = all.map((s) => s.x).sort((a, b) => a - b), ys = all.map((s) => s.y).sort((a, b) => a - b);
    const x0 = at(xs, 0.05), x1 = at(xs, 0.95), y0 = at(ys, 0.05), y1 = at(ys, 0.95);
    frame(all.filter((s) => s.x >= x0 && s.x <= x1 && s.y >= y0 && s.y <= y1));
  }

  function priority(a, b) {
    return (b.data.own - a.data.own) || (KIND_RANK[a.data.kind] - KIND_RANK[b.data.kind]) ||
      a.data.name.localeCompare(b.data.name);
  }

  function drawStations() {
    layers.stations.replaceChildren();
    stations.clear();
    commodities = new Map(state.commodities.map((c) => [c.code, c]));
    for (const data of state.stations) {
      const group = el("g", { "data-station": data.code, "data-kind": data.kind, tabindex: "0", role: "button",
                              "aria-label": data.name + " (" + data.kind + ")" }, layers.stations);
      if (data.own) group.classList.add("own");
      const mark = el("g", { class: "mark" }, group);
      el("circle", { class: "ring", cx: 0, cy: 0, r: 9 }, mark);
      if (data.kind === "outpost") el("polygon", { points: "0,-6 -5.5,4 5.5,4" }, mark);
      else el("circle", { cx: 0, cy: 0, r: data.kind === "planet" ? 5.5 : 4.5 }, mark);
      const title = el("title", {}, group);
      title.textContent = data.name + " (" + data.code + ") · " + data.kind + (data.own ? " · yours" : "");
      const label = el("text", { class: "label" }, group);
      label.textContent = data.name;
      group.addEventListener("click", (event) => { event.stopPropagation(); select(data.code); });
      group.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") select(data.code); });
      stations.set(data.code, { data, el: group, mark, label, sx: 0, sy: 0 });
    }
  }

  // Greedy clustering in screen space (a grid of CLUSTER_PX cells): each station joins the
  // first cluster, in priority order, whose leader is within CLUSTER_PX, else leads its own.
  function clusterStations(ordered) {
    const grid = new Map(), clusters = [];
    const cell = (x, y) => Math.floor(x / CLUSTER_PX) + ":" + Math.floor(y / CLUSTER_PX);
    for (const station of ordered) {
      let home = null;
      const gx = Math.floor(station.sx / CLUSTER_PX), gy = Math.floor(station.sy / CLUSTER_PX);
      for (let dx = -1; dx <= 1 && !home; dx++) {
        for (let dy = -1; dy <= 1 && !home; dy++) {
          for (const cluster of grid.get((gx + dx) + ":" + (gy + dy)) || []) {
            if (Math.hypot(cluster.sx - station.sx, cluster.sy - station.sy) < CLUSTER_PX) { home = cluster; break; }
          }
        }
      }
      if (home) { home.members.push(station); continue; }
      const cluster = { sx: station.sx, sy: station.sy, members: [station] };
      clusters.push(cluster);
      const key = cell(station.sx, station.sy);
      if (!grid.has(key)) grid.set(key, []);
      grid.get(key).push(cluster);
    }
    return clusters;
  }

  // Label boxes: the first free spot right, left, above or below the mark, or none.
  function placeLabel(placed, sx, sy, text, w, h) {
    const width = text.length * LABEL_FONT_PX * 0.58 + 4, height = LABEL_FONT_PX + 2;
    const spots = [[10, -height / 2, "start"], [-10 - width, -height / 2, "start"],
                   [-width / 2, -12 - height, "start"], [-width / 2, 11, "start"]];
    for (const [dx, dy] of spots) {
      const box = { x: sx + dx, y: sy + dy, w: width, h: height };
      if (box.x < 2 || box.y < 2 || box.x + box.w > w - 2 || box.y + box.h > h - 2) continue;
      if (placed.some((o) => box.x < o.x + o.w && o.x < box.x + box.w && box.y < o.y + o.h && o.y < box.y + box.h)) continue;
      placed.push(box);
      return box;
    }
    return null;
  }

  function render() {
    const [w, h] = size();
    const inside = [], outside = [];
    stations.forEach((station) => {
      [station.sx, station.sy] = toScreen(station.data.x, station.data.y);
      const visible = station.sx >= 0 && station.sx <= w && station.sy >= 0 && station.sy <= h;
      (visible ? inside : outside).push(station);
    });
    inside.sort(priority);
    const clusters = clusterStations(inside);
    // Marks are obstacles for labels, so a label never covers another mark.
    const placed = clusters.map((c) => ({ x: c.sx - 7, y: c.sy - 7, w: 14, h: 14 }));
    layers.clusters.replaceChildren();
    outside.forEach((station) => { station.el.style.display = "none"; });
    let labelled = 0;
    for (const cluster of clusters) {
      const [leader, ...rest] = cluster.members;
      rest.forEach((station) => { station.el.style.display = "none"; });
      const text = rest.length ? leader.data.name + " +" + rest.length : leader.data.name;
      const box = labelled < MAX_LABELS ? placeLabel(placed, cluster.sx, cluster.sy, text, w, h) : null;
      if (box) labelled++;
      if (rest.length) {
        drawCluster(cluster, text, box);
        leader.el.style.display = "none";
        continue;
      }
      leader.el.style.display = "";
      leader.mark.setAttribute("transform", "translate(" + leader.sx.toFixed(1) + "," + leader.sy.toFixed(1) + ")");
      leader.mark.dataset.x = leader.sx.toFixed(3);
      leader.mark.dataset.y = leader.sy.toFixed(3);
      leader.label.style.display = box ? "" : "none";
      if (box) {
        leader.label.setAttribute("x", (box.x + 2).toFixed(1));
        leader.label.setAttribute("y", (box.y + LABEL_FONT_PX - 1).toFixed(1));
      }
    }
    drawEdges(outside, w, h);
    offscreen = outside.length;
    refresh();
  }

  // What changes with time and with the filters, between redraws of the view.
  let offscreen = 0;
  function refresh() {
    const now = Date.now();
    shipments.forEach((entry) => place(entry, now));
    const station = stationFilter.value;
    stations.forEach((s, code) => s.el.classList.toggle("dimmed", Boolean(station) && code !== station));
    const shown = [...shipments.values()].filter((e) => e.el.style.display !== "none").length;
    counts.textContent = plural(stations.size, "station", "stations") +
      (offscreen ? " (" + offscreen + " off-screen: follow the arrows at the edge)" : "") + " · " +
      plural(shown, "shipment", "shipments") + " on " + (shown === 1 ? "its" : "their") + " way";
    counts.dataset.shipments = String(shown);
    counts.dataset.offscreen = String(offscreen);
    if (selected) fillShipments(selected);
  }

  function drawCluster(cluster, text, box) {
    const group = el("g", { class: "cluster", tabindex: "0", role: "button",
                            "data-cluster": cluster.members.map((s) => s.data.code).join(" "),
                            "aria-label": text + ": zoom in" }, layers.clusters);
    el("circle", { cx: cluster.sx.toFixed(1), cy: cluster.sy.toFixed(1), r: 8 }, group);
    const count = el("text", { class: "count", x: cluster.sx.toFixed(1), y: (cluster.sy + 3.5).toFixed(1) }, group);
    count.textContent = String(cluster.members.length);
    const title = el("title", {}, group);
    title.textContent = cluster.members.map((s) => s.data.name).join(", ") + " (click to zoom in)";
    if (box) {
      const label = el("text", { class: "label", x: (box.x + 2).toFixed(1), y: (box.y + LABEL_FONT_PX - 1).toFixed(1) }, group);
      label.textContent = text;
    }
    const zoom = () => zoomTo(cluster.members.map((s) => s.data));
    group.addEventListener("click", (event) => { event.stopPropagation(); zoom(); });
    group.addEventListener("keydown", (event) => { if (event.key === "Enter") zoom(); });
  }

  // Off-screen stations, by direction from the centre: an arrow at the edge, with the one
  // station's name or the count, and the distance; clicking brings them into view.
  function drawEdges(outside, w, h) {
    layers.edges.replaceChildren();
    const sectors = new Map();
    for (const station of outside) {
      const angle = Math.atan2(station.sy - h / 2, station.sx - w / 2);
      const sector = Math.round((angle / (2 * Math.PI)) * EDGE_SECTORS);
      if (!sectors.has(sector)) sectors.set(sector, []);
      sectors.get(sector).push(station);
    }
    sectors.forEach((members, sector) => {
      const angle = (sector / EDGE_SECTORS) * 2 * Math.PI;
      const dx = Math.cos(angle), dy = Math.sin(angle);
      const reach = Math.min(Math.abs((w / 2 - 24) / (dx || 1e-9)), Math.abs((h / 2 - 24) / (dy || 1e-9)));
      const ex = w / 2 + dx * reach, ey = h / 2 + dy * reach;
      const nearest = members.reduce((a, b) => (Math.hypot(a.sx - w / 2, a.sy - h / 2) < Math.hypot(b.sx - w / 2, b.sy - h / 2) ? a : b));
          const distance = Math.hypot(nearest.data.x - view.cx, nearest.data.y - view.cy);
      const text = (members.length === 1 ? nearest.data.name : plural(members.length, "station", "stations")) +
        " · " + Math.round(distance).toLocaleString() + " ly";
      const group = el("g", { class: "edge", tabindex: "0", role: "button", "data-edge": members.map((s) => s.data.code).join(" "),
                              "aria-label": text + " off-screen: show" }, layers.edges);
      const deg = (angle * 180) / Math.PI;
      el("path", { d: "M8,0 L-6,-6 L-3,0 L-6,6 Z", transform: "translate(" + ex.toFixed(1) + "," + ey.toFixed(1) + ") rotate(" + deg.toFixed(1) + ")" }, group);
      const label = el("text", { class: "label", y: (ey + 4).toFixed(1) }, group);
      label.textContent = text;
      const width = text.length * LABEL_FONT_PX * 0.58;
      const lx = dx > 0.3 ? ex - 14 - width : dx < -0.3 ? ex + 14 : Math.min(w - width - 4, Math.max(4, ex - width / 2));
      const ly = dy > 0.3 ? ey - 12 : dy < -0.3 ? ey + 20 : ey + 4;
      label.setAttribute("x", lx.toFixed(1));
      label.setAttribute("y", ly.toFixed(1));
      const title = el("title", {}, group);
      title.textContent = members.map((s) => s.data.name).join(", ");
      const show = () => zoomTo(members.length === 1 ? [nearest.data] : members.map((s) => s.data));
      group.addEventListener("click", (event) => { event.stopPropagation(); show(); });
      group.addEventListener("keydown", (event) => { if (event.key === "Enter") show(); });
    });
  }

  function zoomTo(list) {
    frame(list);
    if (list.length > 1) view.scale *= 0.9;
    scheduleRender();
  }

  // Where a shipment is now: at its origin until it departs, then at its share of the way
  // between departure and ETA; past the ETA it waits at the destination, marked overdue.
  function placement(data, now) {
    const from = stations.get(data.origin), to = stations.get(data.destination);
    if (!from || !to) return null;
    if (data.status !== "in_transit" || !data.departed_at) return { x: from.sx, y: from.sy, overdue: false };
    const start = Date.parse(data.departed_at), end = Date.parse(data.eta);
    const share = end > start ? Math.min(1, Math.max(0, (now - start) / (end - start))) : 1;
    return { x: from.sx + (to.sx - from.sx) * share, y: from.sy + (to.sy - from.sy) * share, overdue: now > end };
  }

  function passesFilters(data) {
    const station = stationFilter.value, commodity = commodityFilter.value;
    if (station && data.origin !== station && data.destination !== station) return false;
    if (commodity && !(data.commodities || []).includes(commodity)) return false;
    return true;
  }

  function describeShipment(d) {
    return nameOf(d.origin) + " → " + nameOf(d.destination) + ": " + (STATUS_WORDS[d.status] || d.status) +
      ", due " + when(d.eta) +
      (d.commodities && d.commodities.length ? " · " + d.commodities.map((c) => (commodities.get(c) || { name: c }).name).join(", ") : "");
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
      if (!stations.has(data.origin) || !stations.has(data.destination)) return;
      const route = el("line", { class: "route", "data-route": data.shipment_id }, layers.routes);
      const mark = el("path", { d: "M0,-5 L5,0 L0,5 L-5,0 Z", "data-shipment": data.shipment_id }, layers.shipments);
      el("title", {}, mark);
      entry = { data, el: mark, route };
      shipments.set(data.shipment_id, entry);
    }
    entry.data = Object.assign(entry.data, data);
    entry.el.dataset.status = entry.data.status;
    entry.el.dataset.origin = entry.data.origin;
    entry.el.dataset.destination = entry.data.destination;
    entry.el.firstChild.textContent = entry.data.shipment_id + ": " + describeShipment(entry.data);
    place(entry, Date.now());
  }

  function removeShipment(id) {
    const entry = shipments.get(id);
    if (!entry) return;
    entry.el.remove();
    entry.route.remove();
    shipments.delete(id);
  }

  function place(entry, now) {
    const where = placement(entry.data, now);
    if (!where) return;
    const from = stations.get(entry.data.origin), to = stations.get(entry.data.destination);
    entry.route.setAttribute("x1", from.sx.toFixed(1));
    entry.route.setAttribute("y1", from.sy.toFixed(1));
    entry.route.setAttribute("x2", to.sx.toFixed(1));
    entry.route.setAttribute("y2", to.sy.toFixed(1));
    entry.el.setAttribute("transform", "translate(" + where.x.toFixed(3) + "," + where.y.toFixed(3) + ")");
    entry.el.classList.toggle("overdue", where.overdue);
    const visible = passesFilters(entry.data);
    entry.el.style.display = visible ? "" : "none";
    entry.route.style.display = visible ? "" : "none";
  }

  let pending = false;
  function scheduleRender() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; render(); });
  }

  function loadState(newState) {
    const first = stations.size === 0;
    state = newState;
    drawStations();
    if (first) firstView();
    shipments.forEach((_, id) => removeShipment(id));
    render();
    state.shipments.forEach(upsertShipment);
    if (selected && stations.has(selected)) stations.get(selected).el.classList.add("selected");
    render();
  }

  // Pan (drag) and zoom (wheel, or the buttons), about the pointer.
  svg.addEventListener("wheel", (event) => {
    event.preventDefault();
    const box = svg.getBoundingClientRect();
    zoomAbout(event.clientX - box.left, event.clientY - box.top, event.deltaY < 0 ? 1.25 : 0.8);
  }, { passive: false });
  function zoomAbout(sx, sy, factor) {
    const [wx, wy] = toWorld(sx, sy);
    view.scale = Math.min(1e6, Math.max(1e-4, view.scale * factor));
    const [nx, ny] = toScreen(wx, wy);
    view.cx += (nx - sx) / view.scale;
    view.cy -= (ny - sy) / view.scale;
    scheduleRender();
  }
  let drag = null;
  svg.addEventListener("pointerdown", (event) => {
    if (event.target.closest("[data-station], .cluster, .edge")) return;
    drag = { x: event.clientX, y: event.clientY, cx: view.cx, cy: view.cy };
    svg.classList.add("dragging");
    svg.setPointerCapture(event.pointerId);
  });
  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    view.cx = drag.cx - (event.clientX - drag.x) / view.scale;
    view.cy = drag.cy + (event.clientY - drag.y) / view.scale;
    scheduleRender();
  });
  const endDrag = () => { drag = null; svg.classList.remove("dragging"); };
  svg.addEventListener("pointerup", endDrag);
  svg.addEventListener("pointercancel", endDrag);
  window.addEventListener("resize", scheduleRender);
  document.getElementById("zoom-in").addEventListener("click", () => { const [w, h] = size(); zoomAbout(w / 2, h / 2, 1.5); });
  document.getElementById("zoom-out").addEventListener("click", () => { const [w, h] = size(); zoomAbout(w / 2, h / 2, 1 / 1.5); });
  document.getElementById("show-all").addEventListener("click", () => zoomTo([...stations.values()].map((s) => s.data)));

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
      const item = text("li", (d.origin === code ? "Out to " + nameOf(d.destination) : "In from " + nameOf(d.origin)) + ", " +
        (STATUS_WORDS[d.status] || d.status) + ", due " + when(d.eta));
      item.title = d.shipment_id;
      item.dataset.panelShipment = d.shipment_id;
      return item;
    }) : [text("li", "None of yours on their way.")]));
  }

  async function select(code) {
    if (selected && stations.has(selected)) stations.get(selected).el.classList.remove("selected");
    selected = code;
    const station = stations.get(code);
    station.el.classList.add("selected");
    panel.dataset.station = code;
    document.getElementById("panel-empty").hidden = true;
    document.getElementById("panel-body").hidden = false;
    document.getElementById("panel-title").textContent = station.data.name;
    const link = document.getElementById("panel-link");
    link.replaceChildren();
    const kind = station.data.kind.charAt(0).toUpperCase() + station.data.kind.slice(1);
    if (station.data.own) {
      const a = text("a", "Open its station page");
      a.href = "/stations/" + encodeURIComponent(code) + "/";
      link.append(kind + " · yours · ", a);
    } else {
      link.textContent = kind + " · not one of your stations";
    }
    fillShipments(code);
    const stock = document.getElementById("panel-stock");
    const trades = document.getElementById("panel-trades");
    stock.replaceChildren(text("p", "…"));
    trades.replaceChildren();
    const credits = document.getElementById("panel-credits");
    credits.textContent = "…";
    const [inventory, recent, account] = await Promise.all([
      fetch("/api/inventory/" + encodeURIComponent(code) + "/", { credentials: "same-origin" }),
      fetch("/api/trades/?station=" + encodeURIComponent(code) + "&page_size=8", { credentials: "same-origin" }),
      fetch("/api/accounts/" + encodeURIComponent(code) + "/", { credentials: "same-origin" }),
    ]);
    if (selected !== code) return;
    if (account.ok) {
      const a = await account.json();
      const cr = (v) => Number(v).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 }) + " cr";
      credits.textContent = "Balance " + cr(a.balance) + " · held " + cr(a.held) + " · available " + cr(a.available);
      credits.dataset.available = a.available;
    } else {
      credits.textContent = "Not yours to see: only its operators and dispatch staff read its credits.";
    }
    if (inventory.ok) {
      const body = await inventory.json();
      const table = document.createElement("table");
      const head = table.createTHead().insertRow();
      ["Commodity", "On hand", "Incoming"].forEach((h) => head.appendChild(text("th", h)));
      const rows = table.createTBody();
      body.items.forEach((item) => {
        const row = rows.insertRow();
        row.dataset.commodity = item.commodity;
        const commodity = commodities.get(item.commodity);
        [commodity ? commodity.name : item.commodity, TradeNet.quantity(item.on_hand, commodity), TradeNet.quantity(item.incoming, commodity)]
          .forEach((v) => row.appendChild(text("td", v)));
      });
      stock.replaceChildren(table);
    } else {
      stock.replaceChildren(text("p", "Not yours to see: only its operators and dispatch staff read its stock."));
    }
    const results = recent.ok ? (await recent.json()).results : [];
    trades.replaceChildren(...(results.length ? results.map((t) => {
      const item = text("li", nameOf(t.seller) + " → " + nameOf(t.buyer) + ": " +
        t.items.map((i) => amount(i.quantity, i.commodity)).join(", ") + " (" + t.status.replace("_", " ") + ")");
      item.title = t.transaction_id;
      item.dataset.panelTrade = t.transaction_id;
      return item;
    }) : [text("li", "No trades of yours with it.")]));
  }
  document.getElementById("panel-close").addEventListener("click", () => {
    document.getElementById("panel-empty").hidden = false;
    document.getElementById("panel-body").hidden = true;
    delete panel.dataset.station;
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
  loadState(state);
  setInterval(refresh, 1000);
  connect();
})();
