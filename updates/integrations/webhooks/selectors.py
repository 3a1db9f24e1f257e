"""Whose webhook endpoints and deliveries a user sees: their own; dispatch staff every one. The
API, the admin and its delivery log all read through these."""

from __future__ import annotations

from django.db.models import QuerySet

from inventory.access import acts_for_all_stations
from updates.integrations.webhooks.models import WebhookDelivery, WebhookEndpoint


def endpoints_visible_to(user) -> QuerySet[WebhookEndpoint]:
    endpoints = WebhookEndpoint.objects.select_related("owner").prefetch_related("stations")
    return endpoints if acts_for_all_stations(user) else endpoints.filter(owner=user)


def deliveries_visible_to(user) -> QuerySet[WebhookDelivery]:
    deliveries = WebhookDelivery.objects.select_related("endpoint")
    if acts_for_all_stations(user):
        return deliveries
    return deliveries.filter(endpoint__owner=user)
