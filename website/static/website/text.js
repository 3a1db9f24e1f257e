// Quantities with their unit, in English, as the server writes them (core/text.py):
// "1 crate", "100 crates", "2,500 units", "250 t". The plural of each unit comes from the
// server with the commodity ({unit, units}: the one rule of English is Python's); here only
// which of the two a number takes. Every page script writes quantities through this.
(function () {
  "use strict";
  function quantity(count, commodity) {
    const number = Number(count);
    const unit = commodity ? (Math.abs(number) === 1 ? commodity.unit : commodity.units || commodity.unit) : "";
    return number.toLocaleString() + (unit ? " " + unit : "");
  }
  window.TradeNet = Object.assign(window.TradeNet || {}, { quantity });
})();
