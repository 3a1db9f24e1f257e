"""A database migrated while the base app was the project package `tradenet` (its migrations
recorded as ("tradenet", ...), its content type labelled `tradenet`) migrates to `core`
without touching the outbox: core's migrations count as applied, the content type (and so any
permission granted on it) is carried over, and nothing is made twice."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from tests.deploy.test_deployment import SECRET, manage, production_env
from tests.servers import database_url_of_tests

pytestmark = pytest.mark.slow  # manage.py migrate as a process, twice


def server_url(dbname: str) -> str:
    """`dbname` on the tests' own server (the embedded one's socket directory, or a host)."""
    return database_url_of_tests().rsplit("/", 1)[0] + f"/{dbname}"


@pytest.fixture
def scratch_database():
    name = f"tn_upgrade_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield server_url(name)
    with psycopg.connect(server_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def migrate(url: str) -> None:
    env = production_env(DATABASE_URL=url, DJANGO_SECRET_KEY=SECRET)
    done = manage("migrate", "--no-input", env=env)
    assert done.returncode == 0, done.stdout + done.stderr


def as_before_the_move(db) -> int:
    """The database as the last release before the move left it; the outbox's content type."""
    db.execute("DELETE FROM django_migrations WHERE app = 'core'")
    db.execute("UPDATE django_content_type SET app_label = 'tradenet' WHERE app_label = 'core'")
    db.execute("INSERT INTO tradenet_outbox (type, data) VALUES ('inventory.changed', '{}')")
    [(content_type,)] = db.execute(
        "SELECT id FROM django_content_type WHERE app_label = 'tradenet'"
    ).fetchall()
    return content_type


def test_a_database_of_the_tradenet_app_migrates_to_core_keeping_its_rows(scratch_database):
    migrate(scratch_database)
    with psycopg.connect(scratch_database, autocommit=True) as db:
        recorded = db.execute("SELECT name FROM django_migrations WHERE app = 'tradenet'")
        assert len(recorded.fetchall()) == 3  # what a database of the old layout holds
        content_type = as_before_the_move(db)

    migrate(scratch_database)

    with psycopg.connect(scratch_database, autocommit=True) as db:
        core = db.execute("SELECT name FROM django_migrations WHERE app = 'core' ORDER BY name")
        assert [name for (name,) in core] == [
            "0001_initial", "0002_planner_costs", "0003_no_parallel_queries",
            "0004_content_types_from_tradenet",
        ]  # fmt: skip
        labels = db.execute(
            "SELECT id, app_label FROM django_content_type WHERE model = 'outboxevent'"
        ).fetchall()
        assert labels == [(content_type, "core")]
        assert db.execute("SELECT count(*) FROM tradenet_outbox").fetchone() == (1,)
