"""The event log: committed outbox rows moved into the public log by the one active relay,
numbered there; NOTIFY telling every process; the single-active worker base. The only package
that touches django-eventstream (`eventstream` is its one adapter)."""
