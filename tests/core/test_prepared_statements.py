"""Straight to PostgreSQL, a trade's statements are planned once per connection (bound on the
server, prepared after 5 runs); through a transaction pooler they are bound on the server too,
but nothing is prepared, as a pooled server connection is another client's next."""

from __future__ import annotations

import pytest
from django.db import connection

from inventory.models import Station
from tests.deploy.test_deployment import SECRET, manage, production_env

READ_OPTIONS = (
    "from django.conf import settings; o = settings.DATABASES['default']['OPTIONS']; "
    "print(o.get('server_side_binding'), o.get('prepare_threshold'))"
)


@pytest.mark.django_db
def test_a_statement_run_five_times_on_a_direct_connection_is_prepared():
    for _ in range(6):
        list(Station.objects.filter(code="ceres-prime").only("name"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any(
        text.startswith('SELECT "inventory_station"."id", "inventory_station"."name"')
        for text in prepared
    ), prepared


def test_direct_connections_bind_on_the_server_and_prepare():
    env = production_env(
        DATABASE_URL="postgres://nobody@127.0.0.1:1/none", DJANGO_SECRET_KEY=SECRET
    )
    env.pop("DATABASE_DIRECT_URL", None)
    done = manage("shell", "-c", READ_OPTIONS, env=env)
    assert done.stdout.strip().splitlines()[-1] == "True 5", done.stderr


def test_behind_a_pooler_parameters_are_bound_on_the_server_and_nothing_is_prepared():
    env = production_env(
        DATABASE_URL="postgres://nobody@127.0.0.1:1/pooled",
        DATABASE_DIRECT_URL="postgres://nobody@127.0.0.1:2/direct",
        DJANGO_SECRET_KEY=SECRET,
    )
    done = manage("shell", "-c", READ_OPTIONS, env=env)
    assert done.stdout.strip().splitlines()[-1] == "True None", done.stderr


@pytest.mark.django_db
def test_a_list_page_is_planned_for_its_filters_every_time(api, dispatcher, stocked_ceres, vesta):
    # A generic plan (what a prepared statement gets after its fifth run) walks every
    # shipment of a status to find none of one station; the list's query is never prepared,
    # while the statements of a write on the same connection still are.
    client = api(dispatcher)
    for status in ("pending", "in_transit", "lost", "delivered", "cancelled", "lost", "pending"):
        answer = client.get(f"/api/cargo/?station=ceres-prime&status={status}")
        assert answer.status_code == 200, answer.json()
    for _ in range(6):
        list(Station.objects.filter(code="ceres-prime").only("name"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert not [text for text in prepared if 'FROM "cargo_cargo"' in text], prepared
    assert any('"inventory_station"."name"' in text for text in prepared), prepared
