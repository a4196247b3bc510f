"""Server-side hardening: sign-in throttling (django-axes on Redis), security headers, no-store
on secret-carrying responses, sign-in for the API docs, and a web server that slow clients
cannot block (real gunicorn)."""

import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client

from tests.conftest import ROOT

LIMIT = 3


class CountingHasher(MD5PasswordHasher):
    """A real hasher that counts how often a password is checked against a stored hash."""

    algorithm = "counting_md5"
    verified = 0

    def verify(self, password, encoded):
        CountingHasher.verified += 1
        return super().verify(password, encoded)


@pytest.fixture
def throttle(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.PASSWORD_HASHERS = ["tests.security.test_server.CountingHasher"]
    CountingHasher.verified = 0
    return settings


def login(username, password, address, path="/accounts/login/", **extra):
    client = Client(REMOTE_ADDR=address)
    response = client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address, **extra)
    return client, response


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_an_account_is_refused_after_the_limit_even_with_the_right_password(throttle, django_user_model):
    django_user_model.objects.create_user("ann", password="right-password")
    # Each failure from another address: only the account counter trips; the last one is refused.
    statuses = [login("ann", "wrong", f"10.0.0.{i + 1}")[1].status_code for i in range(LIMIT)]
    assert statuses == [200] * (LIMIT - 1) + [429]
    hashed_before = CountingHasher.verified
    client, response = login("ann", "right-password", "10.0.9.9")
    assert response.status_code == 429
    assert not signed_in(client)
    assert CountingHasher.verified == hashed_before  # refused before the password was hashed
    page = response.content.decode()
    assert "Too many failed sign-in attempts" in page and 'id="login-throttled"' in page
    assert response["Retry-After"] == str(throttle.LOGIN_LOCKOUT_SECONDS)
    # Another account from a fresh address is not affected.
    django_user_model.objects.create_user("bob", password="bob-password")
    client, response = login("bob", "bob-password", "10.0.9.10")
    assert response.status_code == 302 and signed_in(client)


def test_the_lock_lifts_when_the_window_has_passed(throttle, django_user_model):
    throttle.AXES_COOLOFF_TIME = timedelta(seconds=1)
    django_user_model.objects.create_user("ann", password="right-password")
    for i in range(LIMIT):
        login("ann", "wrong", f"10.0.1.{i + 1}")
    assert login("ann", "right-password", "10.0.1.99")[1].status_code == 429
    time.sleep(2.5)  # Redis expires the counters one second after the last attempt
    client, response = login("ann", "right-password", "10.0.1.99")
    assert response.status_code == 302 and signed_in(client)


def test_an_address_is_limited_across_accounts(throttle, django_user_model):
    django_user_model.objects.create_user("carol", password="carol-password")
    # One failure per guessed account, all from one address.
    statuses = [login(f"x{i}", "guess", "192.0.2.7")[1].status_code for i in range(LIMIT)]
    assert statuses == [200] * (LIMIT - 1) + [429]
    client, response = login("carol", "carol-password", "192.0.2.7")
    assert response.status_code == 429 and not signed_in(client)
    client, response = login("carol", "carol-password", "192.0.2.8")  # the same account elsewhere
    assert response.status_code == 302 and signed_in(client)


def test_forwarded_addresses_count_only_from_trusted_proxies(throttle, django_user_model):
    django_user_model.objects.create_user("dan", password="dan-password")
    # An untrusted peer rotating X-Forwarded-For stays one address.
    for i in range(LIMIT):
        login(f"u{i}", "guess", "198.51.100.1", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
    assert login("dan", "dan-password", "198.51.100.1", HTTP_X_FORWARDED_FOR="203.0.113.200")[1].status_code == 429
    # Behind a trusted proxy, each real client has its own bucket.
    throttle.TRUSTED_PROXIES = ["127.0.0.1"]
    for i in range(LIMIT):
        login(f"v{i}", "guess", "127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.50")
    assert login("dan", "dan-password", "127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.50")[1].status_code == 429
    client, response = login("dan", "dan-password", "127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.51")
    assert response.status_code == 302 and signed_in(client)


def test_admin_sign_in_is_throttled_too(throttle, django_user_model):
    django_user_model.objects.create_superuser("root", "r@example.com", "root-password")
    statuses = [login("root", "wrong", f"10.0.2.{i}", path="/admin/login/")[1].status_code for i in range(LIMIT)]
    assert statuses == [200] * (LIMIT - 1) + [429]
    client, response = login("root", "root-password", "10.0.2.50", path="/admin/login/")
    assert response.status_code == 429 and not signed_in(client)
    assert "Too many failed sign-in attempts" in response.content.decode()


def test_json_clients_get_the_error_shape(throttle, django_user_model):
    for _ in range(LIMIT):
        login("eve", "wrong", "10.0.3.1")
    _, response = login("eve", "wrong", "10.0.3.1", HTTP_ACCEPT="application/json")
    assert response.status_code == 429
    assert response.json()["code"] == "login_throttled" and "Too many" in response.json()["detail"]


# --- Headers ------------------------------------------------------------------------


def test_security_headers_on_every_page(world, client):
    anonymous = client.get("/accounts/login/")
    client.force_login(world["reader"])
    for response in (anonymous, client.get("/"), client.get("/services/"), client.get("/api/v1/services/")):
        csp = response["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response["Referrer-Policy"] == "same-origin"
        assert response["X-Content-Type-Options"] == "nosniff"
    # The gateway's answers go to a proxy, not a browser: no policy is built for them.
    assert "Content-Security-Policy" not in client.get("/gateway/verify")
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert "script-src 'self';" in docs["Content-Security-Policy"] + ";"  # styles relaxed, never scripts
    assert "<script>" not in docs.content.decode()


def test_responses_with_secrets_are_not_stored(world, client, api):
    from catalog.services import api_create, service_create

    provider = service_create(actor=world["root"], team=world["team"], slug="orders", name="Orders")
    api_create(actor=world["root"], provider=provider, slug="orders-v1", name="Orders v1")
    service_create(actor=world["root"], team=world["other_team"], slug="web", name="Web")
    rest = api(world["lead"]).post("/api/v1/keys/", {"api": "orders-v1", "consumer": "web", "name": "k"}, format="json")
    assert rest.status_code == 201 and "secret" in rest.json()
    client.force_login(world["lead"])
    client.get("/graphql", HTTP_ACCEPT="text/html")
    gql = client.post(
        "/graphql",
        json.dumps({"query": 'mutation { issueKey(api: "orders-v1", consumer: "web", name: "g") { secret } }'}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
    )
    assert gql.status_code == 200 and gql.json()["data"]["issueKey"]["secret"]
    portal_key = client.post("/keys/issue/", {"api": "orders-v1", "consumer": "web", "name": "p"})
    token = client.post("/profile/token/")
    profile = client.get("/profile/")
    for response in (rest, gql, portal_key, token, profile):
        assert "no-store" in response["Cache-Control"], response
    static = client.get("/static/css/app.css")
    assert "no-store" not in static.get("Cache-Control", "")


def test_api_schema_and_docs_need_sign_in(world, client, api):
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 401 and schema.json()["code"] == "not_authenticated"
    docs = client.get("/api/docs/")
    assert docs.status_code == 302 and docs["Location"].startswith("/accounts/login/?next=/api/docs/")
    assert api(world["reader"]).get("/api/schema/?format=json").status_code == 200
    client.force_login(world["reader"])
    assert client.get("/api/docs/").status_code == 200


def test_https_settings_turn_on_secure_cookies_and_hsts():
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); django.setup();"
        "from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER)"
    )

    def read(**env):
        import os

        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    assert read(DJANGO_HTTPS="0") == "False False 0 None"
    assert read(DJANGO_HTTPS="1") == "True True 31536000 ('HTTP_X_FORWARDED_PROTO', 'https')"


# --- A real gunicorn ----------------------------------------------------------------


def _trickle(sock: socket.socket, stop: threading.Event) -> None:
    """Send a request head one header line every half second, never finishing it."""
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    n = 0
    while not stop.wait(0.5):
        try:
            sock.sendall(f"X-Slow-{n}: {n}\r\n".encode())
        except OSError:
            return
        n += 1


def test_slow_clients_do_not_block_the_server(web_processes):
    (url,) = web_processes(1, workers=1)
    port = int(url.rsplit(":", 1)[1])
    stop = threading.Event()
    sockets, threads = [], []
    try:
        for _ in range(6):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sockets.append(sock)
            threads.append(threading.Thread(target=_trickle, args=(sock, stop), daemon=True))
            threads[-1].start()
        time.sleep(1)  # every slow connection has been accepted and is being read
        with urllib.request.urlopen(url + "/healthz", timeout=20) as response:
            assert response.status == 200 and response.read() == b"ok"
        assert all(t.is_alive() for t in threads)  # the slow heads were still unfinished
    finally:
        stop.set()
        for sock in sockets:
            sock.close()


def test_https_and_public_docs_settings_in_a_real_server(web_processes):
    (url,) = web_processes(1, workers=1, DJANGO_HTTPS="1", API_DOCS_PUBLIC="1")
    with urllib.request.urlopen(url + "/api/schema/?format=json", timeout=20) as response:
        assert response.status == 200 and "/api/v1/services/" in json.loads(response.read())["paths"]
    request = urllib.request.Request(url + "/accounts/login/", headers={"X-Forwarded-Proto": "https"})
    with urllib.request.urlopen(request, timeout=20) as response:
        assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
        assert "secure" in response.headers["Set-Cookie"].lower()


# --- Deployment files ---------------------------------------------------------------


def test_the_compose_file_has_no_demo_data_and_no_default_passwords():
    import yaml

    text = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    assert "seed_demo" not in text and "switchboard-dev" not in text
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key or "SECRET" in key or key == "NEO4J_AUTH" or key == "DATABASE_URL":
                assert ":?" in str(value), (name, key, value)  # required from the environment, no default
        command = service.get("command") or ""
        assert "gunicorn" not in command or "-c config/gunicorn.py" in command
    assert compose["services"]["web"].get("ports") is None  # only nginx is published
    assert compose["services"]["nginx"]["ports"]


def test_the_nginx_config_is_valid(tmp_path):
    import shutil

    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    conf = (
        (ROOT / "scripts" / "nginx" / "switchboard.conf").read_text().replace("server web:8000;", "server 127.0.0.1:9;")
    )
    (tmp_path / "site.conf").write_text(conf)
    (tmp_path / "main.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\nhttp {{ include {tmp_path}/site.conf; }}\n"
    )
    result = subprocess.run([nginx, "-t", "-c", str(tmp_path / "main.conf")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_nginx_passes_every_body_size_switchboard_accepts(settings):
    """nginx's limit is checked before Django's: a lower one would turn bodies the app accepts
    (an OTLP push of 3 MiB) into nginx's own HTML 413."""
    conf = (ROOT / "scripts" / "nginx" / "switchboard.conf").read_text()
    number, unit = re.search(r"^\s*client_max_body_size\s+(\d+)([kKmM]?);", conf, re.M).groups()
    limit = int(number) * {"": 1, "k": 1024, "m": 1024 * 1024}[unit.lower()]
    for name in ("OTLP_MAX_BODY_BYTES", "CATALOG_MAX_BYTES", "DATA_UPLOAD_MAX_MEMORY_SIZE"):
        assert limit >= getattr(settings, name), (name, limit)
