-- wrk: one-line trades from a random seller to a random other buyer (filled in by
-- trade_throughput.py: as dispatch staff both lists are every station).
math.randomseed(os.time())
local sellers = {sellers}
local buyers = {buyers}
local commodities = {commodities}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Token {token}"
request = function()
  local s = sellers[math.random(#sellers)]
  local b = buyers[math.random(#buyers)]
  while b == s do b = buyers[math.random(#buyers)] end
  local c = commodities[math.random(#commodities)]
  local body = string.format(
    '{{"seller": "%s", "buyer": "%s", "items": [{{"commodity": "%s", "quantity": 1, "unit_price": "1.00"}}]}}',
    s, b, c)
  return wrk.format(nil, "/api/trades/", nil, body)
end
