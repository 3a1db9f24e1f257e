// The live feed: one EventSource, which reconnects by itself and sends Last-Event-ID, so the
// server replays whatever happened while the connection was down. It opens from the page's
// `history-from` id, so the recent history (as much of it as the user may see) comes first,
// then what happens next, newest on top, in station and commodity names.
(function () {
  "use strict";
  // The event types the feed shows, as the server lists them (website.galaxy.LIVE_FEED_EVENTS).
  const TYPES = JSON.parse(document.getElementById("event-types").textContent);
  const BADGES = { trade: "Trade", cargo: "Shipment", inventory: "Stock" };
  const TRADE_STATUS = { initiated: "initiated", in_transit: "in transit", completed: "completed", cancelled: "cancelled", failed: "failed (goods lost)" };
  const MOVEMENT = { initial: "opening stock", dispatch: "dispatch", arrival: "arrival", return: "return", write_off: "write-off", adjustment: "adjustment" };
  const MAX_ITEMS = 300;
  const feed = document.getElementById("feed");
  const statusBadge = document.getElementById("status");
  const notice = document.getElementById("notice");
  const filter = document.getElementById("station-filter");
  const names = JSON.parse(document.getElementById("names").textContent);
  const historyFrom = document.body.dataset.historyFrom;
  let source = null;

  function setStatus(state, text) {
    statusBadge.className = "status " + state;
    statusBadge.textContent = text;
    document.body.dataset.stream = state;
  }

  const station = (code) => names.stations[code] || code;
  const commodity = (code) => (names.commodities[code] || { name: code }).name;
  const quantity = (count, code) => TradeNet.quantity(count, names.commodities[code]);
  const amount = (count, code) => quantity(count, code) + " " + commodity(code);
  const when = (at) => new Date(at).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  const route = (e) => station(e.origin) + " → " + station(e.destination);

  function describe(type, e) {
    switch (type) {
      case "trade.initiated":
        return station(e.seller) + " sold " + e.items.map((i) => amount(i.quantity, i.commodity)).join(", ") +
          " to " + station(e.buyer) + " for " + Number(e.total).toLocaleString(undefined, { minimumFractionDigits: 2 }) + " cr";
      case "trade.status_changed":
        return "Trade " + station(e.seller) + " → " + station(e.buyer) + " " +
          (TRADE_STATUS[e.status] || e.status) + " (was " + (TRADE_STATUS[e.previous_status] || e.previous_status) + ")";
      case "cargo.created":
        return "Shipment booked " + route(e) + ", due " + when(e.eta);
      case "cargo.updated":
        switch (e.status) {
          case "in_transit":
            return "Shipment on its way " + route(e) + ", due " + when(e.eta) + (e.location_note ? " — " + e.location_note : "");
          case "delivered":
            return "Shipment delivered to " + station(e.destination) + " from " + station(e.origin);
          case "cancelled":
            return "Shipment " + route(e) + " cancelled; the goods are back at " + station(e.origin);
          case "lost":
            return "Shipment " + route(e) + " lost on its way";
          default:
            return "Shipment " + route(e) + " waiting to depart, due " + when(e.eta) + (e.location_note ? " — " + e.location_note : "");
        }
      case "inventory.changed":
        return station(e.station) + " · " + commodity(e.commodity) + ": " + quantity(e.on_hand, e.commodity) +
          " on hand, " + quantity(e.incoming, e.commodity) + " on its way (" + (MOVEMENT[e.kind] || e.kind) + ")";
      default:
        return JSON.stringify(e);
    }
  }

  function waiting(text) {
    const item = document.createElement("li");
    item.className = "waiting";
    item.textContent = text;
    feed.replaceChildren(item);
  }

  function render(type, message) {
    const event = JSON.parse(message.data);
    const waitingLine = feed.querySelector("li.waiting");
    if (waitingLine) waitingLine.remove();
    const item = document.createElement("li");
    item.dataset.type = type;
    item.dataset.eventId = message.lastEventId;
    if (event.transaction_id) item.dataset.transactionId = event.transaction_id;
    if (event.shipment_id) item.dataset.shipmentId = event.shipment_id;
    item.title = [event.transaction_id, event.shipment_id].filter(Boolean).join(" · ");
    const time = document.createElement("time");
    time.dateTime = event.published_at;
    time.textContent = new Date(event.published_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
    const badge = document.createElement("span");
    const family = type.split(".")[0];
    badge.className = "type " + family;
    badge.textContent = BADGES[family] || type;
    const text = document.createElement("span");
    text.className = "what";
    text.textContent = describe(type, event);
    item.append(time, badge, text);
    feed.prepend(item);
    while (feed.children.length > MAX_ITEMS) feed.lastElementChild.remove();
  }

  function connect() {
    if (source) source.close();
    const code = filter.value;
    const base = code ? "/api/updates/stations/" + encodeURIComponent(code) + "/" : "/api/updates/real-time/";
    // The first connection replays the history; reconnections send Last-Event-ID themselves.
    const url = base + (historyFrom ? "?lastEventId=" + encodeURIComponent(historyFrom) : "");
    setStatus("connecting", "connecting…");
    source = new EventSource(url, { withCredentials: true });
    source.onopen = () => {
      setStatus("live", "live");
      if (!feed.querySelector("li[data-type]")) {
        waiting(code ? "Nothing recent at " + station(code) + "; waiting for what happens next…"
                     : "Nothing recent at your stations; waiting for what happens next…");
      }
    };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        setStatus("closed", "disconnected — reload the page to sign in again");
      } else {
        setStatus("reconnecting", "reconnecting…");
      }
    };
    TYPES.forEach((type) => source.addEventListener(type, (message) => render(type, message)));
    source.addEventListener("stream-reset", () => {
      notice.hidden = false;
      notice.textContent = feed.querySelector("li[data-type]")
        ? "Some events were missed while disconnected and can no longer be replayed; the feed continues from now."
        : "Older history is no longer kept; the feed shows what happens from now.";
    });
  }

  filter.addEventListener("change", () => {
    waiting("Loading the recent history…");
    notice.hidden = true;
    connect();
  });
  connect();
})();
