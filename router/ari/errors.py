"""The ARI error tree, drawn once so every failure is visible at a glance.

    AriError
    ├── AriFenced                 not sent: this router lost its role (router/office/standby.py)
    ├── AriUnavailable            Asterisk did not answer: refused, reset, timed out
    │   └── AriServerError        5xx: Asterisk answered but failed
    └── AriRequestError           4xx: Asterisk refused this request (has .status, .message)
        ├── AriBadRequest         400: the request itself is wrong
        ├── AriNotFound           404, and 400 "Channel not found" from bridges/addChannel
        ├── AriConflict           409: e.g. "Channel not in Stasis application", "already exists"
        └── AriUnprocessable      422: e.g. a channel not in the bridge

For a router, `CALL_MOVED_ON` (404, 409, 422) is a normal outcome: the caller or an agent hung up or left
between our decision and our request. Callers catch that tuple and carry on; anything else is a real fault.
"""

from __future__ import annotations


class AriError(Exception):
    """Anything that went wrong talking to Asterisk."""

    def __init__(self, message: str, *, method: str = "", path: str = "") -> None:
        self.message, self.method, self.path = message, method, path
        super().__init__(f"{method} {path}: {message}" if method else message)


class AriFenced(AriError):
    """Not sent: this router no longer holds its role for this Asterisk (another router took over)."""


class AriUnavailable(AriError):
    """Asterisk could not be reached, or did not answer in time."""


class AriServerError(AriUnavailable):
    """Asterisk answered with a 5xx status."""

    def __init__(self, status: int, message: str, *, method: str = "", path: str = "") -> None:
        self.status = status
        super().__init__(f"{status} {message}", method=method, path=path)
        self.message = message


class AriRequestError(AriError):
    """Asterisk refused the request (4xx)."""

    status = 400

    def __init__(self, message: str, *, method: str = "", path: str = "", status: int | None = None) -> None:
        if status is not None:
            self.status = status
        super().__init__(f"{self.status} {message}", method=method, path=path)
        self.message = message


class AriBadRequest(AriRequestError):
    status = 400


class AriNotFound(AriRequestError):
    status = 404


class AriConflict(AriRequestError):
    status = 409


class AriUnprocessable(AriRequestError):
    status = 422


CALL_MOVED_ON: tuple[type[AriRequestError], ...] = (AriNotFound, AriConflict, AriUnprocessable)

_BY_STATUS: dict[int, type[AriRequestError]] = {
    400: AriBadRequest,
    404: AriNotFound,
    409: AriConflict,
    422: AriUnprocessable,
}


def error_for(status: int, message: str, method: str, path: str) -> AriError:
    """The one place where an HTTP answer becomes an exception."""
    if status >= 500:
        return AriServerError(status, message, method=method, path=path)
    if status == 400 and path.startswith("/bridges/") and "not found" in message.lower():
        # bridges/addChannel answers 400 "Channel not found" when the channel hung up meanwhile.
        return AriNotFound(message, method=method, path=path, status=400)
    return _BY_STATUS.get(status, AriRequestError)(message, method=method, path=path, status=status)
