"""Asterisk's description of ARI, served under /ari/api-docs/ as Asterisk 22.10 serves it (res_ari.c,
ast_ari_get_docs), so that clients that build themselves from it (asyncari, npm's ari-client) connect.

The files are Asterisk's own (GPL-2.0, see rest_api/README.md), shipped with the simulator; a site may
serve its own Asterisk's instead (`--api-docs DIR`, its rest-api directory).
"""

from __future__ import annotations

import json
from pathlib import Path

from asterisk_sim.answers import AriFault, Json

SHIPPED = Path(__file__).with_name("rest_api")


def api_document(folder: Path, name: str, host: str | None) -> Json:
    """One file of the description, with `basePath` pointing at the asker's view of this server: the
    request's Host, as Asterisk writes it (without a Host, Asterisk drops basePath)."""
    root = folder.resolve()
    path = (root / name).resolve()
    if not name or not path.is_relative_to(root) or not path.is_file():
        raise AriFault(404, "Resource not found")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise AriFault(500, "Yikes! Cannot parse resource") from None  # Asterisk's words for a broken file
    if isinstance(document, dict) and "basePath" in document:
        if host:
            document["basePath"] = f"http://{host}/ari"
        else:
            del document["basePath"]
    return document  # type: ignore[no-any-return]
