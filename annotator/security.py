"""What the web server adds to Gradio to keep the workspace to its users (issue 17, items 2 and 8).

- :class:`SecurityHeaders`: every HTTP response carries ``X-Content-Type-Options: nosniff`` (the browser
  takes a file for the type it is served as, never for what its bytes look like); files served under
  ``/file=`` also carry ``Content-Security-Policy: sandbox`` so that, whatever a file holds, it cannot run
  script in the app's origin.
- :class:`HostCheck`: a server without a login answers only requests whose ``Host`` header names a loopback
  address (a web page on another site that rebinds its DNS name to 127.0.0.1 gets 421, not the workspace).
- :class:`LoginThrottle`: the login check Gradio calls; after ``free`` wrong passwords in a row every
  attempt, right or wrong, is refused for a delay that doubles with each further failure (capped), so
  guessing is slow. The count is global (Gradio does not pass the client's address to the check).

``app_kwargs(host, auth)`` is what ``demo.launch(app_kwargs=...)`` needs for these.
"""
from __future__ import annotations

import hmac
import ipaddress
import threading
import time
from typing import Callable

#: Host names that only reach this machine (besides 127.0.0.0/8 and ::1 literals).
LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    """True when ``host`` is a loopback IP literal (127.0.0.0/8, ::1) or ``localhost``.

    A name such as ``127.attacker.example`` is not: it is resolved by DNS, which can point it anywhere.
    """
    text = str(host).strip().lower()
    if text in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(text.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_of(header: str) -> str:
    """The host part of a ``Host`` header value (``[::1]:7860`` -> ``::1``, ``a:80`` -> ``a``)."""
    h = header.strip().lower()
    if h.startswith("["):
        return h[1:h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


class SecurityHeaders:
    """ASGI middleware: ``nosniff`` on every response; ``sandbox`` CSP on files served under ``/file=``."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        is_file = "/file=" in scope.get("path", "")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in (b"x-content-type-options",)]
                headers.append((b"x-content-type-options", b"nosniff"))
                if is_file:
                    headers.append((b"content-security-policy", b"sandbox; default-src 'none'"))
                message = dict(message, headers=headers)
            await send(message)

        return await self.app(scope, receive, send_with_headers)


class HostCheck:
    """ASGI middleware: answer only requests (HTTP and websocket) whose ``Host`` is a loopback name."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            host = ""
            for k, v in scope.get("headers", []):
                if k == b"host":
                    host = v.decode("latin-1")
                    break
            if not is_loopback(_host_of(host)):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                body = (f"Host {host!r} is not served: this app has no login and answers only requests "
                        "addressed to 127.0.0.1 or localhost.").encode()
                await send({"type": "http.response.start", "status": 421,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                        (b"content-length", str(len(body)).encode()),
                                        (b"x-content-type-options", b"nosniff")]})
                await send({"type": "http.response.body", "body": body})
                return
        return await self.app(scope, receive, send)


class LoginThrottle:
    """``(username, password) -> bool`` for Gradio's ``auth=``, slowing down guessing.

    The first ``free`` consecutive failures cost nothing; each later failure locks every login for
    ``min(max_delay_s, 2 ** (failures - free))`` seconds, during which even the right password is refused
    (the browser shows "Incorrect credentials"; try again after the delay). A success resets the count.
    Passwords are compared in constant time. ``clock`` is ``time.monotonic`` (injectable for tests).
    """

    def __init__(self, user: str, password: str, *, free: int = 5, max_delay_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic):
        self._user, self._password = user.encode(), password.encode()
        self.free, self.max_delay_s, self.clock = int(free), float(max_delay_s), clock
        self.failures = 0
        self.locked_until = 0.0
        self._lock = threading.Lock()

    def __call__(self, username: str, password: str) -> bool:
        with self._lock:
            now = self.clock()
            if now < self.locked_until:
                return False
            ok = (hmac.compare_digest(str(username).encode(), self._user)
                  & hmac.compare_digest(str(password).encode(), self._password))
            if ok:
                self.failures = 0
                return True
            self.failures += 1
            if self.failures > self.free:
                self.locked_until = now + min(self.max_delay_s, 2.0 ** (self.failures - self.free))
            return False


def app_kwargs(host: str = "127.0.0.1", auth=None) -> dict:
    """``demo.launch(app_kwargs=...)`` for a server bound to ``host``: the security headers always, and the
    ``Host`` check when there is no login (``auth`` None)."""
    from starlette.middleware import Middleware

    middleware = [Middleware(SecurityHeaders)]
    if auth is None:
        middleware.append(Middleware(HostCheck))
    return {"middleware": middleware}
