-- The SQL of one trade, as the server sends it (see trade_throughput.py); {stations} and
-- {commodities} are filled in by the benchmark.
\set s random(1, {stations})
\set b 1 + (:s + random(0, {stations} - 2)) % {stations}
\set c random(1, {commodities})
SELECT t.digest, t.expiry, u.id, u.is_active FROM knox_authtoken t JOIN auth_user u ON u.id = t.user_id WHERE t.token_key = 'nosuchkey';
SELECT id, code FROM inventory_station WHERE id IN (:s, :b);
SELECT id, code FROM inventory_commodity WHERE id = :c;
BEGIN;
INSERT INTO trades_trade (transaction_id, seller_id, buyer_id, status, terms, created_by_id, placed_at, created_at, updated_at) VALUES ('txn-' || substr(md5(random()::text), 1, 16), :s, :b, 'initiated', 'seller_risk', 1, NULL, now(), now()) RETURNING id \gset trade_
INSERT INTO trades_tradeline (trade_id, commodity_id, quantity, unit_price) VALUES (:trade_id, :c, 1, 1.00) RETURNING id;
UPDATE trades_trade SET placed_at = now(), updated_at = now(), created_by_id = 1 WHERE id = :trade_id;
SELECT id, station_id, commodity_id, on_hand, incoming FROM inventory_stocklevel WHERE (station_id = :s AND commodity_id = :c) OR (station_id = :b AND commodity_id = :c) ORDER BY id FOR UPDATE;
UPDATE inventory_stocklevel SET on_hand = CASE WHEN station_id = :s THEN on_hand - 1 ELSE on_hand END, incoming = CASE WHEN station_id = :b THEN incoming + 1 ELSE incoming END, updated_at = now() WHERE (station_id = :s AND commodity_id = :c) OR (station_id = :b AND commodity_id = :c);
INSERT INTO inventory_stockmovement (station_id, commodity_id, bucket, delta, balance_after, kind, trade_id, shipment_id, actor_id, reason, created_at) VALUES (:s, :c, 'on_hand', -1, 1, 'dispatch', :trade_id, NULL, 1, '', now()), (:b, :c, 'incoming', 1, 1, 'dispatch', :trade_id, NULL, 1, '', now()) RETURNING id;
INSERT INTO cargo_cargo (shipment_id, trade_id, origin_id, destination_id, status, eta, location_note, departed_at, delivered_at, created_at, updated_at) VALUES ('shipment-' || :trade_id, :trade_id, :s, :b, 'pending', now() + interval '1 day', '', NULL, NULL, now(), now()) RETURNING id \gset cargo_
INSERT INTO cargo_trackingevent (cargo_id, from_status, to_status, note, actor_id, created_at) VALUES (:cargo_id, '', 'pending', 'shipment created', 1, now()) RETURNING id;
WITH locked AS (SELECT a.id, a.station_id, s.code, a.balance, a.held, a.incoming, a.credit_limit FROM credits_account a LEFT JOIN inventory_station s ON s.id = a.station_id WHERE a.station_id = ANY(ARRAY[:b, :s]::bigint[]) ORDER BY a.id FOR UPDATE OF a) SELECT max(id) FILTER (WHERE station_id = :b) AS bacct, max(id) FILTER (WHERE station_id = :s) AS sacct FROM locked \gset
WITH transfer AS (INSERT INTO credits_transfer (kind, status, debit_account_id, credit_account_id, amount, trade_id, memo, failure, idempotency_key, requested_by_id, request_fingerprint, created_at, resolved_at) VALUES ('trade', 'pending', :bacct, :sacct, 1.00, :trade_id, '', '', '', 1, '', now(), NULL) RETURNING id), accounts AS (UPDATE credits_account AS a SET balance = a.balance, held = a.held + v.held, incoming = a.incoming + v.incoming, credit_limit = a.credit_limit, updated_at = now() FROM transfer, (VALUES (:bacct::bigint, 1.00::numeric, 0.00::numeric), (:sacct::bigint, 0.00::numeric, 1.00::numeric)) AS v(id, held, incoming) WHERE a.id = v.id RETURNING a.id) INSERT INTO credits_entry (account_id, kind, transfer_id, balance_delta, held_delta, incoming_delta, balance_after, held_after, incoming_after, credit_limit_after, memo, actor_id, created_at) SELECT e.account, 'hold', transfer.id, 0, e.hd, e.idl, 1, 1, 1, 0, '', 1, now() FROM transfer, (VALUES (:bacct::bigint, 1.00::numeric, 0.00::numeric), (:sacct::bigint, 0.00::numeric, 1.00::numeric)) AS e(account, hd, idl) RETURNING transfer_id;
WITH written AS (INSERT INTO tradenet_outbox (type, data) VALUES ('inventory.changed', repeat('x', 200)), ('inventory.changed', repeat('x', 200)), ('account.changed', repeat('x', 230)), ('account.changed', repeat('x', 230)), ('cargo.created', repeat('x', 420)), ('trade.initiated', repeat('x', 480)) RETURNING 1) SELECT pg_notify('tradenet_outbox', '');
COMMIT;
