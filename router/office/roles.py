"""The console's roles, known without loading the account store (`callrouter users` lists them in its
help, which must not wait for the database libraries)."""

from __future__ import annotations

from typing import Literal

Role = Literal["staff", "operator"]
ROLES: tuple[Role, ...] = ("staff", "operator")
