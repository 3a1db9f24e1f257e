"""Who did something, as the records keep it."""

from __future__ import annotations


def user_or_none(actor):
    """The user to record as having acted: None for nobody or an anonymous caller."""
    return actor if actor is not None and actor.is_authenticated else None
