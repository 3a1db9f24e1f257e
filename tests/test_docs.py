"""The documentation stays true to the tree: every path and anchor cited in the code or the
docs exists (a renamed module or heading fails here, not silently in a reader's hands)."""

from __future__ import annotations

import re

from tests.packages import PACKAGES, ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FOLDERS = (*PACKAGES, "deploy", "scripts", "bench", "tests")
CODE = [
    path
    for folder in FOLDERS
    for path in (ROOT / folder).rglob("*")
    if path.suffix in {".py", ".sh", ".html", ".js", ".css", ".lua", ".sql"}
    and "migrations" not in path.parts
] + [ROOT / "Makefile", ROOT / "pyproject.toml", ROOT / "docker-compose.yml", ROOT / "Dockerfile"]

CITED_PATH = re.compile(
    # Not in quotes: "website/map.html" in a view is a template's name, not a path.
    rf"(?<![\"'\w/])((?:{'|'.join((*FOLDERS, 'docs'))})"
    r"/[\w/.-]*\.(?:py|md|sh|yml|json|lua|sql|css|js|html))\b"
)
CITED_DOC = re.compile(r"\b(docs/[\w-]+\.md|README\.md)(#[\w-]+)?")
LINK = re.compile(r"\]\(([^)\s]+)\)")
PATH = re.compile(r"`((?:[\w.-]+/)+[\w.-]+\.(?:py|md|sh|yml|json|lua|sql|toml|css|js|html|png))`")


def anchors(markdown: str) -> set[str]:
    text = re.sub(r"```.*?```", "", markdown, flags=re.S)
    return {
        re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
        for title in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)
    }


def check(target: str, anchor: str | None, where: str, problems: list[str]) -> None:
    path = ROOT / target
    if not path.exists():
        problems.append(f"{where}: {target} does not exist")
    elif anchor and path.suffix == ".md" and anchor.lstrip("#") not in anchors(path.read_text()):
        problems.append(f"{where}: {target}{anchor}: no such heading")


def test_every_doc_page_and_anchor_cited_in_code_or_docs_exists():
    problems: list[str] = []
    for path in CODE + DOCS:
        for target, anchor in CITED_DOC.findall(path.read_text(errors="replace")):
            check(target, anchor or None, str(path.relative_to(ROOT)), problems)
    assert problems == [], "\n".join(problems)


def test_every_path_cited_in_the_code_exists():
    problems = [
        f"{path.relative_to(ROOT)}: {cited} does not exist"
        for path in CODE
        for cited in CITED_PATH.findall(path.read_text(errors="replace"))
        if not (ROOT / cited).exists()
    ]
    assert problems == [], "\n".join(problems)


def test_every_link_and_path_in_the_docs_exists():
    problems: list[str] = []
    for page in DOCS:
        text = page.read_text()
        where = str(page.relative_to(ROOT))
        for link in LINK.findall(text):
            if link.startswith(("http://", "https://", "mailto:")):
                continue
            target, _, anchor = link.partition("#")
            if not target:
                if anchor not in anchors(text):
                    problems.append(f"{where}: #{anchor}: no such heading")
                continue
            resolved = (page.parent / target).resolve().relative_to(ROOT)
            check(str(resolved), f"#{anchor}" if anchor else None, where, problems)
        for cited in PATH.findall(text):
            if not (ROOT / cited).exists():
                problems.append(f"{where}: `{cited}` does not exist")
    assert problems == [], "\n".join(problems)


def test_the_readme_is_an_index():
    assert len((ROOT / "README.md").read_bytes()) <= 15_000


def test_the_performance_page_is_a_reference():
    # Each benchmark's command, latest figures and spread; past rounds live in the commits.
    assert len((ROOT / "docs" / "performance.md").read_text().splitlines()) <= 300
