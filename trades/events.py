"""The trades', proposals' and agreements' event types (core.events.register)."""

from core.events import register

TRADE = (
    "transaction_id", "status", "seller", "buyer", "items", "total", "terms", "agreement",
    "settlement", "shipment_id",
)  # fmt: skip
PROPOSAL = (
    "proposal_id", "status", "seller", "buyer", "proposed_by_side", "terms", "items", "total",
    "expires_at", "transaction_id",
)  # fmt: skip
AGREEMENT = (
    "agreement_id", "buyer", "seller", "commodities", "max_unit_price", "max_trade_total",
    "max_outstanding", "allow_buyer_risk", "expires_at", "revoked_at",
)  # fmt: skip

# After the stock, credits and shipment a trade refers to, so a client that sees the trade has
# seen them.
TRADE_INITIATED = register("trade.initiated", rank=40, payload=TRADE)
TRADE_STATUS_CHANGED = register(
    "trade.status_changed", rank=41, payload=(*TRADE, "previous_status")
)
# A proposal's answer after the trade it placed; an agreement's change on its own.
PROPOSAL_CREATED = register("proposal.created", rank=50, payload=PROPOSAL)
PROPOSAL_ACCEPTED = register("proposal.accepted", rank=51, payload=PROPOSAL)
PROPOSAL_DECLINED = register("proposal.declined", rank=52, payload=PROPOSAL)
PROPOSAL_WITHDRAWN = register("proposal.withdrawn", rank=53, payload=PROPOSAL)
PROPOSAL_EXPIRED = register("proposal.expired", rank=54, payload=PROPOSAL)
AGREEMENT_GRANTED = register("agreement.granted", rank=60, payload=AGREEMENT)
AGREEMENT_REVOKED = register("agreement.revoked", rank=61, payload=AGREEMENT)
