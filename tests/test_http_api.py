"""The router's HTTP API against the simulated Asterisk: health, status, metrics, messages, overrides, tokens."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from asterisk_sim import AgentScript, Simulator
from router.app import RouterConfig, Running, running
from router.ari import AriConfig
from router.calls.prompts import DEFAULT_MANIFEST
from router.office.messages import Message, MessageStore
from router.office.retention import purge
from router.schedule import QueueConfig, Schedule
from router.schedule.reload import ScheduleSource
from router.web.http_api import ApiConfig, ApiConfigError, api_config_from_env
from tests.ari_helpers import outcome_of, until
from tests.conftest import ROOT, embedded, local
from tests.test_queue_sim import answered_recently
from tests.test_router_sim import CLOSED, FAST, OPEN, simulator

TOKEN = "s3cret-token-for-tests"
PROTECTED = [
    ("GET", "/messages"),
    ("GET", "/messages/x/audio"),
    ("POST", "/messages/x/handled"),
    ("POST", "/messages/x/mail"),
    ("GET", "/mail/failed"),
    ("DELETE", "/messages/x"),
    ("POST", "/overrides"),
    ("DELETE", "/overrides/1818"),
]


@dataclass
class Api:
    sim: Simulator
    router: Running
    http: aiohttp.ClientSession
    data: Path

    @property
    def url(self) -> str:
        assert self.router.api_url is not None
        return self.router.api_url

    async def get(self, path: str, token: str | None = TOKEN) -> tuple[int, object]:
        return await self.request("GET", path, token=token)

    async def request(self, method: str, path: str, token: str | None = TOKEN, **kw: object) -> tuple[int, object]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.request(method, self.url + path, headers=headers, **kw) as response:  # type: ignore[arg-type]
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.read()


@contextlib.asynccontextmanager
async def api(
    shipped: Schedule,
    tmp_path: Path,
    at: datetime,
    token: str | None = TOKEN,
    schedule: Schedule | ScheduleSource | None = None,
) -> AsyncIterator[Api]:
    began = time.monotonic()
    async with simulator(shipped) as sim:
        ari = AriConfig(url=sim.url, app="router", user="router", password="secret")
        config = RouterConfig(
            ari, schedule or shipped, tmp_path, DEFAULT_MANIFEST, FAST, api=ApiConfig("127.0.0.1", 0, token)
        )
        async with (
            running(config, clock=lambda: at + timedelta(seconds=time.monotonic() - began)) as router,
            aiohttp.ClientSession() as http,
        ):
            await until(lambda: "router" in sim.world.connected_apps)
            yield Api(sim, router, http, tmp_path)


@pytest_asyncio.fixture
async def closed(shipped: Schedule, tmp_path: Path) -> AsyncIterator[Api]:
    async with api(shipped, tmp_path, CLOSED) as a:
        yield a


async def leave_message(a: Api, caller: str = "12345678") -> str:
    call = a.sim.world.place_call(caller, "1818", "router", ["1818"]).id
    await until(lambda: "sound:callrouter/offer-message" in [h.get("media") for h in a.sim.world.channels[call].heard])
    a.sim.world.send_dtmf(call, "1")
    await until(lambda: any(r.channel_id == call for r in a.sim.world.live_recordings.values()))
    await asyncio.sleep(1.1)
    a.sim.world.send_dtmf(call, "#")
    assert await outcome_of(a.router.runtime, call) == "message_left"
    return call


async def test_health_endpoints_need_no_token(closed: Api) -> None:
    assert await closed.get("/livez", token=None) == (200, {"alive": True})
    assert await closed.get("/readyz", token=None) == (200, {"ready": True, "role": "active", "problems": []})


async def test_not_ready_while_asterisk_is_gone(closed: Api) -> None:
    closed.sim.available = False
    await closed.sim.drop_websockets()
    await until(lambda: not closed.router.stream.connected.is_set())
    status, body = await closed.get("/readyz", token=None)
    assert status == 503
    assert body == {"ready": False, "role": "active", "problems": ["ARI WebSocket not connected"]}
    closed.sim.available = True
    await until(lambda: closed.router.stream.connected.is_set(), within=5)
    assert (await closed.get("/readyz"))[0] == 200


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_protected_endpoints_refuse_a_missing_or_wrong_token(closed: Api, method: str, path: str) -> None:
    for token in (None, "wrong-token-of-some-length", TOKEN + "x", TOKEN[:-1]):
        status, body = await closed.request(method, path, token=token)
        assert status == 401, (token, body)
    # and the same with the right one gets past the guard (to the endpoint's own answer)
    status, _ = await closed.request(method, path, json={})
    assert status != 401


async def test_with_no_token_configured_nobody_gets_in(shipped: Schedule, tmp_path: Path) -> None:
    async with api(shipped, tmp_path, CLOSED, token=None) as a:
        for method, path in PROTECTED:
            assert (await a.request(method, path, token="anything-at-all-here"))[0] == 401
        assert (await a.get("/status", token=None))[0] == 200


async def test_status_shows_lines_callers_waiting_and_agents(shipped: Schedule, tmp_path: Path) -> None:
    config = QueueConfig(("agent1", "agent2", "agent3"), ring_seconds=30)
    line = replace(shipped.lines["1818"], open_to=config)
    schedule = replace(shipped, lines={**shipped.lines, "1818": line})
    async with api(shipped, tmp_path, OPEN, schedule=schedule) as a:
        a.sim.world.set_endpoint("PJSIP/agent1", AgentScript("no-answer"))
        a.sim.world.set_endpoint("PJSIP/agent2", AgentScript("answer", on_own_call=True))
        a.sim.world.set_endpoint("PJSIP/agent3", AgentScript("offline"))
        a.sim.world.place_call("12345678", "1818", "router", ["1818"])
        await until(lambda: any(c.endpoint == "PJSIP/agent1" for c in a.sim.world.channels.values()))
        status, body = await a.get("/status", token=None)
        assert status == 200
        assert isinstance(body, dict)
        s = body["lines"]["1818"]
        assert (s["open"], s["reason"], s["waiting"]) == (True, "hours", 1)
        assert s["next_change"] == "2024-01-04T16:00:00+00:00"  # 17:00 in Copenhagen
        assert s["agents"] == {"agent1": "ringing", "agent2": "on another call", "agent3": "offline"}
        assert body["ari_connected"] is True
        assert body["schedule_rejected"] is None


async def test_status_shows_the_wait_a_caller_calling_now_would_hear(shipped: Schedule, tmp_path: Path) -> None:
    config = QueueConfig(("agent1",), ring_seconds=30)
    schedule = replace(shipped, lines={**shipped.lines, "1818": replace(shipped.lines["1818"], open_to=config)})
    for history, minutes, said in [
        (0, None, "for lidt at gå efter"),
        (5, 6, "omkring 6 minutter"),  # the 2nd in line, one caller taken every 3 minutes
    ]:
        answered_recently(tmp_path, minutes_apart=3, count=history)  # kept in the call log over the restart
        async with api(shipped, tmp_path, OPEN, schedule=schedule) as a:
            a.sim.world.set_endpoint("PJSIP/agent1", AgentScript("answer", on_own_call=True))
            a.sim.world.place_call("12345678", "1818", "router", ["1818"])
            await until(lambda: a.router.runtime.queues.position("1818", next(iter(a.sim.world.channels))) == 1)
            _, body = await a.get("/status", token=None)
            assert isinstance(body, dict)
            assert body["lines"]["1818"]["estimate"] == {"minutes": minutes, "more": False, "text": said}
            shown = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "router", "status", "--api", a.url, stdout=asyncio.subprocess.PIPE
            )
            out, _ = await shown.communicate()
            assert f"  the wait of a caller calling now: {said}\n" in out.decode()


async def test_metrics_count_calls_by_outcome(closed: Api) -> None:
    await leave_message(closed)
    status, text = await closed.get("/metrics", token=None)
    assert status == 200
    assert isinstance(text, bytes)
    metrics = text.decode()
    assert 'callrouter_calls_total{line="1818",outcome="message_left"} 1.0' in metrics
    assert "callrouter_ari_connected 1.0" in metrics
    assert "callrouter_call_setup_seconds_count 1.0" in metrics
    assert 'callrouter_callers_waiting{line="1818"} 0.0' in metrics


async def test_messages_listed_fetched_handled_and_deleted_with_their_audio(closed: Api) -> None:
    call = await leave_message(closed, "22334455")
    status, body = await closed.get("/messages")
    assert status == 200
    assert isinstance(body, dict)
    [message] = body["messages"]
    assert (message["id"], message["caller"], message["line"], message["handled"]) == (call, "22334455", "1818", False)
    status, audio = await closed.get(f"/messages/{call}/audio")
    assert status == 200
    assert isinstance(audio, bytes)
    assert audio[:4] == b"RIFF"
    assert (await closed.request("POST", f"/messages/{call}/handled"))[0] == 200
    assert (await closed.get("/messages"))[1] == {"messages": []}
    assert len((await closed.get("/messages?all=1"))[1]["messages"]) == 1  # type: ignore[index]
    assert (await closed.request("DELETE", f"/messages/{call}"))[0] == 200
    assert message["recording"] not in closed.sim.world.stored_recordings, "the audio is gone from Asterisk too"
    assert (await closed.get(f"/messages/{call}/audio"))[0] == 404


async def test_messages_marked_called_back_in_the_console_are_listed_with_who_and_when(closed: Api) -> None:
    # The console records who marked a message and when (the API's own mark records neither).
    with embedded(closed.data) as data:
        store = MessageStore(data)
        store.save(Message("m1", "1818", "12345678", local("2024-01-04T11:00"), "msg-m1", 12, caller_name="Anna"))
        store.mark_handled("m1", "ole", local("2024-01-04T12:05"))
    status, body = await closed.get("/messages?all=1")
    assert status == 200, body
    assert body == {"messages": [{
        "id": "m1", "line": "1818", "caller": "12345678", "caller_name": "Anna",
        "received_at": "2024-01-04T10:00:00+00:00", "recording": "msg-m1", "seconds": 12,
        "handled": True, "handled_by": "ole", "handled_at": "2024-01-04T11:05:00+00:00",
    }]}  # fmt: skip


async def test_override_set_and_cleared_over_http(shipped: Schedule, tmp_path: Path) -> None:
    async with api(shipped, tmp_path, OPEN) as a:
        body = {"line": "1818", "state": "closed", "reason": "staff_shortage", "until": "next-change", "note": "syge"}
        status, created = await a.request("POST", "/overrides", json=body)
        assert status == 201, created
        assert created == {
            "line": "1818",
            "state": "closed",
            "reason": "staff_shortage",
            "until": "2024-01-04T16:00:00+00:00",
            "note": "syge",
        }
        call = a.sim.world.place_call("12345678", "1818", "router", ["1818"]).id
        await until(lambda: bool(a.sim.world.channels[call].heard))
        assert a.sim.world.channels[call].heard[0]["media"] == "sound:callrouter/closure-staff_shortage"
        status, view = await a.get("/status", token=None)
        assert view["lines"]["1818"]["override"]["reason"] == "staff_shortage"  # type: ignore[index]
        assert (await a.request("DELETE", "/overrides/1818"))[0] == 200
        assert (await a.get("/overrides", token=None))[1] == {"overrides": []}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"line": "1818", "state": "closed"}, "always ends"),
        ({"line": "1818", "state": "shut", "until": "next-change"}, '"closed" or "open"'),
        ({"line": "9999", "state": "closed", "until": "next-change"}, "unknown line"),
        ({"line": "1818", "state": "closed", "until": "2030-01-01T10:00"}, "at most 31 days"),
        ({"line": "1818", "state": "closed", "until": "soon"}, "not 'soon'"),
        ({"line": "1818", "state": "closed", "until": "next-change", "reason": "Sick!"}, "short token"),
    ],
)
async def test_bad_override_requests_get_a_clear_error(closed: Api, body: dict[str, str], expected: str) -> None:
    status, answer = await closed.request("POST", "/overrides", json=body)
    assert status == 400
    assert isinstance(answer, bytes)
    assert expected in answer.decode()


async def test_retention_deletes_old_messages_and_their_audio(closed: Api) -> None:
    call = await leave_message(closed)
    with embedded(closed.data) as site:
        store = MessageStore(site)
        [message] = store.all()
        assert store.audio(call) is not None
        assert message.recording not in closed.sim.world.stored_recordings  # moved into the store
        # An old message whose audio Asterisk still has (kept from before the router moved audio).
        old = Message("old", "1818", "87654321", message.received_at - timedelta(days=40), "msg-old", 3)
        store.save(old, audio=store.audio(call))
        closed.sim.world.stored_recordings["msg-old"] = {"name": "msg-old", "format": "wav"}
        rest = closed.router.runtime.rest
        assert await purge(store, rest, local("2024-01-04T12:00") - timedelta(days=30)) == 1
        assert [m.id for m in store.all()] == [call]
        assert store.audio("old") is None
        assert "msg-old" not in closed.sim.world.stored_recordings


def test_api_settings_from_the_environment(tmp_path: Path) -> None:
    assert api_config_from_env({}) == ApiConfig("127.0.0.1", 8089, None)
    assert api_config_from_env({"CALLROUTER_API": "off"}) is None
    (tmp_path / "token").write_text("0123456789abcdef0123\n", encoding="utf-8")
    config = api_config_from_env({"CALLROUTER_API": "[::1]:9000", "CALLROUTER_API_TOKEN_FILE": str(tmp_path / "token")})
    assert config == ApiConfig("::1", 9000, "0123456789abcdef0123")
    for env, message in (
        ({"CALLROUTER_API": "8089"}, "host:port"),
        ({"CALLROUTER_API_TOKEN": "short"}, "at least 16"),
        ({"CALLROUTER_API_TOKEN_FILE": str(tmp_path / "missing")}, "CALLROUTER_API_TOKEN_FILE"),
    ):
        with pytest.raises(ApiConfigError, match=message):
            api_config_from_env(env)


async def test_a_rejected_schedule_file_shows_in_status_and_metrics(shipped: Schedule, tmp_path: Path) -> None:
    path = tmp_path / "schedule.yaml"
    path.write_text((ROOT / "schedule.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    source = ScheduleSource(path, settle_seconds=0.01)
    async with api(shipped, tmp_path, CLOSED, schedule=source) as a:
        path.write_text(path.read_text(encoding="utf-8").replace("thu: 15:00-17:00", "thu: 15:00-1700"), "utf-8")
        assert not await source.check()
        _, status = await a.get("/status", token=None)
        assert isinstance(status, dict)
        assert "schedule.yaml:" in status["schedule_rejected"]
        assert "bad time" in status["schedule_rejected"]
        _, metrics = await a.get("/metrics", token=None)
        assert isinstance(metrics, bytes)
        assert "callrouter_schedule_rejected 1.0" in metrics.decode()
        assert "callrouter_schedule_rejections_total 1.0" in metrics.decode()
