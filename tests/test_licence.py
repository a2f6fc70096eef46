"""The licence a site adopts the project under, as the installed package declares it, and the note on
third-party material kept in step with what the package depends on."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_package_declares_the_eupl_and_carries_its_text() -> None:
    metadata = importlib.metadata.metadata("callrouter")
    assert metadata["License-Expression"] == "EUPL-1.2 AND GPL-2.0-only"  # with Asterisk's ARI description
    files = set(metadata.get_all("License-File") or [])
    assert {"LICENSE", "THIRD-PARTY.md", "asterisk_sim/rest_api/COPYING"} <= files
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("EUROPEAN UNION PUBLIC LICENCE v. 1.2\n")
    assert "GNU General Public License (GPL) v. 2, v. 3" in text  # the Appendix the simulator relies on
    gpl = (REPO / "asterisk_sim" / "rest_api" / "COPYING").read_text(encoding="utf-8")
    assert "GNU GENERAL PUBLIC LICENSE\n                       Version 2, June 1991" in gpl


def test_every_dependency_is_in_the_third_party_note() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {re.split(r"[\[<>=~!; ]", spec, maxsplit=1)[0] for spec in project["dependencies"]}
    note = (REPO / "THIRD-PARTY.md").read_text(encoding="utf-8").lower().replace("-", "")
    missing = sorted(n for n in names if n.lower().replace("-", "") not in note)
    assert not missing, f"THIRD-PARTY.md does not say under which licence these come: {missing}"
