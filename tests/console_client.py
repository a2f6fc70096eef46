"""A signed-in (or not) visitor of the console, over real HTTP, for the tests without a browser.

Cookies are kept by hand, not by a cookie jar: the test wants to see their attributes, and a jar
would not send a Secure cookie over the plain HTTP of the tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

import aiohttp

from router.office.accounts import AccountStore
from tests.conftest import embedded

PASSWORDS = {"anna": "anna-har-en-lang-kode", "ole": "ole-er-operatoer-her"}


def make_accounts(data: Path) -> None:
    """anna (staff) and ole (operator) in the router's data directory."""
    with embedded(data) as site:
        store = AccountStore(site)
        store.add_user("anna", "staff", PASSWORDS["anna"])
        store.add_user("ole", "operator", PASSWORDS["ole"])


@dataclass
class Visitor:
    base: str
    session: aiohttp.ClientSession
    cookies: dict[str, str] = field(default_factory=dict)
    set_cookies: list[SimpleCookie] = field(default_factory=list)  # every Set-Cookie seen, parsed

    async def get(self, path: str) -> tuple[int, str, aiohttp.ClientResponse]:
        return await self._request("GET", path)

    async def post(self, path: str, form: dict[str, str]) -> tuple[int, str, aiohttp.ClientResponse]:
        return await self._request("POST", path, form)

    async def _request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, str, aiohttp.ClientResponse]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        async with self.session.request(
            method, self.base + path, data=form, headers=headers, allow_redirects=False
        ) as response:
            for header in response.headers.getall("Set-Cookie", []):
                cookie: SimpleCookie = SimpleCookie()
                cookie.load(header)
                self.set_cookies.append(cookie)
                for name, morsel in cookie.items():
                    if morsel.value and morsel["max-age"] != "0":
                        self.cookies[name] = morsel.value
                    else:
                        self.cookies.pop(name, None)
            body = await response.text() if response.content_type.startswith("text") else ""
            return response.status, body, response

    async def sign_in(self, name: str, password: str | None = None) -> int:
        _, page, _ = await self.get("/ui/log-ind")
        token = hidden(page, "login_token")
        status, _, _ = await self.post(
            "/ui/log-ind", {"navn": name, "adgangskode": password or PASSWORDS[name], "login_token": token}
        )
        return status

    async def csrf(self, path: str = "/ui/nu") -> str:
        _, page, _ = await self.get(path)
        return hidden(page, "csrf")


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no hidden field {name} in the page"
    return found[1]
