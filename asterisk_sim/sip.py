"""What chan_pjsip makes of a SIP call, as Asterisk 22 shows it over ARI (channels/chan_pjsip.c): the
channel's Call-ID (`protocol_id`), the causes of a hangup by the phone, and the RTP statistics it sets
as variables when the call ends. Compared with a real Asterisk 22 and baresip phones by the differential
tier (tests/test_sim_fidelity.py, the `sip` scenarios)."""

from __future__ import annotations

import random
import uuid

# A phone's hangup, by whether the call was answered: (cause, tech_cause). An answered call ends with a
# BYE, after which chan_pjsip_session_end finds no failed SIP answer and queues the hangup with the
# channel's cause, none (0: ChannelHangupRequest carries no cause). One not yet answered the phone CANCELs:
# its INVITE ends with 487 Request Terminated, which Asterisk maps to 127 (Interworking, unspecified).
BYE = (0, 0)
CANCEL = (127, 487)

QOS = ("RTPAUDIOQOS", "RTPAUDIOQOSJITTER", "RTPAUDIOQOSLOSS", "RTPAUDIOQOSRTT", "RTPAUDIOQOSMES")
PACKETS_A_SECOND = 50  # 20 ms of G.711 in each RTP packet


def phone_call_id() -> str:
    """The Call-ID a phone gives its INVITE (baresip's: 64 random bits in hex)."""
    return f"{random.getrandbits(64):016x}"


def asterisk_call_id() -> str:
    """The Call-ID Asterisk gives a call it makes: a UUID (res_pjsip replaces PJSIP's own generator)."""
    return str(uuid.uuid4())


def _stats(prefix: str, names: tuple[str, ...]) -> str:
    return "".join(f"{prefix}{name}={0.0:010.6f};" for name in names)


def rtp_quality(seconds: float) -> list[tuple[str, str]]:
    """The variables ast_rtp_instance_set_stats_vars sets on a SIP channel as it ends, after `seconds` of
    media: Asterisk's formats, for a loss-free line on which the phone sent and received all along (the
    simulator carries no RTP to measure)."""
    count = int(seconds * PACKETS_A_SECOND)
    ssrc, theirs = random.getrandbits(32), random.getrandbits(32)
    quality = (
        f"ssrc={ssrc};themssrc={theirs};lp=0;rxjitter=0.000000;rxcount={count};txjitter=0.000000;"
        f"txcount={count};rlp=0;rtt=0.000000;rxmes=0.000000;txmes=0.000000"
    )
    both = ("min{}", "max{}", "avg{}", "stdev{}")
    rx_tx = tuple(form.format(f"{way}{{}}") for way in ("rx", "tx") for form in both)
    return [
        ("RTPAUDIOQOS", quality),
        ("RTPAUDIOQOSJITTER", _stats("", tuple(name.format("jitter") for name in rx_tx))),
        ("RTPAUDIOQOSLOSS", _stats("  ", tuple(name.format("lost") for name in rx_tx))),
        ("RTPAUDIOQOSRTT", _stats("     ", tuple(name.format("rtt") for name in both))),
        ("RTPAUDIOQOSMES", _stats("   ", tuple(name.format("mes") for name in rx_tx))),
    ]
