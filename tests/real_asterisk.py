"""Run a real Asterisk 22 from the root that scripts/asterisk-root builds, for the real-Asterisk tier.

It runs chrooted as the asterisk user, inside `unshare --mount` so that what it mounts disappears
with it: /proc, and an overlay of the cached root with a directory of this run's own on top. Its
configuration, the prompts and every recording are written there, never into the cached root, so
two test runs on one machine (each in a network namespace of its own, as scripts/test starts them,
for the fixed loopback ports) never see each other's files or processes. ARI listens on loopback
only. Music on hold is the root's own, as on a site: Debian's musiconhold.conf, whose `default`
class plays asterisk-moh-opsound-gsm's files (/usr/share/asterisk/moh). Calls are Local channels: a
"caller" half held by a helper Stasis application, whose other half dials 1818 into the router's
application.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, date, datetime
from pathlib import Path

from asterisk_sim import contexts_of
from router.calls.dialplan import fallback_for, render
from router.calls.prompts import build, load_manifest
from router.schedule import load_schedule

ROOT = Path(os.environ.get("CALLROUTER_ASTERISK_ROOT", "/var/cache/callrouter/asterisk-root"))
REPO = Path(__file__).resolve().parent.parent
PORT = int(os.environ.get("CALLROUTER_ASTERISK_PORT", "18088"))
USER = "router"
PASSWORD = "p&ss#w:rd;x"  # characters that break naive query strings, headers and .conf files
CONF_PASSWORD = PASSWORD.replace(";", "\\;")  # in Asterisk's .conf files ; starts a comment
PEER_USER, PEER_PASSWORD = "peer", "peer-client-password-1"  # tests/test_peer_clients.py
# The request header of the ARI user, for the tests' and benchmarks' own clients.
AUTHORIZATION = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}

CONFIG = {
    "http.conf": f"""
[general]
enabled = yes
bindaddr = 127.0.0.1
bindport = {PORT}
""",
    "ari.conf": f"""
[general]
enabled = yes
pretty = no
[{USER}]
type = user
read_only = no
password = {CONF_PASSWORD}
; For third-party clients (tests/test_peer_clients.py): some put the password into the WebSocket's
; URL unescaped, so it is one that needs no escaping.
[{PEER_USER}]
type = user
read_only = no
password = {PEER_PASSWORD}
""",
    "extensions.conf": """
[general]
static = yes
writeprotect = yes

; A citizen's call to 1818, as a site's dialplan sends it to the router.
[from-citizens]
exten => 1818,1,NoOp(call for 1818)
 same => n,Stasis(router)
 same => n,Set(GLOBAL(FALLBACK_${UNIQUEID})=${STASISSTATUS})
 same => n,Hangup()

; 1818 without the router, for bench/bench_real.py: the shipped hours as GotoIfTime rules, then
; the same first prompt the router plays at a closed hour.
exten => 1817,1,Set(CHANNEL(language)=da)
 same => n,GotoIfTime(10:00-11:59,mon-wed,*,*?open)
 same => n,GotoIfTime(15:00-16:59,thu,*,*?open)
 same => n,GotoIfTime(10:00-11:59,fri,*,*?open)
 same => n,Answer()
 same => n,Playback(callrouter/closed-now)
 same => n,Hangup()
 same => n(open),Answer()
 same => n,Playback(callrouter/closed-now)
 same => n,Hangup()

; Where `continue` sends a caller in the tests.
[dialplan-1818]
exten => 1819,1,Answer()
 same => n,Wait(600)

; The site's dialplan as shipped, and the fallback generated for the shipped schedule.
#include extensions_callrouter.conf
#include callrouter_fallback_1818.conf

; A call while the router is down, at a chosen instant: <YYYYMMDDHHMMSS>@router-down.
; TESTTIME() wants YYYY/MM/DD (its documentation says ISO 8601, but dashes are silently ignored).
[router-down]
exten => _X.,1,Set(DAY=${EXTEN:0:4}/${EXTEN:4:2}/${EXTEN:6:2})
 same => n,Set(TESTTIME()=${DAY} ${EXTEN:8:2}:${EXTEN:10:2}:${EXTEN:12:2} Europe/Copenhagen)
 same => n,Goto(callrouter-entry,1818,1)

; For bench/bench_yardstick.py: the same call, after a moment in which the observer subscribes to it
; (it cannot before the channel exists), its arrival marked by a variable: a ChannelVarset event, by
; Asterisk's clock, that the observer sees before the application does anything. A second: near
; saturation Asterisk takes a quarter of one to answer the subscription, and a call whose mark the
; observer missed is left out, which would leave out the calls of a busy moment.
[observed-arrival]
exten => _X.,1,Wait(1)
 same => n,Set(ARRIVED=${EXTEN})
 same => n,Goto(router-down,${EXTEN},1)

; The same generated rules under other names, checked at chosen instants: a Local call to
; <YYYYMMDDHHMMSS>@check-time records where they send it.
#include callrouter_check_1818.conf
[check-time]
exten => _X.,1,Set(CHECK_ID=${EXTEN})
 same => n,Set(DAY=${EXTEN:0:4}/${EXTEN:4:2}/${EXTEN:6:2})
 same => n,Set(TESTTIME()=${DAY} ${EXTEN:8:2}:${EXTEN:10:2}:${EXTEN:12:2} Europe/Copenhagen)
 same => n,Goto(callrouter-check-1818,s,1)
[check-open]
exten => s,1,Set(GLOBAL(CHECK_${CHECK_ID})=open)
 same => n,Hangup()
[check-closed]
exten => s,1,Set(GLOBAL(CHECK_${CHECK_ID})=closed)
 same => n,Hangup()

; The calling half of a load test's Local channel: once answered it listens for <N> seconds
; (extension hold<N>), then hangs up, as a caller would.
[callers]
exten => _hold.,1,Wait(${EXTEN:4})
 same => n,Hangup()

; Stand-ins for agents' phones.
[agents]
exten => answer,1,Answer()
 same => n,Wait(600)
exten => noanswer,1,Ringing()
 same => n,Wait(600)
exten => busy,1,Busy(5)

[from-agents]
exten => _X.,1,Hangup()
""",
    "pjsip.conf": """
; Real SIP phones (baresip) on loopback. RTP stays on 127.0.0.1 too.
[transport-udp]
type = transport
protocol = udp
bind = 127.0.0.1:5060

; Every phone: ulaw/alaw, RFC 4733 DTMF, media through Asterisk on loopback.
[phone](!)
type = endpoint
disallow = all
allow = ulaw,alaw
direct_media = no
media_address = 127.0.0.1
bind_rtp_to_media_address = yes
rtp_symmetric = yes
dtmf_mode = rfc4733

[citizen](phone)
context = from-citizens

; Two agents' phones (baresip, auto-answer) at fixed loopback ports: no registration needed.
[agent1](phone)
context = from-agents
aors = agent1
[agent1]
type = aor
contact = sip:agent1@127.0.0.1:5080

[agent2](phone)
context = from-agents
aors = agent2
[agent2]
type = aor
contact = sip:agent2@127.0.0.1:5090

; The outbound route, as a site's trunk to its provider: no registration, a static contact. Dialling
; PJSIP/<number>@trunk (the shipped schedule's `callback: dial`) sends INVITE sip:<number>@127.0.0.1:5100
; with the caller id the router set; the test's "citizen" there is a baresip phone whose account is
; that number. What comes in from it is a citizen's call.
[trunk](phone)
context = from-citizens
aors = trunk
[trunk]
type = aor
contact = sip:127.0.0.1:5100
""",
    "logger.conf": """
[general]
[logfiles]
console => notice,warning,error
""",
}


FALLBACK_FROM = date(2024, 1, 1)


def fallback_dialplans() -> dict[str, str]:
    """What `callrouter dialplan --from 2024-01-01` writes for the shipped schedule, and a renamed copy."""
    schedule = load_schedule(REPO / "schedule.yaml")
    fallback = fallback_for(schedule, "1818", FALLBACK_FROM)
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    return {
        "callrouter_fallback_1818.conf": render(fallback, schedule, "schedule.yaml", stamp),
        "callrouter_check_1818.conf": render(
            fallback,
            schedule,
            "schedule.yaml",
            stamp,
            context="callrouter-check-1818",
            open_to="check-open,s,1",
            closed_to="check-closed,s,1",
            with_guidance=False,
        ),
        "extensions_callrouter.conf": (REPO / "dialplan" / "extensions_callrouter.conf").read_text(encoding="utf-8"),
    }


def prompt_texts() -> dict[str, str]:
    """The Danish prompts this tier's Asterisk has (sounds/da/callrouter/<name>.wav), by name."""
    return load_manifest().texts_for(load_schedule(REPO / "schedule.yaml"), range(2023, 2027))


def prompt_sounds() -> list[str]:
    """Those prompts as Asterisk names the sounds: the simulators of the tests are given the same,
    in Danish as slin (a .wav file's format), so that a play finds there what it finds here."""
    return [f"callrouter/{name}" for name in prompt_texts()]


def dialplan_contexts() -> set[str]:
    """The contexts of this tier's dialplan (extensions.conf and what it includes): the simulators of
    the tests are given the same, so that `continue` finds there what it finds here."""
    texts = [CONFIG["extensions.conf"], (REPO / "dialplan/extensions_callrouter.conf").read_text(encoding="utf-8")]
    return set().union(*(contexts_of(text) for text in [*texts, *fallback_dialplans().values()]))


def unavailable_reason() -> str | None:
    """Why the real tier cannot run here, or None when it can."""
    if not (ROOT / "usr/sbin/asterisk").exists():
        note = ROOT.with_name(ROOT.name + ".unavailable")
        if note.exists():
            return note.read_text(encoding="utf-8").strip()
        return f"no Asterisk root at {ROOT}; run scripts/asterisk-root (as root)"
    if os.geteuid() != 0:
        return "the real-Asterisk tier needs root (chroot, unshare)"
    return None


def music_files() -> list[Path]:
    """The music on hold of the `default` class (Debian's asterisk-moh-opsound-gsm, which
    scripts/asterisk-root installs)."""
    return sorted((ROOT / "usr/share/asterisk/moh").glob("*.gsm"))


def asterisk_pids(root: Path) -> list[int]:
    """Processes whose root directory is `root`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if Path(os.readlink(entry / "root")) == root:
                    found.append(int(entry.name))
    return found


class RealAsterisk:
    """One Asterisk process: start() writes the config and waits until ARI answers; stop() ends it.

    `folder` is this run's: the overlay's upper layer (`upper`: what Asterisk writes lands there,
    the recordings included), its work directory, and the merged root Asterisk sees."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.log_path = folder / "asterisk.log"
        self.upper, self.merged = folder / "upper", folder / "root"
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{PORT}"

    @property
    def recordings(self) -> Path:
        """Where this Asterisk's recordings are, as files the tests can read."""
        return self.upper / "var/spool/asterisk/recording"

    def pids(self) -> list[int]:
        return asterisk_pids(self.merged)

    def start(self, timeout: float = 60) -> None:
        if self.ping():  # it would answer in our Asterisk's place, and the tests would talk to it
            raise RuntimeError(
                f"something answers ARI on {self.url} already: another test run? scripts/test gives each run "
                "a network namespace of its own, so that two runs never share these ports"
            )
        for name in ("upper", "work", "root"):
            (self.folder / name).mkdir(parents=True, exist_ok=True)
        # The Danish prompts, in place before Asterisk starts and before any test plays one.
        manifest = load_manifest()
        build(prompt_texts(), self.upper / "usr/share/asterisk/sounds", manifest.language, manifest.voice)
        etc = self.upper / "etc/asterisk"
        etc.mkdir(parents=True, exist_ok=True)
        for name, text in {**CONFIG, **fallback_dialplans()}.items():
            (etc / name).write_text(text.lstrip(), encoding="utf-8")
        merged = self.merged
        overlay = f"lowerdir={ROOT},upperdir={self.upper},workdir={self.folder / 'work'}"
        script = " && ".join(
            [
                f"mount -t overlay overlay -o {overlay} {merged}",
                f"mount -t proc proc {merged}/proc",
                # Each run starts with no stored recordings (an older tree kept them in the cached root).
                f"rm -rf {merged}/var/spool/asterisk/recording",
                f"mkdir -p {merged}/var/spool/asterisk/recording",
                f"chroot {merged} chown -R asterisk:asterisk /var/spool/asterisk /etc/asterisk",
                # Asterisk's own database (astdb: device states, for one) must be able to write there.
                # A root just built has no astdb yet: Asterisk makes it at its first start.
                f"chroot {merged} chown asterisk:asterisk /var/lib/asterisk",
                f"{{ [ ! -e {merged}/var/lib/asterisk/astdb.sqlite3 ] ||"
                f" chroot {merged} chown asterisk:asterisk /var/lib/asterisk/astdb.sqlite3; }}",
                f"exec chroot {merged} /usr/sbin/asterisk -U asterisk -G asterisk -f -n",
            ]
        )
        with self.log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Asterisk exited with {self.process.returncode}:\n{self.log_tail()}")
            if self.ping():
                return
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"Asterisk's ARI did not answer within {timeout} s:\n{self.log_tail()}")

    def ping(self) -> bool:
        request = urllib.request.Request(f"{self.url}/ari/asterisk/ping", headers=AUTHORIZATION)
        try:
            with urllib.request.urlopen(request, timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        self.process = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
