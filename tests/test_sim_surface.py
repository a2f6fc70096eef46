"""The simulated Asterisk serves the whole of Asterisk 22's ARI: every operation in Asterisk's own
description of it (the rest-api directory of the Asterisk the real tier runs) has a route in the
simulator, but for the few listed here with the reason. Whether each answers as Asterisk does is the
differential tier's question (tests/test_sim_fidelity.py); this one is that none is missing.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from asterisk_sim import Simulator
from tests import real_asterisk

REST_API = real_asterisk.ROOT / "usr/share/asterisk/rest-api"
# Operations the simulator leaves to its 404 "Resource not found", as the Asterisk it copies does.
NOT_SERVED = {
    # Debian builds Asterisk without res_mwi_external, and so without res_ari_mailboxes: its Asterisk
    # answers these 404 "Resource not found" (scenario mailboxes_are_not_in_this_build), as the simulator does.
    ("GET", "/mailboxes"),
    ("GET", "/mailboxes/{mailboxName}"),
    ("PUT", "/mailboxes/{mailboxName}"),
    ("DELETE", "/mailboxes/{mailboxName}"),
}


def operations(folder: Path) -> list[tuple[str, str]]:
    found = []
    for document in sorted(folder.glob("*.json")):
        for api in json.loads(document.read_text(encoding="utf-8")).get("apis", []):
            found += [(operation["httpMethod"], api["path"]) for operation in api.get("operations", [])]
    return found


async def served(app: web.Application, method: str, path: str) -> bool:
    # Each parameter of the path stands for a value of its own ("fid-x"), as a client would send one.
    concrete = re.sub(r"\{[^}]+\}", "fid-x", path)
    match = await app.router.resolve(make_mocked_request(method, f"/ari{concrete}", app=app))
    return match.http_exception is None


async def test_every_operation_of_asterisk_22s_ari_has_a_route() -> None:
    if not REST_API.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"no ARI description at {REST_API}: scripts/asterisk-root builds it")
        pytest.skip(f"no ARI description at {REST_API} (scripts/asterisk-root builds it)")
    app = Simulator().app()
    every = operations(REST_API)
    assert len(every) > 100, "Asterisk 22's ARI has over a hundred operations"
    missing = [f"{m} {p}" for m, p in every if (m, p) not in NOT_SERVED and not await served(app, m, p)]
    assert not missing, "operations the simulator does not serve:\n" + "\n".join(missing)
    stale = [f"{m} {p}" for m, p in NOT_SERVED if (m, p) not in every or await served(app, m, p)]
    assert not stale, "listed as not served, but served (or not in Asterisk 22): " + ", ".join(stale)
