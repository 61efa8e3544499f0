"""The documentation's links: every relative link in README.md, docs/ and bench/README.md points at
a file of the repository, and every #anchor at a heading of that file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def pages() -> list[Path]:
    return [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def anchors(page: Path) -> set[str]:
    """The heading anchors that GitHub and mkdocs both give a page: lower case, punctuation
    dropped, spaces as hyphens (GitHub keeps runs of hyphens, mkdocs joins them: an anchor must
    read the same in both)."""
    found, code = set(), False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            code = not code
        m = re.match(r"^#+ (.*)", line)
        if m and not code:
            words = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower())
            github, mkdocs = words.replace(" ", "-"), re.sub(r"[-\s]+", "-", words)
            if github == mkdocs:
                found.add(github)
    return found


def links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return [m.group(1) for m in LINK.finditer(text)]


def test_the_docs_have_their_pages():
    names = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    for name in ("index.md", "architecture.md", "deployment.md", "performance.md", "scaling.md",
                 "tasks/classification.md", "tasks/multilabel.md", "tasks/restoration.md", "tasks/video.md",
                 "tasks/generation.md", "tasks/detection.md"):
        assert name in names


def test_readme_is_short_and_links_every_task_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    assert "make demo" in readme and "make test" in readme
    for page in (ROOT / "docs" / "tasks").glob("*.md"):
        assert f"docs/tasks/{page.name}" in readme


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page):
    broken = []
    for target in links(page):
        if re.match(r"^[a-z]+:", target):  # http(s), mailto: not checked offline
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert broken == [], f"broken links in {page.relative_to(ROOT)}:\n" + "\n".join(broken)


def test_the_link_check_finds_a_broken_link(tmp_path):
    page = tmp_path / "a.md"
    page.write_text("# Title\n\n## Run `--task gan`\n\nsee [b](b.md) and [here](#title) and [gone](#nothing)\n")
    assert links(page) == ["b.md", "#title", "#nothing"]
    assert anchors(page) == {"title"}  # run---task-gan on GitHub, run-task-gan on mkdocs: neither is safe
