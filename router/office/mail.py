"""The e-mail that tells the staff about a message: composed here (pure), sent through the site's SMTP server.

The e-mail is in Danish and carries what a person needs to call back (the number, the line, the
time in the schedule's zone, the length) and the recording as a WAV attachment, which Outlook and
every other mail program play. Its Message-ID is derived from the message alone, and its Date is
when the message was left, so a resend after a crash is the same e-mail, recognisable as such.

The SMTP password comes from a file (CALLROUTER_SMTP_PASSWORD_FILE), never from the schedule or the
environment's plain text, and is never logged.
"""

from __future__ import annotations

import email.policy
import hashlib
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime
from zoneinfo import ZoneInfo

from router.office import caller_id, danish
from router.office.messages import Message

# Lines up to RFC 5322's limit: Python's folder (3.11) drops a space where it folds between two
# encoded words, which would change the Subject; ours is bounded (office/caller_id.py) far below it.
POLICY = email.policy.default.clone(max_line_length=998)


class MailConfigError(ValueError):
    pass


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str  # the From address
    starttls: bool = True
    user: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a log line or a traceback's repr
    ca_file: str | None = None  # a site's own CA, if its mail server's certificate is not publicly signed
    timeout: float = 30.0


def smtp_config_from_env(env: Mapping[str, str]) -> SmtpConfig | None:
    """CALLROUTER_SMTP (host:port; unset: no e-mail is sent, and pending ones wait), CALLROUTER_MAIL_FROM,
    CALLROUTER_SMTP_TLS (starttls, the default, or none), CALLROUTER_SMTP_USER with
    CALLROUTER_SMTP_PASSWORD_FILE, and CALLROUTER_SMTP_CA_FILE."""
    address = env.get("CALLROUTER_SMTP")
    if not address:
        return None
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise MailConfigError(f"CALLROUTER_SMTP is host:port (e.g. mail.kommune.dk:587), not {address!r}")
    sender = env.get("CALLROUTER_MAIL_FROM", "")
    if "@" not in sender:
        raise MailConfigError("CALLROUTER_MAIL_FROM must be the address the e-mails come from, e.g. telefon@kommune.dk")
    tls = env.get("CALLROUTER_SMTP_TLS", "starttls")
    if tls not in ("starttls", "none"):
        raise MailConfigError(f"CALLROUTER_SMTP_TLS is starttls or none, not {tls!r}")
    user = env.get("CALLROUTER_SMTP_USER") or None
    password = None
    if env.get("CALLROUTER_SMTP_PASSWORD_FILE"):
        try:
            with open(env["CALLROUTER_SMTP_PASSWORD_FILE"], encoding="utf-8") as f:
                password = f.read().rstrip("\r\n")
        except OSError as e:
            raise MailConfigError(f"CALLROUTER_SMTP_PASSWORD_FILE: {e}") from None
    if user and password is None:
        raise MailConfigError("CALLROUTER_SMTP_USER needs CALLROUTER_SMTP_PASSWORD_FILE (a file with the password)")
    if password is not None and tls == "none":
        raise MailConfigError("a password is sent only over STARTTLS; set CALLROUTER_SMTP_TLS=starttls")
    return SmtpConfig(
        host.strip("[]"), int(port), sender, tls == "starttls", user, password, env.get("CALLROUTER_SMTP_CA_FILE")
    )


def message_id(message: Message, sender: str) -> str:
    """The e-mail's Message-ID: the same for every send of the same message. A digest of the id, not
    the id itself: a fallback message's id is long, and a folded Message-ID confuses mail programs."""
    domain = sender.rpartition("@")[2] or "callrouter.invalid"
    return f"<message.{_digest(message.id)[:24]}@{domain}>"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def compose(
    message: Message,
    recipients: tuple[str, ...],
    sender: str,
    tz: ZoneInfo,
    line_name: str,
    audio: bytes | None,
) -> EmailMessage:
    """The e-mail for `message`; `audio` is the recording's WAV, or None when Asterisk no longer has it.
    The caller id and name go in in the forms of office/caller_id.py (display() in the text, header()
    in the Subject, filename() in the attachment's name): whatever the phone sent, no header is split
    or forged, and no name is a path."""
    caller, subject = _who(message, caller_id.display), _who(message, caller_id.header)
    at = message.received_at.astimezone(tz)
    mail = EmailMessage(policy=POLICY)
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    if message.callback is not None:
        mail["Subject"] = f"Tilbagekald ikke gennemført på {message.line}: {subject}"
    else:
        mail["Subject"] = f"Ny besked på {message.line} fra {subject}"
    mail["Date"] = format_datetime(at)
    mail["Message-ID"] = message_id(message, sender)
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: out-of-office replies are not sent back
    name = f" ({line_name})" if line_name and line_name != message.line else ""
    lines = [
        f"Der er lagt en besked på telefonlinjen {message.line}{name}.",
        "",
        f"Ring op til:  {caller}",
        f"Modtaget:     {danish.moment(message.received_at, tz)}",
        f"Længde:       {danish.seconds(message.seconds)}",
        "",
        "Beskeden er vedhæftet som lydfil."
        if audio is not None
        else "Optagelsen findes ikke længere (den er slettet), så den er ikke vedhæftet.",
        'Når du har ringet borgeren op, så markér beskeden "ringet op" i konsollen, så I ikke ringer to gange.',
        "",
        "Denne e-mail er sendt automatisk af telefonsystemet. Svar ikke på den.",
    ]
    if message.callback is not None:
        lines = _callback_lines(message, caller, name, tz)
    mail.set_content("\n".join(lines))
    if audio is not None:
        who = caller_id.filename(message.caller)
        filename = f"besked-{caller_id.filename(message.line)}-{at:%Y%m%d-%H%M}-{who}.wav"
        mail.add_attachment(audio, maintype="audio", subtype="wav", filename=filename)
        # A boundary of its own, not a random one: every send of a message is the same bytes.
        mail.set_boundary("callrouter-" + _digest(message.id)[:32])
    return mail


def _callback_lines(message: Message, caller: str, name: str, tz: ZoneInfo) -> list[str]:
    """A queue's callback that could not be made (office/callbacks.py), as the staff read of it."""
    return [
        f"En borger i køen på telefonlinjen {message.line}{name} bad om at blive ringet op.",
        f"Vi forsøgte at ringe borgeren op, men fik ikke fat i dem: {message.callback}.",
        "",
        f"Ring op til:  {caller}",
        f"Bestilt:      {danish.moment(message.received_at, tz)}",
        "",
        'Når du har ringet borgeren op, så markér beskeden "ringet op" i konsollen, så I ikke ringer to gange.',
        "",
        "Denne e-mail er sendt automatisk af telefonsystemet. Svar ikke på den.",
    ]


def _who(message: Message, form: Callable[[str], str]) -> str:
    """The caller's number, and their name if the call carried one, in `form` (office/caller_id.py)."""
    who = form(message.caller) if message.caller else "skjult nummer"
    name = form(message.caller_name)
    return f"{who} ({name})" if name and message.caller_name != message.caller else who


class PermanentMailError(Exception):
    """The server refused the e-mail for good (a 5xx answer): trying again would not help."""


def send(config: SmtpConfig, mail: EmailMessage) -> str | None:
    """Send one e-mail (blocking; run it in a thread). Returns which recipients the server refused
    while taking it for the others (None: none). Raises PermanentMailError for a refusal that will
    not change, OSError or smtplib.SMTPException for anything worth trying again."""
    context = ssl.create_default_context(cafile=config.ca_file) if config.starttls else None
    try:
        with smtplib.SMTP(config.host, config.port, timeout=config.timeout) as smtp:
            smtp.ehlo()
            if context is not None:
                smtp.starttls(context=context)
                smtp.ehlo()
            if config.user and config.password is not None:
                smtp.login(config.user, config.password)
            refused = smtp.send_message(mail)
    except smtplib.SMTPRecipientsRefused as e:
        if all(500 <= code < 600 for code, _ in e.recipients.values()):
            raise PermanentMailError(f"every recipient refused: {_refusals(e.recipients)}") from None
        raise  # a 4xx for some (a full mailbox, greylisting): worth trying again
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError, smtplib.SMTPAuthenticationError) as e:
        if 500 <= e.smtp_code < 600:
            raise PermanentMailError(f"{e.smtp_code} {_text(e.smtp_error)}") from None
        raise
    # Some recipients took it: it counts as sent (sending again would double it for them).
    return _refusals(refused) if refused else None


def _text(error: bytes | str) -> str:
    return error.decode(errors="replace") if isinstance(error, bytes) else error


def _refusals(refused: Mapping[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{address}: {code} {_text(text)}" for address, (code, text) in refused.items())
