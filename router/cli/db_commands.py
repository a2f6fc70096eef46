"""db: the office's database (the embedded file, or CALLROUTER_DATABASE's PostgreSQL)."""

from __future__ import annotations

import argparse

from router.cli.common import Commands, UsageError, data_dir, site_store
from router.office.site_files import has_embedded_data


def register(commands: Commands) -> None:
    db = commands.add_parser(
        "db",
        help="the office's database: upgrade its schema, or copy the embedded store into PostgreSQL",
        description=(
            "upgrade: bring the schema to this router's (routers and commands also do it at start). "
            "copy: put every row of the data directory's embedded store (and older files) into the "
            "PostgreSQL database of CALLROUTER_DATABASE; rows it has already are kept, so it can be run again. "
            "status: which database, at which schema."
        ),
    )
    db.add_argument("action", choices=["upgrade", "copy", "status"])
    db.set_defaults(command=_db)


def _db(args: argparse.Namespace) -> int:
    if args.action == "copy":
        return _copy(args)
    site = site_store(args, must_exist=False)  # opening it upgrades it
    try:
        print(f"{site.described}: schema {site.schema_revision()} (the newest this router knows)")
    finally:
        site.close()
    return 0


def _copy(args: argparse.Namespace) -> int:
    from router.office.data_copy import copy_store, open_site_store  # the store's libraries: when used
    from router.office.store import StoreConfig, StoreError

    try:
        target_config = StoreConfig.from_env()
    except StoreError as e:
        raise UsageError(str(e)) from None
    if target_config.url is None:
        raise UsageError("db copy copies into PostgreSQL: set CALLROUTER_DATABASE (and its password file)")
    directory = data_dir(args)
    if not has_embedded_data(directory):
        raise UsageError(f"no embedded store in {directory} to copy (is --data the router's data directory?)")
    embedded = open_site_store(StoreConfig(), directory)
    try:
        target = site_store(args, must_exist=False)
        try:
            added = copy_store(embedded, target)
        finally:
            target.close()
    finally:
        embedded.close()
    print(f"copied from {embedded.described} into {target_config.describe()}:")
    for table, count in added.items():
        print(f"  {table}: {count} new row(s)")
    return 0
