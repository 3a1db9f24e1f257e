// The live feed: one EventSource, which reconnects by itself and sends Last-Event-ID, so the
// server replays whatever happened while the connection was down.
(function () {
  "use strict";
  const TYPES = ["trade.initiated", "trade.status_changed", "cargo.created", "cargo.updated", "inventory.changed"];
  const MAX_ITEMS = 300;
  const feed = document.getElementById("feed");
  const statusBadge = document.getElementById("status");
  const notice = document.getElementById("notice");
  const filter = document.getElementById("station-filter");
  let source = null;

  function setStatus(state, text) {
    statusBadge.className = "status " + state;
    statusBadge.textContent = text;
    document.body.dataset.stream = state;
  }

  function describe(type, e) {
    switch (type) {
      case "trade.initiated": {
        const goods = e.items.map((i) => i.quantity + " " + i.commodity).join(", ");
        return e.transaction_id + ": " + e.seller + " → " + e.buyer + ", " + goods + " (" + e.total + " cr)";
      }
      case "trade.status_changed":
        return e.transaction_id + ": " + e.previous_status + " → " + e.status;
      case "cargo.created":
        return e.shipment_id + ": " + e.origin + " → " + e.destination + ", ETA " + new Date(e.eta).toLocaleString();
      case "cargo.updated":
        return e.shipment_id + ": " + e.status + (e.location_note ? " — " + e.location_note : "");
      case "inventory.changed":
        return e.station + " · " + e.commodity + ": on hand " + e.on_hand + ", incoming " + e.incoming + " (" + e.kind + ")";
      default:
        return JSON.stringify(e);
    }
  }

  function render(type, message) {
    const event = JSON.parse(message.data);
    const item = document.createElement("li");
    item.dataset.type = type;
    item.dataset.eventId = message.lastEventId;
    if (event.transaction_id) item.dataset.transactionId = event.transaction_id;
    if (event.shipment_id) item.dataset.shipmentId = event.shipment_id;
    const time = document.createElement("time");
    time.dateTime = event.published_at;
    time.textContent = new Date(event.published_at).toLocaleTimeString();
    const badge = document.createElement("span");
    badge.className = "type " + type.split(".")[0];
    badge.textContent = type;
    const text = document.createElement("span");
    text.textContent = describe(type, event);
    item.append(time, badge, text);
    feed.prepend(item);
    while (feed.children.length > MAX_ITEMS) feed.lastElementChild.remove();
  }

  function connect() {
    if (source) source.close();
    const station = filter.value;
    const url = station ? "/api/updates/stations/" + encodeURIComponent(station) + "/" : "/api/updates/real-time/";
    setStatus("connecting", "connecting…");
    source = new EventSource(url, { withCredentials: true });
    source.onopen = () => setStatus("live", "live");
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
      notice.textContent = "Some events were missed while disconnected and can no longer be replayed; the feed continues from now.";
    });
  }

  filter.addEventListener("change", () => {
    feed.replaceChildren();
    connect();
  });
  connect();
})();
