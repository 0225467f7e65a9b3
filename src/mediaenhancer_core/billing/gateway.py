"""Every call to Stripe, through the official ``stripe`` library (imported lazily: ~0.25 s).

:class:`StripeGateway` is the only place that touches the library. It answers plain
dicts (Stripe's JSON, the same shape webhooks carry) and wraps every library error in
:class:`~mediaenhancer_core.errors.BillingProviderError`, so the rest of the core never
sees a Stripe class. ``api_base`` points the library at another address (the tests'
stand-in on loopback); by default it is Stripe's.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from mediaenhancer_core.errors import BillingProviderError, WebhookSignatureError
from mediaenhancer_core.extras import import_extra

__all__ = ["DEFAULT_API_BASE", "StripeGateway"]

DEFAULT_API_BASE = "https://api.stripe.com"


def _plain(obj: Any) -> dict[str, Any]:
    """A StripeObject as the JSON dict it was parsed from."""
    data = obj.to_dict() if hasattr(obj, "to_dict") else obj
    return dict(data)


class StripeGateway:
    """One StripeClient (thread-safe; created on first use) and the calls the billing needs."""

    def __init__(
        self,
        secret_key: str,
        *,
        api_base: str = DEFAULT_API_BASE,
        timeout: float = 30.0,
        max_network_retries: int = 2,
    ) -> None:
        self._secret_key = secret_key
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout
        self.max_network_retries = max_network_retries
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the key
        return f"StripeGateway(api_base={self.api_base!r})"

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                # lazy: only servers with billing configured pay for it; says to add [billing] when missing
                stripe = import_extra("stripe", "billing", "Stripe billing")

                self._client = stripe.StripeClient(
                    self._secret_key,
                    base_addresses={"api": self.api_base},
                    max_network_retries=self.max_network_retries,
                    http_client=stripe.RequestsClient(timeout=self.timeout),
                )
            return self._client

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        stripe = import_extra("stripe", "billing", "Stripe billing")

        try:
            return fn(*args, **kwargs)
        except stripe.AuthenticationError:
            raise BillingProviderError(
                "Stripe refused the API key; check MEDIAENHANCER_STRIPE_SECRET_KEY (a secret key, sk_live_... or sk_test_...)"
            ) from None
        except stripe.PermissionError as exc:
            raise BillingProviderError(
                f"Stripe does not allow this key to {what} ({exc.user_message or exc._message}); use a secret key with write access"
            ) from None
        except stripe.InvalidRequestError as exc:
            raise BillingProviderError(
                f"Stripe refused to {what}: {exc._message or 'invalid request'}"
                + (f" (parameter {exc.param})" if getattr(exc, "param", None) else ""),
                missing=exc.code == "resource_missing",
            ) from None
        except stripe.RateLimitError:
            raise BillingProviderError(
                f"Stripe is rate-limiting requests; could not {what}, try again in a minute"
            ) from None
        except stripe.APIConnectionError:
            raise BillingProviderError(
                f"cannot reach Stripe at {self.api_base} to {what}; check the network, or retry"
            ) from None
        except stripe.StripeError as exc:
            status = f"HTTP {exc.http_status}" if exc.http_status else exc.__class__.__name__
            raise BillingProviderError(f"Stripe failed to {what} ({status}); try again later") from None

    # --- customers, checkout, portal ---------------------------------------------------------

    def create_customer(self, *, email: str, user_id: str, idempotency_key: str) -> dict[str, Any]:
        customer = self._call(
            "create a customer",
            self.client.v1.customers.create,
            params={"email": email, "metadata": {"user_id": user_id}},
            options={"idempotency_key": idempotency_key},
        )
        return _plain(customer)

    def create_checkout_session(self, params: dict[str, Any]) -> dict[str, Any]:
        return _plain(self._call("create a Checkout Session", self.client.v1.checkout.sessions.create, params=params))

    def retrieve_checkout_session(self, session_id: str) -> dict[str, Any]:
        return _plain(self._call("read the Checkout Session", self.client.v1.checkout.sessions.retrieve, session_id))

    def create_portal_session(self, *, customer: str, return_url: str) -> dict[str, Any]:
        session = self._call(
            "open the billing portal",
            self.client.v1.billing_portal.sessions.create,
            params={"customer": customer, "return_url": return_url},
        )
        return _plain(session)

    # --- subscriptions -----------------------------------------------------------------------------

    def retrieve_subscription(self, subscription_id: str) -> dict[str, Any] | None:
        """The subscription, or None when Stripe has no such subscription."""
        try:
            sub = self._call("read the subscription", self.client.v1.subscriptions.retrieve, subscription_id)
        except BillingProviderError as exc:
            if exc.missing:
                return None
            raise
        return _plain(sub)

    def set_cancel_at_period_end(self, subscription_id: str, value: bool) -> dict[str, Any]:
        what = "cancel the subscription at the end of its period" if value else "resume the subscription"
        sub = self._call(
            what, self.client.v1.subscriptions.update, subscription_id, params={"cancel_at_period_end": value}
        )
        return _plain(sub)

    def list_subscriptions(self, customer: str) -> list[dict[str, Any]]:
        """Every subscription of a customer, canceled ones included (all pages)."""

        def fetch() -> list[dict[str, Any]]:
            page = self.client.v1.subscriptions.list(params={"customer": customer, "status": "all", "limit": 100})
            return [_plain(s) for s in page.auto_paging_iter()]

        result: list[dict[str, Any]] = self._call("list the customer's subscriptions", fetch)
        return result

    # --- webhooks ------------------------------------------------------------------------------------

    @staticmethod
    def verify_event(payload: bytes, signature_header: str | None, secret: str, *, tolerance: int) -> None:
        """Check the ``Stripe-Signature`` header on the raw body (stripe.Webhook.construct_event):
        ``t=...,v1=`` HMAC-SHA256 of ``f"{t}.{body}"`` with the endpoint's ``whsec_`` secret, and the
        timestamp no older than ``tolerance`` seconds. Raise WebhookSignatureError."""
        stripe = import_extra("stripe", "billing", "Stripe webhooks")

        if not signature_header:
            raise WebhookSignatureError("missing Stripe-Signature header")
        try:
            # verify_header checks the signature without parsing the body (construct_event's json.loads
            # turned a signed 100k-deep body into a RecursionError); the caller parses it (jsonbody)
            stripe.WebhookSignature.verify_header(payload, signature_header, secret, tolerance=tolerance)
        except stripe.SignatureVerificationError as exc:
            reason = str(exc._message or "signature does not match")
            if "tolerance" in reason:
                reason = "the Stripe-Signature timestamp is too old (a replay, or the server clock is wrong)"
            raise WebhookSignatureError(f"invalid Stripe webhook signature: {reason}") from None
        except UnicodeDecodeError:
            raise WebhookSignatureError("invalid Stripe webhook signature: the body is not UTF-8") from None
        stamps = [part.partition("=")[2] for part in signature_header.split(",") if part.strip().startswith("t=")]
        if stamps and stamps[0].strip().isdigit() and int(stamps[0]) > time.time() + tolerance:
            raise WebhookSignatureError("invalid Stripe webhook signature: the timestamp is in the future")
