"""Issue 17, item 8: no share link whatever the environment says, loopback means loopback, foreign Host
headers refused without a login, nosniff everywhere, failed logins throttled."""
from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

import app
from asmnet_studio.annotator.security import HostCheck, LoginThrottle, SecurityHeaders, app_kwargs, is_loopback


@pytest.mark.parametrize("host,expected", [("127.0.0.1", True), ("127.3.4.5", True), ("localhost", True),
                                           ("::1", True), ("[::1]", True), ("127.attacker.example", False),
                                           ("127.0.0.1.nip.io", False), ("0.0.0.0", False), ("10.0.0.5", False)])
def test_loopback_is_an_ip_literal_or_localhost(host, expected):
    assert is_loopback(host) is expected and app.is_loopback(host) is expected


def test_dns_name_starting_with_127_needs_auth(monkeypatch, capsys):
    monkeypatch.delenv("ASMNET_AUTH", raising=False)
    with pytest.raises(SystemExit):
        app.parse_args(["--host", "127.attacker.example"])
    assert "without authentication" in capsys.readouterr().err


def test_no_share_link_even_with_gradio_share_set(monkeypatch):
    from asmnet_studio.annotator.ui import launch_options

    monkeypatch.setenv("GRADIO_SHARE", "true")
    monkeypatch.delenv("ASMNET_AUTH", raising=False)
    opts = {**launch_options(), **app.server_options(app.parse_args([]))}
    assert opts["share"] is False and opts["auth"] is None and opts["server_name"] == "127.0.0.1"
    kinds = [m.cls for m in opts["app_kwargs"]["middleware"]]
    assert SecurityHeaders in kinds and HostCheck in kinds
    with_auth = app.server_options(app.parse_args(["--host", "0.0.0.0", "--auth", "a:b"]))
    assert isinstance(with_auth["auth"], LoginThrottle) and with_auth["share"] is False
    assert [m.cls for m in with_auth["app_kwargs"]["middleware"]] == [SecurityHeaders]


def _client(auth=None):
    async def page(request):
        return PlainTextResponse("<html>hi</html>", media_type="text/html")
    routes = [Route("/", page), Route("/gradio_api/file={p:path}", page)]
    return TestClient(Starlette(routes=routes, middleware=app_kwargs("127.0.0.1", auth)["middleware"]),
                      base_url="http://127.0.0.1:7860")


def test_host_check_and_headers():
    c = _client()
    r = c.get("/")
    assert r.status_code == 200 and r.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in r.headers
    r = c.get("/gradio_api/file=/x/y.png")
    assert r.headers["x-content-type-options"] == "nosniff" and "sandbox" in r.headers["content-security-policy"]
    for host in ("attacker.example", "attacker.example:7860", "127.attacker.example:7860"):
        r = c.get("/", headers={"host": host})
        assert r.status_code == 421 and "not served" in r.text
    for host in ("localhost:7860", "127.0.0.1", "[::1]:7860"):
        assert c.get("/", headers={"host": host}).status_code == 200
    # with a login, any Host may ask (the login protects the data)
    assert _client(auth=("a", "b")).get("/", headers={"host": "studio.lab.example"}).status_code == 200


def test_login_throttle():
    now = [0.0]
    check = LoginThrottle("ann", "secret", free=5, max_delay_s=60, clock=lambda: now[0])
    assert check("ann", "secret")
    for _ in range(20):
        assert not check("ann", "wrong")
    assert not check("ann", "secret"), "right after 20 wrong passwords the right one must wait"
    assert check.locked_until - now[0] == 2  # the 6th failure locked for 2 s; attempts while locked don't count
    now[0] += 3
    assert not check("ann", "wrong") and check.locked_until - now[0] == 4  # then 4 s, 8 s ... capped at 60 s
    now[0] += 5
    check.failures = 40
    assert not check("ann", "wrong") and check.locked_until - now[0] == 60
    now[0] += 61
    assert check("ann", "secret") and check.failures == 0
    for _ in range(5):  # the first five failures cost nothing
        assert not check("ann", "x")
    assert check("ann", "secret")
    assert not check("bob", "secret")
