"""Signed webhooks: the committed events of an operator's stations, POSTed to their endpoints.

The package, one job per module: `security` (secrets, the target guard), `services` (every
write: registration, rotation, re-enabling, test events, redelivery), `selectors` (whose
endpoints and deliveries a user sees), `fanout` (log -> deliveries), `attempts` (what goes out
next, one signed POST and its record), `sender` (the sending worker), `api` (/api/webhooks/).

Two steps, each active in one process per deployment (the server's main process,
`tradenet.serve`, or every server process when served otherwise):

1. `WebhookFanout`, an exporter (`updates.integrations.exporters`): reads the event log after
   its position and writes one `WebhookDelivery` per matching endpoint, then advances the
   position. The rows are the durable queue: a crash before the position moved writes them
   again, and the unique (endpoint, message id) keeps one.
2. `WebhookSender`: POSTs due deliveries from one event loop, several at a time per endpoint
   but each station's events in the log's order (`choose`; a receiver that was down catches up
   in order), endpoints side by side, so one slow or dead endpoint never holds up the others or
   the relay. Each attempt is logged; a failure is retried on TRADENET_WEBHOOK_RETRY_SCHEDULE
   (with jitter); an endpoint with no success for TRADENET_WEBHOOK_DISABLE_AFTER_HOURS is
   disabled, and says why.

Signatures follow the Standard Webhooks specification (`standardwebhooks`): `webhook-id` is the
stream's event id (and the RabbitMQ `message_id`), `webhook-timestamp`, and `webhook-signature`
with one `v1,` HMAC-SHA256 per valid secret (two during a rotation's overlap).
"""
