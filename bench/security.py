"""Floods against a real gunicorn (config/gunicorn.py, 2 workers): `/healthz` p95 with no load
(the same-run baseline), while 6 clients post wrong passwords to the sign-in page, and while
3 clients post 2 MB GraphQL documents. The floods come from wrk (C, its own process); the
healthz probe is one keep-alive Python client sending a request every 20 ms."""

import http.client
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

from django.contrib.auth import get_user_model

from bench.common import Row, percentile, summary, web_server

PORT, WORKERS, SECONDS = 18920, 2, 10
LOGIN_CLIENTS, GRAPHQL_CLIENTS, DOC_BYTES = 6, 3, 2 * 1024 * 1024
TARGET_MS = 100


def _probe(seconds: float) -> list[float]:
    """`/healthz` latencies (ms) over `seconds`, one request every 20 ms on a keep-alive connection."""
    out = []
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        start = time.perf_counter()
        try:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"/healthz answered {response.status}")
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
            continue
        out.append((time.perf_counter() - start) * 1000)
        time.sleep(0.02)
    conn.close()
    return out


def _wrk_script(path: Path, method: str, body_file: Path, headers: dict) -> None:
    lines = [
        f'wrk.method = "{method}"',
        f'local f = io.open("{body_file}", "rb")',
        "wrk.body = f:read('*a')",
        "f:close()",
    ]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n")


def _flood(url: str, connections: int, script: Path, result: dict) -> None:
    args = [
        "wrk",
        "-t",
        "1",
        "-c",
        str(connections),
        "-d",
        f"{SECONDS + 2}s",
        "--timeout",
        "30s",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result.update(
        requests=int(total.group(1)) if total else 0,
        non_2xx=int(non2xx.group(1)) if non2xx else 0,
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
    )


def _under(url: str, connections: int, script: Path) -> tuple[list[float], dict]:
    result: dict = {}
    flood = threading.Thread(target=_flood, args=(url, connections, script, result))
    flood.start()
    time.sleep(1)  # the flood is running
    latencies = _probe(SECONDS)
    flood.join()
    return latencies, result


def _csrf() -> tuple[str, str]:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"http://127.0.0.1:{PORT}/accounts/login/", timeout=10).read()
    token = next(c.value for c in jar if c.name == "csrftoken")
    return token, f"csrftoken={token}"


def _reset_throttle(username: str) -> None:
    from axes.handlers.cache import AxesCacheHandler

    AxesCacheHandler().reset_attempts(ip_address="127.0.0.1")
    AxesCacheHandler().reset_attempts(username=username)


def _graphql_document() -> str:
    field = "services(first: 1) { edges { node { slug name } } } "
    body = "".join(f"a{i}: {field}" for i in range(DOC_BYTES // (len(field) + 8)))
    return "{ " + body + "}"


def run():
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk")
    from rest_framework.authtoken.models import Token

    User = get_user_model()
    victim = User.objects.filter(username="bench-login").first() or User.objects.create_user(
        "bench-login", password=secrets.token_urlsafe(16)
    )
    reader = User.objects.filter(username="bench-reader").first() or User.objects.create_user("bench-reader")
    token = Token.objects.get_or_create(user=reader)[0].key
    _reset_throttle(victim.username)

    env = {"LOG_LEVEL": "ERROR", "WEB_WORKERS": str(WORKERS), "SWITCHBOARD_BIND": f"127.0.0.1:{PORT}"}
    tmp = Path(tempfile.mkdtemp(prefix="bench-security-"))
    try:
        with web_server(PORT, args=["-c", "config/gunicorn.py", "config.wsgi"], env=env):
            _probe(1)  # warm every worker
            baseline = _probe(SECONDS)

            csrf, cookie = _csrf()
            (tmp / "login.body").write_text(
                urllib.parse.urlencode({"username": victim.username, "password": "wrong-password", "next": "/"})
            )
            _wrk_script(
                tmp / "login.lua",
                "POST",
                tmp / "login.body",
                {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Cookie": cookie,
                    "X-CSRFToken": csrf,
                    "Referer": f"http://127.0.0.1:{PORT}/accounts/login/",
                },
            )
            login, login_flood = _under(f"http://127.0.0.1:{PORT}/accounts/login/", LOGIN_CLIENTS, tmp / "login.lua")

            import json

            (tmp / "graphql.body").write_text(json.dumps({"query": _graphql_document()}))
            _wrk_script(
                tmp / "graphql.lua",
                "POST",
                tmp / "graphql.body",
                {"Content-Type": "application/json", "Authorization": f"Token {token}"},
            )
            size = (tmp / "graphql.body").stat().st_size
            gql, gql_flood = _under(f"http://127.0.0.1:{PORT}/graphql", GRAPHQL_CLIENTS, tmp / "graphql.lua")
            sample = urllib.request.Request(
                f"http://127.0.0.1:{PORT}/graphql",
                data=(tmp / "graphql.body").read_bytes(),
                headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
            )
            try:
                with urllib.request.urlopen(sample, timeout=60) as response:
                    gql_flood["answer"] = f"{response.status} {response.read(200)!r}"
            except urllib.error.HTTPError as exc:
                gql_flood["answer"] = f"{exc.code} {exc.read(200)!r}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        _reset_throttle(victim.username)

    base_p95 = percentile(baseline, 95)
    yield Row("/healthz p95, no load (baseline)", round(base_p95, 2), "ms", "", None, summary(baseline))
    for label, values, flood in (
        (f"{LOGIN_CLIENTS} clients posting wrong passwords", login, login_flood),
        (f"{GRAPHQL_CLIENTS} clients posting {size / 1e6:.1f} MB GraphQL documents", gql, gql_flood),
    ):
        p95 = percentile(values, 95)
        detail = {**summary(values), "flood": flood, "baseline_p95": round(base_p95, 2)}
        yield Row(f"/healthz p95 while {label}", round(p95, 2), "ms", f"<= {TARGET_MS} ms", p95 <= TARGET_MS, detail)
        yield Row(f"  flood requests/s ({flood.get('non_2xx', 0)} non-2xx)", round(flood.get("rps", 0)), "req/s")
