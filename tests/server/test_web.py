"""The server's pages: CSRF and redirects in-process, and the flows in a real headless
Chromium (Debian's package, driven by Playwright; Playwright never downloads a browser)."""

from __future__ import annotations

import re

import httpx
import pytest

from .conftest import PASSWORD  # the browser and page fixtures are in conftest.py


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


# --- in-process -----------------------------------------------------------------------------------


def test_forms_without_a_matching_csrf_token_are_refused(client, make_account) -> None:
    make_account("form@example.com")
    page = client.get("/signin")
    token = _csrf(page.text)
    assert "me_csrf" in page.cookies
    data = {"email": "form@example.com", "password": PASSWORD}
    assert client.post("/signin", data=data).status_code == 403
    assert client.post("/signin", data={**data, "csrf_token": "x" * 43}).status_code == 403
    cross = client.post("/signin", data={**data, "csrf_token": token}, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    ok = client.post("/signin", data={**data, "csrf_token": token}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/account"
    session = ok.cookies.get("me_session") or client.cookies.get("me_session")
    assert session
    set_cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:alert(1)"]
)
def test_sign_in_never_redirects_off_site(client, make_account, target) -> None:
    make_account("redirect@example.com")
    token = _csrf(client.get("/signin").text)
    response = client.post(
        "/signin",
        data={"email": "redirect@example.com", "password": PASSWORD, "csrf_token": token, "next": target},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/account"


def test_pages_need_a_session_and_sign_out_ends_it(client, make_account) -> None:
    assert client.get("/account", follow_redirects=False).headers["location"] == "/signin?next=%2Faccount"
    device = client.get("/device?code=BCDF-GHJK", follow_redirects=False)
    assert device.headers["location"] == "/signin?next=%2Fdevice%3Fcode%3DBCDF-GHJK"
    make_account("session@example.com")
    token = _csrf(client.get("/signin").text)
    client.post("/signin", data={"email": "session@example.com", "password": PASSWORD, "csrf_token": token})
    account = client.get("/account")
    assert account.status_code == 200 and "session@example.com" in account.text
    client.post("/signout", data={"csrf_token": _csrf(account.text)})  # tied to the session (issue 12)
    assert client.get("/account", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    ("typed", "lands"),
    [
        ("/login", "/signin"),
        ("/login?next=%2Fpricing", "/signin?next=%2Fpricing"),
        ("/login?next=%2F%2Fevil.example", "/signin?next=%2Faccount"),
        ("/register", "/signup"),
        ("/logout", "/account"),
    ],
)
def test_addresses_people_type_lead_to_the_pages(client, typed, lands) -> None:
    # a browser that asks for /login gets the sign-in page, not the API's JSON 404
    response = client.get(typed, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == lands
    page = client.get(typed)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]


def test_the_checkout_success_page_claims_no_payment_without_stripe(client, make_account) -> None:
    # this server has no Stripe key: nobody can have paid, whoever opens the page and with any session id
    for path in ("/checkout/success", "/checkout/success?session_id=cs_test_made_up"):
        page = client.get(path)
        assert page.status_code == 200
        assert "payment went through" not in page.text and "Billing is not set up on this server" in page.text
    make_account("nobilling@example.com")
    token = _csrf(client.get("/signin").text)
    client.post("/signin", data={"email": "nobilling@example.com", "password": PASSWORD, "csrf_token": token})
    page = client.get("/checkout/success?session_id=cs_test_made_up")
    assert "payment went through" not in page.text and "Billing is not set up on this server" in page.text
    assert re.search(r'data-testid="current-plan">Starter<', page.text)


def test_sign_up_can_be_closed(settings_env, database, clock, backend) -> None:
    from argon2.profiles import CHEAPEST
    from starlette.testclient import TestClient

    from mediaenhancer_core.accounts.passwords import Passwords
    from mediaenhancer_core.services import Core
    from mediaenhancer_core.settings import Settings
    from mediaenhancer_server import create_app

    settings = Settings.load({**settings_env, "MEDIAENHANCER_ALLOW_SIGNUP": "false"})
    core = Core.open(settings, db=database, passwords=Passwords(CHEAPEST), clock=clock)
    with TestClient(create_app(core=core, prepare_database=False)) as client:
        page = client.get("/signup")
        assert page.status_code == 403 and "Sign-up is closed" in page.text
        token = _csrf(client.get("/signin").text)
        refused = client.post(
            "/signup",
            data={"email": "x@example.com", "password": PASSWORD, "password_confirm": PASSWORD, "csrf_token": token},
        )
        assert refused.status_code == 403
    from mediaenhancer_core.errors import NotFoundError

    with pytest.raises(NotFoundError):
        core.accounts.by_email("x@example.com")


# --- real browser ---------------------------------------------------------------------------------


def test_browser_sign_up_account_page_and_tokens(page, live_server) -> None:
    base = live_server.url
    page.goto(f"{base}/signup")
    page.fill("input[name=email]", "Browser@Example.com")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password_confirm]", PASSWORD)
    page.click("button[type=submit]")
    # the same answer whether or not the address had an account (issue 12); then sign in
    assert "If browser@example.com had no account, it has one now" in page.inner_text("main")
    page.goto(f"{base}/signin")
    page.fill("input[name=email]", "browser@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/account")
    assert page.inner_text("[data-testid=plan-name]") == "Starter"
    assert "0 of 10" in page.inner_text("[data-testid=usage-projects]")
    assert "browser@example.com" in page.inner_text("header")

    page.fill("input[name=name]", "from the browser")
    page.click("text=Create token")
    token = page.inner_text("[data-testid=new-token]").strip()
    me = httpx.get(f"{base}/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["email"] == "browser@example.com"

    page.goto(f"{base}/account")  # shown once: not on the next visit
    assert page.locator("[data-testid=new-token]").count() == 0
    assert "from the browser" in page.inner_text("table.tokens")
    page.click("button[aria-label='Revoke from the browser']")
    page.wait_for_url(f"{base}/account")
    assert page.locator("table.tokens").count() == 0
    assert httpx.get(f"{base}/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_browser_device_approval(page, live_server, make_account) -> None:
    base = live_server.url
    make_account("approver@example.com")
    start = httpx.post(f"{base}/api/device/code", json={"client_name": "mediaenhancer CLI on test-box"}).json()
    page.goto(start["verification_uri_complete"])
    page.wait_for_url(re.compile(r".*/signin\?next=.*"))
    page.fill("input[name=email]", "approver@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/device\?code=.*"))
    assert page.input_value("input[name=code]") == start["user_code"]
    page.click("text=Continue")
    assert "mediaenhancer CLI on test-box" in page.inner_text("main")
    assert start["user_code"] in page.inner_text("main")
    page.click("button[value=approve]")
    assert "Device connected" in page.inner_text("h1")
    live_server.core.clock.advance(start["interval"])
    answer = httpx.post(f"{base}/api/device/token", json={"device_code": start["device_code"]})
    assert answer.status_code == 200
    me = httpx.get(f"{base}/api/auth/me", headers={"Authorization": f"Bearer {answer.json()['access_token']}"})
    assert me.json()["email"] == "approver@example.com"


def test_browser_wrong_password_then_throttled(page, live_server, make_account) -> None:
    base = live_server.url
    make_account("throttled@example.com")
    for _ in range(live_server.core.settings.signin_max_failures):
        page.goto(f"{base}/signin")
        page.fill("input[name=email]", "throttled@example.com")
        page.fill("input[name=password]", "not the password")
        page.click("button[type=submit]")
        assert "wrong email or password" in page.inner_text("[role=alert]")
    page.goto(f"{base}/signin")
    page.fill("input[name=email]", "throttled@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    assert "too many failed sign-ins" in page.inner_text("[role=alert]")


def test_sign_in_page_answers_429_with_retry_after_when_throttled(client, core, make_account) -> None:
    make_account("many@example.com")
    token = _csrf(client.get("/signin").text)
    wrong = {"email": "many@example.com", "password": "nope nope", "csrf_token": token}
    for _ in range(core.settings.signin_max_failures):
        assert client.post("/signin", data=wrong).status_code == 401
    right = client.post("/signin", data={**wrong, "password": PASSWORD})
    assert right.status_code == 429
    assert 0 < int(right.headers["retry-after"]) <= core.settings.signin_window_seconds
    assert "me_session" not in right.cookies
