from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection


@pytest.mark.django_db
def test_models_and_migrations_agree():
    # Fails (SystemExit) when a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db
def test_tests_run_on_postgresql():
    assert connection.vendor == "postgresql"


def test_a_command_runs_before_the_metrics_directory_exists(tmp_path):
    """manage.py with the production environment's PROMETHEUS_MULTIPROC_DIR, before start.sh has
    made that directory, runs (it used to fail while configuring logging)."""
    import subprocess
    import sys

    from tests.servers import ROOT, server_env

    missing = tmp_path / "metrics" / "not-yet"
    env = {**server_env(), "PROMETHEUS_MULTIPROC_DIR": str(missing)}
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert missing.is_dir()
