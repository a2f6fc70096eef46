"""MkDocs hook: the repository's own files that the documentation links to, put into the site.

A page links to `../schedule.yaml` or `../LICENSE` so that the link works where the Markdown is read as it is
(the forge, an editor). MkDocs knows only the files under docs/, and warns about such a link (which --strict
makes an error), so this hook adds each file of the repository that a page links to outside docs/ to the site
under `repository/`, and points the link there. Such a file that is Markdown itself (THIRD-PARTY.md) is a page
of the site, outside the navigation, whose own links (written from the repository's top) are pointed likewise.
A link to a file that does not exist, or that leaves the repository, is left alone, so MkDocs still reports it.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

IN_SITE = "repository"
# A Markdown link's or an <img>'s relative target: no scheme (no colon), not an anchor on its own page.
_LINK = re.compile(r"(\]\(|src=\")(?P<target>[^)\"#\s:]+)")


def _source_dir(docs_dir: Path, src_uri: str) -> Path:
    """Where a page's relative links start: its folder in docs/, or in the repository for a file brought in."""
    if src_uri.startswith(IN_SITE + "/"):
        return docs_dir.parent / posixpath.dirname(src_uri.removeprefix(IN_SITE + "/"))
    return docs_dir / posixpath.dirname(src_uri)


def _in_site(docs_dir: Path, src_uri: str, target: str) -> str | None:
    """Where the target of a link of a page is in the site, if it must be pointed elsewhere: a file of the
    repository outside docs/ (under repository/), or, from a file brought in, a page of docs/."""
    root, docs = docs_dir.parent.resolve(), docs_dir.resolve()
    path = (_source_dir(docs_dir, src_uri) / target).resolve()
    if not path.exists() or not path.is_relative_to(root):
        return None
    if path.is_relative_to(docs):
        return path.relative_to(docs).as_posix() if src_uri.startswith(IN_SITE + "/") else None
    return f"{IN_SITE}/{path.relative_to(root).as_posix()}" if path.is_file() else None


def _links(docs_dir: Path, src_uri: str, text: str) -> set[str]:
    return {found for m in _LINK.finditer(text) if (found := _in_site(docs_dir, src_uri, m["target"])) is not None}


def on_files(files: Files, config: MkDocsConfig) -> Files:
    docs_dir = Path(config.docs_dir)
    pages = [(p.src_uri, Path(p.abs_src_path or "")) for p in files.documentation_pages()]
    added: set[str] = set()
    while pages:  # a Markdown file brought in may link to more of the repository
        src_uri, path = pages.pop()
        for found in sorted(_links(docs_dir, src_uri, path.read_text(encoding="utf-8")) - added):
            if not found.startswith(IN_SITE + "/") or files.get_file_from_path(found) is not None:
                continue
            added.add(found)
            source = docs_dir.parent / found.removeprefix(IN_SITE + "/")
            files.append(File.generated(config, found, abs_src_path=str(source)))
            if found.endswith(".md"):
                pages.append((found, source))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, **_: Any) -> str:
    docs_dir = Path(config.docs_dir)
    here = posixpath.dirname(page.file.src_uri) or "."

    def point(match: re.Match[str]) -> str:
        found = _in_site(docs_dir, page.file.src_uri, match["target"])
        return match[0] if found is None else match[1] + posixpath.relpath(found, here)

    return _LINK.sub(point, markdown)
