from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection

from tests.packages import PACKAGES


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


def test_the_development_file_is_read_unless_debug_is_set_off(tmp_path, monkeypatch):
    """tradenet/devenv.py: what `make run` writes lets manage.py run in a plain shell; with
    DJANGO_DEBUG set off (production) it is never read; the environment wins over it."""
    import os

    from tradenet import devenv

    monkeypatch.setenv("TRADENET_ENV_FILE", str(tmp_path / ".env.development"))
    written = devenv.ensure()
    assert oct(written.stat().st_mode & 0o777) == "0o600"
    key = next(line for line in written.read_text().splitlines() if line.startswith("DJANGO_SE"))
    assert devenv.ensure().read_text().count(key) == 1  # written once, then kept

    for name in ("DJANGO_DEBUG", "DJANGO_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert devenv.load()
    assert os.environ["DJANGO_DEBUG"] == "1"
    assert os.environ["DJANGO_SECRET_KEY"] == key.split("=", 1)[1]

    monkeypatch.setenv("DJANGO_SECRET_KEY", "from-the-shell")
    devenv.load()
    assert os.environ["DJANGO_SECRET_KEY"] == "from-the-shell"

    monkeypatch.delenv("DJANGO_SECRET_KEY")
    monkeypatch.setenv("DJANGO_DEBUG", "0")
    assert not devenv.load()
    assert "DJANGO_SECRET_KEY" not in os.environ


def test_the_readme_lists_every_section_and_documents_port_and_host():
    """README.md's contents link every ## and ### heading, and nothing else."""
    import re

    from tests.servers import ROOT

    text = (ROOT / "README.md").read_text()
    contents = text.split("## Contents", 1)[1].split("\n## ", 1)[0]
    linked = re.findall(r"- \[(.+?)\]\(#([\w-]+)\)", contents)
    body = re.sub(r"```.*?```", "", text.split("## Contents", 1)[1], flags=re.S)
    headings = re.findall(r"^#{2,3} (.+)$", body, flags=re.M)

    def anchor(title: str) -> str:
        return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")

    assert [title for title, _ in linked] == headings
    assert all(link == anchor(title) for title, link in linked)
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "`PORT`" in quick_start and "`HOST`" in quick_start


def test_no_module_of_the_project_imports_itself_back():
    """No import circle anywhere (imports inside functions count too): grimp, import-linter's
    own graph of the project."""
    import grimp

    graph = grimp.build_graph(*PACKAGES)
    circles = sorted(
        {
            tuple(sorted((module, imported)))
            for module in graph.modules
            for imported in graph.find_modules_directly_imported_by(module)
            if graph.chain_exists(importer=imported, imported=module)
        }
    )
    assert circles == []


def test_no_module_outside_migrations_and_settings_exceeds_400_lines():
    from tests.servers import ROOT

    long = {
        str(path.relative_to(ROOT)): lines
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts and not path.name.startswith("settings")
        if (lines := len(path.read_text().splitlines())) > 400
    }
    assert long == {}


def test_no_function_outside_migrations_exceeds_60_lines():
    """No function or method of the project's packages spans more than 60 lines, from its
    `def` to its last line (decorators not counted; a nested function counts within the one
    around it, and on its own). A longer one is split into named steps. Their complexity is
    ruff's to hold: C901 and PLR0915, with the limits in pyproject.toml."""
    import ast

    from tests.servers import ROOT

    long = {
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name}": length
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        if (length := node.end_lineno - node.lineno + 1) > 60
    }
    assert long == {}


def test_the_quicker_loop_leaves_out_the_cluster_the_browser_and_the_processes():
    """`make test-fast` (docs/testing.md#a-quicker-loop) selects no test of
    tests/deploy/cluster, none that drives Chromium and none that starts a server, yet most of
    the suite."""
    import subprocess
    import sys

    from tests.servers import ROOT

    def collected(*marker: str) -> set[str]:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
             *marker],
            cwd=ROOT, capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return {line for line in done.stdout.splitlines() if "::" in line}

    everything = collected()
    quick = collected("-m", "not cluster and not browser and not slow")
    assert quick and not any(test.startswith("tests/deploy/cluster/") for test in quick)
    assert collected("-m", "cluster") == {
        t for t in everything if t.startswith("tests/deploy/cluster/")
    }
    browser = collected("-m", "browser")
    assert browser and not quick & browser
    assert "tests/tradenet/test_api_live.py::test_main_flow_over_http" not in quick  # api_server
    assert "tests/core/test_pgbouncer.py" not in {test.split("::")[0] for test in quick}
    assert len(quick) > len(everything) / 2


# How many modules mypy still excuses (docs/testing.md#lint-and-types): 32 when it came in. The
# figure only goes down: a module fixed leaves the list, and this figure follows it.
MYPY_EXCUSED = 32


def test_the_modules_mypy_excuses_only_shrink():
    """pyproject.toml's `[[tool.mypy.overrides]]` with `ignore_errors` names the modules mypy does
    not check yet. None is added; each named exists, and the services are never among them."""
    from tests.packages import PYPROJECT, ROOT

    overrides = PYPROJECT["tool"]["mypy"]["overrides"]
    [excused] = [override["module"] for override in overrides if override.get("ignore_errors")]
    assert len(excused) <= MYPY_EXCUSED, (
        f"{len(excused)} modules excused from mypy, more than {MYPY_EXCUSED}: the list only "
        "shrinks. Make the module pass mypy instead of excusing it."
    )
    assert len(excused) == MYPY_EXCUSED, (
        f"{MYPY_EXCUSED - len(excused)} module(s) fewer excused from mypy: well done. Lower "
        f"MYPY_EXCUSED in tests/test_project.py to {len(excused)}, so that the list stays short."
    )
    assert len(set(excused)) == len(excused), "a module excused twice"
    missing = [
        module
        for module in excused
        if module.split(".")[0] not in PACKAGES
        or not (
            (path := ROOT / module.replace(".", "/")).with_suffix(".py").exists()
            or (path / "__init__.py").exists()
        )
    ]
    assert missing == [], f"excused from mypy but no module of the project: {missing}"
    [strict] = [
        override["module"] for override in overrides if override.get("disallow_untyped_defs")
    ]
    assert not set(excused) & set(strict), "the services are checked, never excused"
