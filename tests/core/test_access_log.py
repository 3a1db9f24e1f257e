"""The access log: one JSON line per request naming the signed-in user, but only a user the
request itself looked up; a log line never makes a query of its own (with the database away,
that query turned a 503 page into a 500)."""

from __future__ import annotations

import logging

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.helpers import token_header

pytestmark = pytest.mark.django_db


@pytest.fixture
def access_lines(caplog):
    caplog.set_level(logging.INFO, logger="tradenet.access")

    def lines():
        return [r for r in caplog.records if r.name == "tradenet.access"]

    return lines


def test_an_api_request_with_a_token_is_logged_with_its_user(client, ceres_op, access_lines):
    response = client.get("/api/stations/", headers=token_header(ceres_op))
    assert response.status_code == 200
    (line,) = access_lines()
    assert line.user == "ceres-op"
    assert line.status == 200


def test_a_page_read_in_a_session_is_logged_with_its_user(client, dispatcher, access_lines):
    client.force_login(dispatcher)
    assert client.get("/admin/").status_code == 200
    assert access_lines()[-1].user == "dispatch"


def test_an_anonymous_request_is_logged_without_a_user(client, access_lines):
    assert client.get("/api/stations/").status_code in (401, 403)
    assert access_lines()[-1].user is None


def test_a_request_that_never_reads_its_user_logs_none_and_asks_the_database_nothing_for_it(
    client, dispatcher, access_lines
):
    client.force_login(dispatcher)  # a session cookie that an API 404 has no reason to read
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/no-such-thing/").status_code == 404
    assert access_lines()[-1].user is None
    assert not [q for q in queries if "auth_user" in q["sql"] or "django_session" in q["sql"]]
