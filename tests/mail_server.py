"""A real SMTP server on loopback for the tests (aiosmtpd): STARTTLS with a test CA (trustme), AUTH
required over TLS, and every e-mail it accepted kept as a parsed message.

It can be stopped and started again on the same port (the site's mail server down for a while),
and told to hold each e-mail after reading it and before answering (`hold`), so that a test can
kill the router between the server having the e-mail and the router marking it sent.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "telefon", "p@ss; & # :word"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class MailServer:
    folder: Path
    port: int = field(default_factory=free_port)
    received: list[EmailMessage] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # recipients answered with 550
    greylist: dict[str, int] = field(default_factory=dict)  # recipient -> how many more tries get a 451
    hold: threading.Event | None = None  # set: each e-mail waits for it before 250 is answered
    held: threading.Event = field(default_factory=threading.Event)  # an e-mail arrived and is being held
    _controller: Controller | None = None

    def __post_init__(self) -> None:
        ca = trustme.CA()
        self.ca_file = self.folder / "smtp-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(self._tls)
        self.password_file = self.folder / "smtp-password"
        self.password_file.write_text(PASSWORD + "\n")

    def env(self, sender: str = "telefon@kommune.example.dk") -> dict[str, str]:
        """The router's settings for this server."""
        return {
            "CALLROUTER_SMTP": f"127.0.0.1:{self.port}",
            "CALLROUTER_MAIL_FROM": sender,
            "CALLROUTER_SMTP_USER": USER,
            "CALLROUTER_SMTP_PASSWORD_FILE": str(self.password_file),
            "CALLROUTER_SMTP_CA_FILE": str(self.ca_file),
        }

    def start(self) -> None:
        self._controller = Controller(
            _Handler(self),
            hostname="127.0.0.1",
            port=self.port,
            tls_context=self._tls,
            require_starttls=True,
            authenticator=_authenticate,
            auth_required=True,
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class _Handler:
    def __init__(self, server: MailServer) -> None:
        self._server = server

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self._server.refuse:
            return "550 5.1.1 no such mailbox"
        if self._server.greylist.get(address, 0) > 0:
            self._server.greylist[address] -= 1
            return "451 4.7.1 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self._server.received.append(parsed)
        if self._server.hold is not None:
            self._server.held.set()
            await asyncio.to_thread(self._server.hold.wait)  # the test's thread sets it
        return "250 Message accepted for delivery"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)
