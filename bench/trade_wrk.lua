-- wrk: one-line trades between random stations (filled in by trade_throughput.py).
math.randomseed(os.time())
local stations = {stations}
local commodities = {commodities}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Token {token}"
request = function()
  local s = math.random(#stations)
  local b = math.random(#stations - 1)
  if b >= s then b = b + 1 end
  local c = commodities[math.random(#commodities)]
  local body = string.format(
    '{{"seller": "%s", "buyer": "%s", "items": [{{"commodity": "%s", "quantity": 1, "unit_price": "1.00"}}]}}',
    stations[s], stations[b], c)
  return wrk.format(nil, "/api/trades/", nil, body)
end
