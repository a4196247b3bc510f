import os
from pathlib import Path

import pytest

# Playwright's sync API keeps an event loop in this thread; the Django ORM calls the tests
# make between browser steps are ordinary synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def record_failed_requests(page, problems: list) -> None:
    """Requests that got no answer go in ``problems``, except ``net::ERR_ABORTED``: Chromium
    cancelling a request itself (a navigation began while the favicon still loaded, htmx
    dropping a superseded request) is not an answer that failed."""
    page.on(
        "requestfailed",
        lambda r: None if r.failure == "net::ERR_ABORTED" else problems.append(f"failed: {r.url} {r.failure}"),
    )


@pytest.fixture(scope="module")
def browser():
    """Module-scoped: Playwright's sync API runs an event loop in this thread while it is
    open, which later tests that call asyncio.run must not inherit."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and "page" in item.funcargs:
        ARTIFACTS.mkdir(exist_ok=True)
        try:
            item.funcargs["page"].screenshot(path=str(ARTIFACTS / f"{item.name}.png"), full_page=True)
        except Exception:  # noqa: S110 (the page may be gone; the failure itself is reported anyway)
            pass


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.dialogs = []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    external = []
    pg.on("request", lambda r: external.append(r.url) if not r.url.startswith(live_server.url) else None)
    pg.external_requests = external
    yield pg
    context.close()


@pytest.fixture
def sign_in(page, django_user_model):
    def go(username="root", password="pw", superuser=True):
        if not django_user_model.objects.filter(username=username).exists():
            make = django_user_model.objects.create_superuser if superuser else django_user_model.objects.create_user
            make(username=username, password=password, email=f"{username}@example.com")
        page.goto("/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_selector("text=Sign out")
        return page

    return go
