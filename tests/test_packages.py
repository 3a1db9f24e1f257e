"""Every list of the project's packages agrees with the one in tests/packages.py (pyproject's
`root_packages`): a package left out of one of them fails here, not in a build or a check that
silently covers less."""

from __future__ import annotations

import re

from tests.packages import PACKAGES, PYPROJECT, ROOT


def test_every_package_of_the_tree_is_listed():
    found = {path.parent.name for path in ROOT.glob("*/__init__.py") if path.parent.name != "tests"}
    assert found == set(PACKAGES)


def test_setuptools_installs_every_package():
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    assert sorted(include) == sorted(f"{package}*" for package in PACKAGES)


def test_the_layers_contract_orders_every_package():
    contracts = PYPROJECT["tool"]["importlinter"]["contracts"]
    # The apps' layers (the other layers contract is inside `updates`).
    [layers] = [c["layers"] for c in contracts if "tradenet" in c.get("layers", ())]
    assert sorted(layers) == sorted(PACKAGES)


def test_only_the_log_touches_eventstream_is_said_of_every_package():
    [contract] = [
        c
        for c in PYPROJECT["tool"]["importlinter"]["contracts"]
        if "django_eventstream" in c.get("forbidden_modules", ())
    ]
    sources = contract["source_modules"]
    missing = [
        package
        for package in PACKAGES
        if not any(module == package or module.startswith(f"{package}.") for module in sources)
    ]
    assert missing == []


def test_the_image_copies_every_package_before_installing_them():
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    install = lines.index("RUN pip install .")
    copied = [
        match[1]
        for line in lines[:install]
        if (match := re.fullmatch(r"COPY (\w+) \./(\w+)", line)) and match[1] == match[2]
    ]
    assert sorted(copied) == sorted(PACKAGES)


# The tests of the repository as a whole, the only ones at the root of tests/.
REPOSITORY_GUARDS = {"test_docs.py", "test_inserts.py", "test_packages.py", "test_project.py"}


def test_the_tests_mirror_the_packages():
    """A package's tests are under tests/<package>/, a sub-package's under the same path below
    it (tests/updates/streams/ for updates/streams/), the deployment's under tests/deploy/; so a
    change's tests are found where its code is."""
    tests = ROOT / "tests"
    strays = []
    for module in sorted(tests.rglob("test_*.py")):
        folder = module.parent.relative_to(tests)
        if folder.parts == ():
            if module.name not in REPOSITORY_GUARDS:
                strays.append(str(module.relative_to(ROOT)))
        elif folder.parts[0] not in (*PACKAGES, "deploy") or not (ROOT / folder).is_dir():
            strays.append(str(module.relative_to(ROOT)))
    assert strays == []
