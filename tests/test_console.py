"""The web console over real HTTP, without a browser: who may see and do what, sessions, CSRF, limits.

(The browser tests, tests/test_console_browser.py, use it as staff do; these check every door.)
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest_asyncio

from asterisk_sim import Simulator
from router.app import Running
from router.office.accounts import AccountStore
from router.office.messages import Message, MessageStore
from router.office.overrides import OverrideStore
from router.office.store import Store
from router.schedule import Override, Schedule
from router.web import audit_text
from router.web.http_api import ApiConfig
from tests.conftest import embedded, local, stored_messages
from tests.console_client import Visitor, make_accounts
from tests.test_router_sim import CLOSED, simulator, start

PAGES = [
    "/ui/nu",
    "/ui/beskeder",
    "/ui/linje",
    "/ui/dage",
    "/ui/skema",
    "/ui/log",
    "/ui/statistik",
    "/ui/statistik.csv",
    "/ui/tavle",
    "/ui/telefoner",
]
NOT_PAGES = ["/ui/nu/indhold", "/ui/beskeder/m1/lyd", "/ui/dage.ics", "/ui/tavle/indhold", "/ui/beskeder/m1/opkald"]
POSTS = [
    "/ui/beskeder/m1/ringet-op",
    "/ui/beskeder/m1/slet",
    "/ui/linje/vis",
    "/ui/linje/udfoer",
    "/ui/linje/ophaev",
    "/ui/beskeder/m1/fortryd",
    "/ui/beskeder/m1/tag",
    "/ui/beskeder/m1/slip",
    "/ui/beskeder/m1/ring-op",
    "/ui/beskeder/m1/note/callrouter-dial-x",
    "/ui/telefoner/anna",
]
CLOSE_FORM = {"linje": "1818", "handling": "luk", "aarsag": "staff_shortage", "til": "naeste"}


@dataclass
class Site:
    sim: Simulator
    router: Running
    data: Path
    http: aiohttp.ClientSession

    def visitor(self) -> Visitor:
        assert self.router.api_url is not None
        return Visitor(self.router.api_url, self.http)


@pytest_asyncio.fixture
async def site(shipped: Schedule, tmp_path: Path) -> AsyncIterator[Site]:
    make_accounts(tmp_path)
    with embedded(tmp_path) as data:
        MessageStore(data).save(Message("m1", "1818", "12345678", local("2024-01-04T11:00"), "msg-m1", 12))
    async with simulator(shipped) as sim:
        sim.world.stored_recordings["msg-m1"] = {"name": "msg-m1", "format": "wav"}
        api = ApiConfig("127.0.0.1", 0, "t" * 32)
        async with start(sim, shipped, tmp_path, CLOSED, api=api) as router, aiohttp.ClientSession() as http:
            yield Site(sim, router, tmp_path, http)


async def test_nothing_is_reachable_without_signing_in(site: Site) -> None:
    visitor = site.visitor()
    for path in PAGES:
        status, _, response = await visitor.get(path)
        assert (status, response.headers.get("Location")) == (303, "/ui/log-ind"), path
    for path in NOT_PAGES:
        status, _, _ = await visitor.get(path)
        assert status == 401, path
    for path in POSTS:
        status, _, _ = await visitor.post(path, {"csrf": "x"})
        assert status == 401, path
    status, page, _ = await visitor.get("/ui/log-ind")
    assert status == 200
    assert "12345678" not in page


async def test_the_session_cookie_is_httponly_secure_and_strict(site: Site) -> None:
    visitor = site.visitor()
    assert await visitor.sign_in("anna") == 303
    [session] = [c["callrouter_session"] for c in visitor.set_cookies if "callrouter_session" in c]
    assert session["httponly"] is True
    assert session["secure"] is True
    assert session["samesite"] == "Strict"
    assert session["path"] == "/ui"
    status, page, response = await visitor.get("/ui/beskeder")
    assert status == 200
    assert "12345678" in page
    assert response.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


async def test_a_form_without_its_csrf_token_is_refused(site: Site) -> None:
    visitor = site.visitor()
    await visitor.sign_in("ole")
    for form in ({}, {"csrf": "not-the-token"}):
        status, page, _ = await visitor.post("/ui/beskeder/m1/ringet-op", form)
        assert status == 403
        assert "Formularen er udløbet" in page
    assert not stored_messages(site.data)[0].handled
    csrf = await visitor.csrf()
    status, _, response = await visitor.post("/ui/beskeder/m1/ringet-op", {"csrf": csrf})
    assert (status, response.headers["Location"]) == (303, "/ui/beskeder?besked=ringet-op")
    [message] = stored_messages(site.data)
    assert (message.handled, message.handled_by) == (True, "ole")


async def test_a_form_from_another_site_is_refused_even_with_the_token(site: Site) -> None:
    visitor = site.visitor()
    await visitor.sign_in("ole")
    csrf = await visitor.csrf()
    assert site.router.api_url is not None
    async with site.http.post(
        site.router.api_url + "/ui/linje/udfoer",
        data={**CLOSE_FORM, "csrf": csrf},
        headers={
            "Cookie": f"callrouter_session={visitor.cookies['callrouter_session']}",
            "Origin": "https://evil.example",
        },
        allow_redirects=False,
    ) as response:
        assert response.status == 403
    assert _overrides(site) == []


async def test_staff_handle_messages_but_cannot_change_the_line(site: Site) -> None:
    visitor = site.visitor()
    await visitor.sign_in("anna")
    status, page, _ = await visitor.get("/ui/linje")
    assert status == 200
    assert "Kun operatører kan åbne og lukke linjen." in page
    assert 'action="/ui/linje/vis"' not in page
    csrf = await visitor.csrf()
    for path in ("/ui/linje/vis", "/ui/linje/udfoer", "/ui/linje/ophaev"):
        status, page, _ = await visitor.post(path, {**CLOSE_FORM, "csrf": csrf})
        assert status == 403, path
        assert "Kun operatører" in page
    assert _overrides(site) == []
    status, _, _ = await visitor.get("/ui/log")
    assert status == 403
    status, _, response = await visitor.get("/ui/beskeder/m1/lyd")
    assert (status, response.content_type) == (200, "audio/wav")


async def test_an_operator_previews_then_closes_and_everything_is_in_the_audit_log(site: Site) -> None:
    visitor = site.visitor()
    await visitor.sign_in("ole")
    csrf = await visitor.csrf()
    status, page, _ = await visitor.post("/ui/linje/vis", {**CLOSE_FORM, "csrf": csrf})
    assert status == 200
    assert "Vi har desværre lukket for telefonen på grund af sygdom" in page  # what callers will hear
    assert _overrides(site) == []  # nothing changed by the preview
    status, _, _ = await visitor.post("/ui/linje/udfoer", {**CLOSE_FORM, "csrf": csrf})
    assert status == 303
    [override] = _overrides(site)
    assert (override.line, override.open, override.reason, override.note) == ("1818", False, "staff_shortage", "ole")
    assert override.until == local("2024-01-04T15:00")  # the next change: Thursday's phone hours begin
    status, _, _ = await visitor.post("/ui/linje/ophaev", {"linje": "1818", "csrf": csrf})
    assert status == 303
    assert _overrides(site) == []
    await visitor.post("/ui/log-ud", {"csrf": csrf})
    status, _, _ = await visitor.get("/ui/nu")
    assert status == 303  # signed out: the session is gone
    with embedded(site.data) as data:
        audit = AccountStore(data).audit_log()
    actions = [(e.user, e.action) for e in reversed(audit)]
    assert actions == [
        ("ole", "log-ind"),
        ("ole", "lukkede linjen"),
        ("ole", "ophævede åbning/lukning"),
        ("ole", "log-ud"),
    ]
    assert all("12345678" not in e.detail for e in audit)


async def test_a_bad_form_gets_a_danish_error_and_changes_nothing(site: Site) -> None:
    visitor = site.visitor()
    await visitor.sign_in("ole")
    csrf = await visitor.csrf()
    cases = [
        ({**CLOSE_FORM, "aarsag": "no_prompt"}, "Vælg en årsag"),
        ({**CLOSE_FORM, "til": "tid", "tidspunkt": "i morgen"}, "Sluttidspunktet skal være en dato"),
        ({**CLOSE_FORM, "til": "tid", "tidspunkt": "2024-01-04T09:00"}, "allerede passeret"),
        ({**CLOSE_FORM, "linje": "9999"}, "Vælg en linje"),
    ]
    for form, error in cases:
        status, page, _ = await visitor.post("/ui/linje/udfoer", {**form, "csrf": csrf})
        assert status == 400, form
        assert error in page, form
    assert _overrides(site) == []


async def test_failed_sign_ins_are_limited(site: Site) -> None:
    visitor = site.visitor()
    for _ in range(5):
        assert await visitor.sign_in("ole", "wrong-password-here") == 401
    assert await visitor.sign_in("ole") == 429  # even the right password, for now
    assert "callrouter_session" not in visitor.cookies
    assert await site.visitor().sign_in("anna") == 303  # another name is not locked out


async def test_a_message_deleted_in_the_console_loses_its_audio_too(site: Site) -> None:
    visitor = site.visitor()
    await visitor.sign_in("anna")
    status, page, _ = await visitor.get("/ui/beskeder/m1/slet")
    assert "kan ikke fortrydes" in page
    csrf = await visitor.csrf()
    status, _, _ = await visitor.post("/ui/beskeder/m1/slet", {"csrf": csrf})
    assert status == 303
    assert stored_messages(site.data) == []
    assert "msg-m1" not in site.sim.world.stored_recordings


async def test_the_now_fragment_shows_the_lines_state_next_change_and_agents(site: Site) -> None:
    visitor = site.visitor()
    await visitor.sign_in("anna")
    status, page, _ = await visitor.get("/ui/nu/indhold")
    assert status == 200
    assert "Lukket" in page
    assert "uden for telefontiden" in page
    assert "åbner i dag kl. 15.00" in page
    assert "agent1" in page


def _overrides(site: Site) -> list[Override]:
    """The overrides in force (the router's clock runs on from CLOSED)."""
    now = CLOSED + timedelta(minutes=5)
    with embedded(site.data) as data:
        return [o for o in OverrideStore(data).all() if o.until > now]


async def test_the_audio_answers_a_byte_range_so_a_player_can_seek(site: Site) -> None:
    visitor = site.visitor()
    await visitor.sign_in("anna")
    assert site.router.api_url is not None
    api = {"Authorization": "Bearer " + "t" * 32}
    for url, headers in (
        (
            site.router.api_url + "/ui/beskeder/m1/lyd",
            {"Cookie": f"callrouter_session={visitor.cookies['callrouter_session']}"},
        ),
        (site.router.api_url + "/messages/m1/audio", api),
    ):
        async with site.http.get(url, headers=headers) as response:
            assert (response.status, response.headers["Accept-Ranges"]) == (200, "bytes"), url
            whole = await response.read()
        size = len(whole)
        assert size > 20
        for asked, status, part, content_range in (
            ("bytes=10-19", 206, whole[10:20], f"bytes 10-19/{size}"),
            ("bytes=10-", 206, whole[10:], f"bytes 10-{size - 1}/{size}"),
            ("bytes=-5", 206, whole[-5:], f"bytes {size - 5}-{size - 1}/{size}"),
            (f"bytes=0-{size + 100}", 206, whole, f"bytes 0-{size - 1}/{size}"),
            (f"bytes={size}-", 416, b"", f"bytes */{size}"),
            ("bytes=-0", 416, b"", f"bytes */{size}"),
            ("bytes=9-3", 416, b"", f"bytes */{size}"),
        ):
            async with site.http.get(url, headers={**headers, "Range": asked}) as response:
                assert response.status == status, (url, asked)
                assert response.headers["Content-Range"] == content_range, (url, asked)
                assert await response.read() == part, (url, asked)
        for ignored in (
            {"Range": "bytes=0-1,5-6"},
            {"Range": "pages=1-2"},
            {"Range": "bytes=1-2", "If-Range": '"old"'},
        ):
            async with site.http.get(url, headers={**headers, **ignored}) as response:
                assert (response.status, await response.read()) == (200, whole), (url, ignored)


async def test_an_unknown_console_address_answers_a_danish_page_with_a_way_back(site: Site) -> None:
    visitor = site.visitor()
    await visitor.sign_in("anna")
    for path, words in (
        ("/ui/findes-ikke", "Der er ingen side på denne adresse"),
        ("/ui/beskeder/m9/slet", "Beskeden findes ikke (den er måske slettet)."),
    ):
        status, page, response = await visitor.get(path)
        assert (status, response.content_type) == (404, "text/html"), path
        assert words in page, path
        assert 'href="/ui/nu"' in page, path
        assert 'lang="da"' in page, path
    status, _, response = await visitor.get("/ui/beskeder/m9/lyd")  # fetched by a player, not a page
    assert (status, response.content_type) == (404, "text/plain")


async def test_the_log_shows_changes_in_danish_and_copenhagen_time(site: Site) -> None:
    visitor = site.visitor()
    await visitor.sign_in("ole")
    csrf = await visitor.csrf()
    form = {**CLOSE_FORM, "aarsag": "emergency", "til": "tid", "tidspunkt": "2024-01-04T17:00", "csrf": csrf}
    assert (await visitor.post("/ui/linje/udfoer", form))[0] == 303
    status, page, _ = await visitor.get("/ui/log")
    assert status == 200
    said = (
        '1818 til torsdag den 4. januar 2024 kl. 17.00, borgerne hører: "Vi har desværre lukket for telefonen lige nu"'
    )
    assert said.replace('"', "&#34;") in page
    for english in ("2024-01-04T", "(emergency)"):
        assert english not in page


def test_an_audit_detail_written_before_reads_in_danish_local_time() -> None:
    texts = {"closure-emergency": "Vi har desværre lukket for telefonen lige nu"}
    tz = local("2024-01-04T12:00").tzinfo
    assert tz is not None
    assert audit_text.detail("1818 til 2024-01-04T16:00:00+00:00 (emergency)", tz, texts) == (
        '1818 til torsdag den 4. januar 2024 kl. 17.00, borgerne hører: "Vi har desværre lukket for telefonen lige nu"'
    )
    assert audit_text.detail("1818 til 2024-07-01T08:30:00+00:00 (manual_opening)", tz, texts) == (
        "1818 til mandag den 1. juli 2024 kl. 10.30"
    )
    assert audit_text.detail("1818 til 2024-01-04T16:00:00+00:00 (fire_drill)", tz, texts).endswith(
        "kl. 17.00, årsag: fire_drill"
    )
    assert audit_text.detail("fra 127.0.0.1", tz, texts) == "fra 127.0.0.1"


async def test_a_play_is_logged_once_though_the_player_asks_for_the_audio_in_parts(site: Site) -> None:
    visitor = site.visitor()
    await visitor.sign_in("anna")
    assert site.router.api_url is not None
    cookie = {"Cookie": f"callrouter_session={visitor.cookies['callrouter_session']}"}
    # Safari's first two requests on a press of play, then a seek.
    for asked in ("bytes=0-1", "bytes=0-", "bytes=10-"):
        async with site.http.get(site.router.api_url + "/ui/beskeder/m1/lyd", headers={**cookie, "Range": asked}) as r:
            assert r.status == 206
    with embedded(site.data) as data:
        played = [(e.user, e.action, e.detail) for e in AccountStore(data).audit_log() if e.action != "log-ind"]
    assert played == [("anna", "afspillede besked", "m1")]


async def test_beskeder_takes_any_query_without_failing(site: Site) -> None:
    visitor = site.visitor()
    await visitor.sign_in("anna")
    for query in ("side=²", "side=" + "9" * 30, "side=0", "side=-1", "side=7", "linje=../../x", "vis=<script>"):
        status, page, _ = await visitor.get("/ui/beskeder?" + query)
        assert status == 200, query
        assert "12345678" in page, query  # the one message, on the only page


def test_the_store_lists_a_page_of_messages_as_beskeder_shows_them(store: Store) -> None:
    """Unhandled first, newest first in each, with the count; in SQLite and in PostgreSQL alike."""
    messages = MessageStore(store)
    for i in range(7):
        line = "1818" if i % 2 else "1819"
        messages.save(Message(f"m{i}", line, f"{i}", local("2024-01-04T08:00") + timedelta(minutes=i), f"r{i}", 3))
    messages.mark_handled("m6")
    messages.mark_handled("m1")
    page = messages.listing(0, 3)
    assert ([m.id for m in page.messages], page.total) == (["m5", "m4", "m3"], 7)
    assert [m.id for m in messages.listing(3, 3).messages] == ["m2", "m0", "m6"]
    assert [m.id for m in messages.listing(6, 3).messages] == ["m1"]
    assert [m.id for m in messages.listing(0, 9, unhandled_only=True, line="1818").messages] == ["m5", "m3"]
    assert messages.listing(0, 9, unhandled_only=True).total == 5


def _audit(site: Site) -> list[tuple[str, str, str]]:
    with embedded(site.data) as data:
        found = [(e.user, e.action, e.detail) for e in AccountStore(data).audit_log() if e.action != "log-ind"]
    return found[::-1]  # oldest first


async def test_jeg_ringer_op_shows_colleagues_who_has_the_message_until_released(site: Site) -> None:
    anna, ole = site.visitor(), site.visitor()
    await anna.sign_in("anna")
    await ole.sign_in("ole")
    csrf = await anna.csrf()
    status, _, response = await anna.post("/ui/beskeder/m1/tag?vis=ikke-ringet-op", {"csrf": csrf})
    assert (status, response.headers["Location"]) == (303, "/ui/beskeder?vis=ikke-ringet-op&besked=taget")
    _, page, _ = await anna.get("/ui/beskeder")
    assert "du ringer op (til kl. 13.00)" in page  # the router's clock starts at 12.30: half an hour
    assert 'action="/ui/beskeder/m1/slip"' in page
    _, page, _ = await ole.get("/ui/beskeder")
    assert "anna ringer op (til kl. 13.00)" in page
    assert 'action="/ui/beskeder/m1/tag"' not in page  # no button to take it from her
    status, _, response = await ole.post("/ui/beskeder/m1/tag", {"csrf": await ole.csrf()})
    assert response.headers["Location"] == "/ui/beskeder?besked=optaget"
    assert stored_messages(site.data)[0].claimed_by == "anna"
    _, page, _ = await ole.get("/ui/beskeder?besked=optaget")
    assert "En kollega ringer allerede op" in page
    await anna.post("/ui/beskeder/m1/slip", {"csrf": csrf})
    _, page, _ = await ole.get("/ui/beskeder")
    assert "ringer op (til" not in page
    assert (await ole.post("/ui/beskeder/m1/tag", {"csrf": await ole.csrf()}))[2].headers["Location"].endswith("taget")
    assert _audit(site) == [
        ("anna", "tog besked (ringer op)", "m1"),
        ("anna", "slap besked", "m1"),
        ("ole", "tog besked (ringer op)", "m1"),
    ]


async def test_ringet_op_can_be_undone_and_both_are_in_the_audit_log(site: Site) -> None:
    visitor = site.visitor()
    await visitor.sign_in("anna")
    csrf = await visitor.csrf()
    await visitor.post("/ui/beskeder/m1/tag", {"csrf": csrf})
    await visitor.post("/ui/beskeder/m1/ringet-op", {"csrf": csrf})
    [message] = stored_messages(site.data)
    assert (message.handled, message.claimed_by) == (True, None)  # done: the claim ends with it
    _, page, _ = await visitor.get("/ui/beskeder")
    assert 'action="/ui/beskeder/m1/fortryd"' in page
    status, _, response = await visitor.post("/ui/beskeder/m1/fortryd", {"csrf": csrf})
    assert (status, response.headers["Location"]) == (303, "/ui/beskeder?besked=fortrudt")
    [message] = stored_messages(site.data)
    assert (message.handled, message.handled_by, message.handled_at) == (False, None, None)
    _, page, _ = await visitor.get("/ui/beskeder?besked=fortrudt")
    assert "igen markeret som ikke ringet op" in page
    assert 'action="/ui/beskeder/m1/ringet-op"' in page
    assert [action for _, action, _ in _audit(site)] == [
        "tog besked (ringer op)",
        "markerede ringet op",
        "fortrød ringet op",
    ]


async def test_only_a_plausible_phone_number_is_a_tel_link(site: Site) -> None:
    callers = {
        "m2": "+4512345678",
        "m3": "12345678\u202e",  # a bidi override after the digits
        "m4": "sip:12345678@evil.example",
        "m5": "+45 1234 5678",
        "m6": "١٢٣٤٥٦٧٨",  # Arabic-Indic digits: digits to Python, not to a phone
        "m7": "12345678\n",
        "m8": "1" * 16,
        "m9": "",
    }
    with embedded(site.data) as data:
        for i, (message_id, caller) in enumerate(callers.items()):
            at = local("2024-01-04T10:00") + timedelta(minutes=i)
            MessageStore(data).save(Message(message_id, "1818", caller, at, f"msg-{message_id}", 3))
    visitor = site.visitor()
    await visitor.sign_in("anna")
    _, page, _ = await visitor.get("/ui/beskeder")
    links = re.findall(r'href="(tel:[^"]*)"', page)
    assert sorted(links) == ["tel:+4512345678", "tel:12345678"]


async def test_an_operator_ties_staff_to_their_phones_in_the_console(site: Site) -> None:
    anna, ole = site.visitor(), site.visitor()
    await anna.sign_in("anna")
    await ole.sign_in("ole")
    status, _, _ = await anna.get("/ui/telefoner")
    assert status == 403
    status, _, _ = await anna.post("/ui/telefoner/anna", {"csrf": await anna.csrf(), "telefon": "PJSIP/agent9"})
    assert status == 403
    csrf = await ole.csrf()
    status, _, response = await ole.post("/ui/telefoner/anna", {"csrf": csrf, "telefon": " PJSIP/agent1 "})
    assert (status, response.headers["Location"]) == (303, "/ui/telefoner?besked=telefon-gemt")
    _, page, _ = await ole.get("/ui/telefoner?besked=telefon-gemt")
    assert 'value="PJSIP/agent1"' in page
    assert "Telefonen er gemt." in page
    status, page, _ = await ole.post("/ui/telefoner/anna", {"csrf": csrf, "telefon": "PJSIP/agent1&PJSIP/x"})
    assert status == 400
    assert "fx PJSIP/agent1" in page
    assert (await ole.post("/ui/telefoner/bo", {"csrf": csrf, "telefon": "PJSIP/agent2"}))[0] == 404
    await ole.post("/ui/telefoner/ole", {"csrf": csrf, "telefon": ""})
    with embedded(site.data) as data:
        phones = {u.name: u.phone for u in AccountStore(data).users()}
    assert phones == {"anna": "PJSIP/agent1", "ole": None}
    assert _audit(site) == [("ole", "satte telefon", "anna: PJSIP/agent1"), ("ole", "satte telefon", "ole: ingen")]
