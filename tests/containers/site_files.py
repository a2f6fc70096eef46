"""The site's files for Asterisk exactly as the documentation's "With Docker Compose" (docs/deploying.md) gives
them, so that page and test cannot drift: its docker-compose.override.yml (the mounts' container side as
written) and its inbound context (the `ini` snippet, verbatim). Only the host side of each mount is this
test's: the site's pjsip.conf is CI's test phones (deploy/ci/pjsip.conf), its extensions_site.conf the page's
snippet.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.conftest import ROOT

CI_PJSIP = ROOT / "deploy" / "ci" / "pjsip.conf"


def deploying() -> str:
    page = (ROOT / "docs" / "deploying.md").read_text(encoding="utf-8")
    start = page.index("\n## With Docker Compose\n")
    return page[start : page.index("\n#", start + 1)]


def snippet(language: str) -> str:
    """The one ```language block of the page's "With Docker Compose"."""
    blocks = re.findall(rf"^```{language}\n(.*?)^```$", deploying(), flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1, (
        f"docs/deploying.md's With Docker Compose should have one {language} block, has {len(blocks)}"
    )
    return str(blocks[0])


def inbound_context() -> str:
    """The context the page's snippet defines: CI's citizen phone must call from it."""
    [name] = re.findall(r"^\[([^\]]+)\]", snippet("ini"), flags=re.MULTILINE)
    return str(name)


def write_override(folder: Path) -> Path:
    """The page's override, with the host side of each mount where this test keeps the site's files."""
    (folder / "extensions_site.conf").write_text(snippet("ini"), encoding="utf-8")
    hosts = {"pjsip.conf": CI_PJSIP, "extensions_site.conf": folder / "extensions_site.conf"}
    override = yaml.safe_load(snippet("yaml"))
    mounts = override["services"]["asterisk"]["volumes"]
    for i, mount in enumerate(mounts):
        host, rest = mount.split(":", 1)
        assert Path(host).name in hosts, f"docs/deploying.md mounts {host}, which this test has no file for"
        mounts[i] = f"{hosts[Path(host).name]}:{rest}"
    assert len(mounts) == len(hosts), mounts
    path = folder / "docker-compose.override.yml"
    path.write_text(yaml.safe_dump(override), encoding="utf-8")
    return path
