"""`callrouter users add|password|remove|list|phone`: the console's accounts, in the data directory.

A password is read from standard input (the first line), never from the command line, where `ps`
and the shell's history would show it. At a terminal it is asked for twice, without echo.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING

from router.cli.common import Commands, UsageError, site_store
from router.office.roles import ROLES

if TYPE_CHECKING:
    from router.office.accounts import AccountStore


def register(commands: Commands) -> None:
    users = commands.add_parser("users", help="the web console's accounts: add, password, remove, list, phone")
    users.add_argument("action", choices=["add", "password", "remove", "list", "phone"])
    users.add_argument("name", nargs="?", help="the user's name (for add, password, remove, phone)")
    users.add_argument(
        "phone", nargs="?", help="for phone: the staff member's own phone, PJSIP/<endpoint>, or none to untie it"
    )
    users.add_argument(
        "--role", choices=ROLES, help="for add: staff (handle messages) or operator (also open and close the line)"
    )
    users.set_defaults(command=_users)


def _users(args: argparse.Namespace) -> int:
    from router.office.accounts import AccountError, AccountStore  # argon2 and the store: loaded when used

    site = site_store(args, must_exist=False)
    store = AccountStore(site)
    try:
        if args.action == "list":
            for user in store.users():
                print(f"{user.name}\t{user.role}\t{user.phone or '-'}")
            return 0
        if not args.name:
            raise UsageError(f"users {args.action}: give the user's name")
        if args.action == "phone":
            return _phone(store, args.name, args.phone)
        if args.phone is not None:
            raise UsageError(f"users {args.action}: unexpected {args.phone!r}")
        if args.action == "remove":
            store.remove_user(args.name)
            print(f"user {args.name} removed (and signed out)")
            return 0
        if args.action == "add" and not args.role:
            raise UsageError("users add: give --role staff or --role operator")
        password = _read_password()
        if args.action == "add":
            store.add_user(args.name, args.role, password)
            print(f"user {args.name} added as {args.role}")
        else:
            store.set_password(args.name, password)
            print(f"password of {args.name} changed (and signed out everywhere)")
        return 0
    except AccountError as e:
        raise UsageError(str(e)) from None
    finally:
        site.close()


def _phone(store: AccountStore, name: str, phone: str | None) -> int:
    if phone is None:
        raise UsageError("users phone: give the phone, e.g. PJSIP/agent1, or none")
    store.set_phone(name, None if phone == "none" else phone)
    print(f"{name} has no phone" if phone == "none" else f"{name}'s phone is {phone}")
    return 0


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise UsageError("the two passwords differ")
        return first
    line = sys.stdin.readline()
    if not line:
        raise UsageError("no password on standard input (e.g. printf '%s\\n' \"$PW\" | callrouter users add ...)")
    return line.rstrip("\r\n")
