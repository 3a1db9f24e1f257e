"""The admin of `updates`, found here by Django's autodiscovery: the webhooks' own, in their
sub-package (the streams and the exporters have nothing for operators to edit)."""

from updates.integrations.webhooks import admin as webhooks_admin

__all__ = ["webhooks_admin"]
