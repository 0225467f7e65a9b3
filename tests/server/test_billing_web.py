"""The billing pages: pricing, checkout and back, cancel/resume, the portal. In-process for CSRF
and errors; in headless Chromium for the whole way through the stand-in's hosted Checkout."""

from __future__ import annotations

import re

import pytest

from .billing_support import row_of, subscribe
from .conftest import PASSWORD

pytestmark = pytest.mark.usefixtures("billing_env")


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def _sign_in(client, email: str) -> str:
    token = _csrf(client.get("/signin").text)
    answer = client.post(
        "/signin", data={"email": email, "password": PASSWORD, "csrf_token": token}, follow_redirects=False
    )
    assert answer.status_code == 303
    return _csrf(client.get("/account").text)  # the token is tied to the new session (issue 12)


# --- in-process ---------------------------------------------------------------------------------------


def test_the_pricing_page_is_public(client) -> None:
    page = client.get("/pricing")
    assert page.status_code == 200
    for text in (
        "Starter",
        "Free",
        "Creator",
        "$14.99",
        "Professional",
        "$49.99",
        "Unlimited projects",
        "500 GB storage",
    ):
        assert text in page.text, text
    assert "Sign in</a> to choose a plan" in page.text


def test_checkout_from_the_page_needs_a_session_and_a_csrf_token(client, make_account, standin) -> None:
    refused = client.post("/pricing/checkout", data={"plan": "creator"}, follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"] == "/signin?next=%2Fpricing"
    account = make_account()
    token = _sign_in(client, account.email)
    forged = client.post("/pricing/checkout", data={"plan": "creator", "csrf_token": "x" * 43})
    assert forged.status_code == 403 and "the form expired" in forged.text
    cross = client.post(
        "/pricing/checkout", data={"plan": "creator", "csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    assert standin.requests == []

    ok = client.post("/pricing/checkout", data={"plan": "creator", "csrf_token": token}, follow_redirects=False)
    assert ok.status_code == 303
    assert ok.headers["location"] == standin.sessions[next(iter(standin.sessions))]["url"]


def test_the_pricing_page_lets_its_forms_lead_to_stripes_pages_only(client, standin) -> None:
    csp = client.get("/pricing").headers["content-security-policy"]
    assert f"form-action 'self' {standin.url};" in csp
    assert "form-action 'self';" in client.get("/signin").headers["content-security-policy"]  # other pages unchanged


def test_a_stripe_url_outside_the_hosted_origins_is_a_link_to_click(
    settings_env, billing_env, database, clock, standin
) -> None:
    from argon2.profiles import CHEAPEST
    from starlette.testclient import TestClient

    from mediaenhancer_core.accounts.passwords import Passwords
    from mediaenhancer_core.services import Core
    from mediaenhancer_core.settings import Settings
    from mediaenhancer_server import create_app

    settings = Settings.load({**billing_env, "MEDIAENHANCER_STRIPE_HOSTED_ORIGINS": "https://checkout.stripe.com"})
    core = Core.open(settings, db=database, passwords=Passwords(CHEAPEST), clock=clock)
    core.accounts.create_user("link@example.com", PASSWORD)
    with TestClient(create_app(core=core, prepare_database=False)) as client:
        token = _sign_in(client, "link@example.com")
        answer = client.post("/pricing/checkout", data={"plan": "creator", "csrf_token": token}, follow_redirects=False)
    url = next(iter(standin.sessions.values()))["url"]
    assert answer.status_code == 200 and f'href="{url}"' in answer.text


def test_page_errors_show_on_the_pricing_page(client, make_account, standin) -> None:
    account = make_account()
    token = _sign_in(client, account.email)
    subscribe(client, standin, account)
    again = client.post("/pricing/checkout", data={"plan": "professional", "csrf_token": token})
    assert again.status_code == 409 and "billing portal" in again.text and 'role="alert"' in again.text
    standin.fail_next(500)
    down = client.post("/billing/portal", data={"csrf_token": token})
    assert down.status_code == 503 and "Stripe failed" in down.text


def test_the_success_page_applies_only_the_users_own_checkout(client, make_account, standin) -> None:
    ann, bob = make_account(), make_account()
    checkout = client.post("/api/subscriptions/checkout", json={"plan": "creator"}, headers=ann.headers).json()
    standin.complete_checkout(checkout["id"])  # paid; the webhooks are slow
    _sign_in(client, bob.email)
    bobs = client.get(f"/checkout/success?session_id={checkout['id']}")
    assert bobs.status_code == 200 and "Starter" in bobs.text and "as soon as Stripe confirms" in bobs.text
    assert "payment went through" not in bobs.text  # not his checkout: nothing of his was paid
    assert client.get("/api/subscriptions/current", headers=ann.headers).json()["plan"]["id"] == "starter"
    client.cookies.clear()
    _sign_in(client, ann.email)
    anns = client.get(f"/checkout/success?session_id={checkout['id']}")
    assert re.search(r'data-testid="current-plan">Creator<', anns.text)
    assert "Your payment went through" in anns.text
    client.cookies.clear()
    anon = client.get(f"/checkout/success?session_id={checkout['id']}")  # signed out: no claim, a way to sign in
    assert "payment went through" not in anon.text and "Sign in</a> to see your plan" in anon.text
    assert client.get("/api/subscriptions/current", headers=ann.headers).json()["plan"]["id"] == "creator"


def test_the_success_page_claims_no_payment_for_an_open_checkout(client, make_account, standin) -> None:
    """Someone who opens /checkout/success with their own session before paying (or after leaving
    Stripe's page) is not told the payment went through."""
    ann = make_account()
    checkout = client.post("/api/subscriptions/checkout", json={"plan": "creator"}, headers=ann.headers).json()
    _sign_in(client, ann.email)
    page = client.get(f"/checkout/success?session_id={checkout['id']}")  # open, unpaid
    assert page.status_code == 200 and "payment went through" not in page.text
    assert re.search(r'data-testid="current-plan">Starter<', page.text)


# --- real browser ------------------------------------------------------------------------------------------


def _browser_sign_in(page, base: str, email: str, next_path: str = "/pricing") -> None:
    page.goto(f"{base}/signin?next={next_path.replace('/', '%2F')}")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{next_path}")


def test_browser_pricing_checkout_pay_and_back(page, live_server, make_account, standin) -> None:
    base = live_server.url
    standin.webhook_url = f"{base}/api/webhooks/stripe"
    account = make_account("buyer@example.com")
    _browser_sign_in(page, base, "buyer@example.com")
    assert page.inner_text("[data-testid=current-plan]") == "Starter"
    assert page.locator("[data-plan=starter] .badge").inner_text() == "Your plan"

    # change of mind: to Stripe and back without paying
    page.click("button[aria-label='Choose Professional']")
    page.wait_for_url(re.compile(re.escape(standin.url) + r"/c/pay/cs_test_\w+"))
    assert "Pay $49.99 a month" in page.inner_text("h1")
    page.click("text=Back")
    page.wait_for_url(f"{base}/checkout/canceled")
    assert "Nothing was charged" in page.inner_text("main")

    # then Creator, paid
    page.goto(f"{base}/pricing")
    page.click("button[aria-label='Choose Creator']")
    page.wait_for_url(re.compile(re.escape(standin.url) + r"/c/pay/cs_test_\w+"))
    page.click("button:text-is('Pay')")
    page.wait_for_url(re.compile(re.escape(base) + r"/checkout/success\?session_id=cs_test_\w+"))
    assert page.inner_text("[data-testid=current-plan]") == "Creator"
    assert [status for _, status in standin.delivered] == [200, 200, 200]
    assert row_of(live_server.core, account.id).plan_id == "creator"

    # cancel at the period end, then keep it
    page.goto(f"{base}/pricing")
    assert "renews on" in page.inner_text("[data-testid=subscription-status]")
    page.click("text=Cancel at the end of the period")
    page.wait_for_url(f"{base}/pricing")
    assert "ends on" in page.inner_text("[data-testid=subscription-status]")
    assert page.inner_text("[data-testid=current-plan]") == "Creator"
    page.click("text=Keep Creator")
    page.wait_for_url(f"{base}/pricing")
    assert "renews on" in page.inner_text("[data-testid=subscription-status]")

    # payment methods and invoices: Stripe's portal, and back
    page.click("text=Payment methods and invoices")
    page.wait_for_url(re.compile(re.escape(standin.url) + r"/p/session/bps_\w+"))
    page.click("text=Return")
    page.wait_for_url(f"{base}/pricing")
