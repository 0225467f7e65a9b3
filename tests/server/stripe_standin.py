"""A local stand-in for the Stripe API, for tests: the official ``stripe`` library talks to
it over HTTP on 127.0.0.1 exactly as it would to api.stripe.com (form-encoded requests,
Stripe's JSON objects and error bodies), and it records every request.

It knows what the billing code calls: customers, Checkout Sessions, subscriptions
(retrieve, update, list) and billing-portal sessions; prices are the ones it was given.
It also serves a minimal hosted Checkout page (``session["url"]``) whose Pay button
completes the session, delivers the webhooks to ``webhook_url`` signed as Stripe signs
them, and redirects to the success URL — so the browser tests walk the whole way.

Events are built as Stripe builds snapshot events (``{"id": "evt_...", "object": "event",
"type", "created", "data": {"object": ...}}``) and signed with :func:`sign`: the header
``t=<unix time>,v1=<hex HMAC-SHA256 of f"{t}.{payload}" keyed with the whole whsec_ secret>``.
Nothing here uses the stripe library: the code under test is checked against an
independent implementation of the wire format.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import itertools
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

API_VERSION = "2026-10-28.endive"
DAY = 86_400
MONTH = 30 * DAY


def sign(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe sends with ``payload``."""
    body = payload.decode() if isinstance(payload, bytes) else payload
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's bracket encoding (``metadata[user_id]=..``, ``line_items[0][price]=..``) as JSON."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"^[^\[]+|\[([^\]]*)\]", key)
        names = [key.split("[", 1)[0]] + parts[1:]
        node = root
        for name in names[:-1]:
            node = node.setdefault(name, {})
        node[names[-1]] = value

    def listify(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: listify(v) for k, v in node.items()}
            if node and all(k.isdigit() for k in node):
                return [node[k] for k in sorted(node, key=int)]
        return node

    return listify(root)


def _truthy(value: Any) -> bool:
    return str(value).lower() == "true"


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None
    api_key: str | None


class StripeError(Exception):
    def __init__(self, status: int, type_: str, message: str, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.body = {
            "error": {
                k: v
                for k, v in {
                    "type": type_,
                    "message": message,
                    "code": code,
                    "param": param,
                    "doc_url": f"https://stripe.com/docs/error-codes/{code}" if code else None,
                }.items()
                if v is not None
            }
        }


@dataclass
class StripeStandIn:
    api_key: str = "sk_test_standin_" + "x" * 24
    webhook_secret: str = "whsec_" + "s" * 32
    prices: dict[str, int] = field(default_factory=lambda: {"price_creator": 1499, "price_professional": 4999})
    webhook_url: str | None = None
    requests: list[Recorded] = field(default_factory=list)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    portal_sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    clock_offset: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._idempotent: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        self._server: ThreadingHTTPServer | None = None
        self.delivered: list[tuple[str, int]] = []  # (event type, HTTP status) sent to webhook_url

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> StripeStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                standin._handle(self)

            def do_POST(self) -> None:
                standin._handle(self)

            def do_DELETE(self) -> None:
                standin._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def now(self) -> int:
        return int(time.time()) + self.clock_offset

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):04d}{secrets.token_hex(6)}"

    def calls(self, method: str | None = None, path_prefix: str = "") -> list[Recorded]:
        return [r for r in self.requests if (method is None or r.method == method) and r.path.startswith(path_prefix)]

    def fail_next(
        self, status: int, type_: str = "api_error", message: str = "An unknown error occurred", code: str | None = None
    ) -> None:
        """The next API request answers this error (in Stripe's error format)."""
        self.failures.append((status, StripeError(status, type_, message, code).body))

    # --- HTTP ---------------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode() if length else ""
        if parts.path.startswith(("/c/pay/", "/p/session/")):
            self._hosted_page(handler, parts.path, raw)
            return
        params = decode_form(parse_qsl(parts.query if handler.command == "GET" else raw, keep_blank_values=True))
        auth = handler.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        idem = handler.headers.get("Idempotency-Key")
        with self._lock:
            self.requests.append(Recorded(handler.command, parts.path, params, idem, key))
            try:
                if key != self.api_key:
                    shown = (key or "")[:8] + "*" * 4
                    raise StripeError(401, "invalid_request_error", f"Invalid API Key provided: {shown}")
                if self.failures:
                    status, body = self.failures.pop(0)
                    self._send(handler, status, body)
                    return
                cache_key = (key, idem) if idem and handler.command == "POST" else None
                if cache_key and cache_key in self._idempotent:
                    status, body = self._idempotent[cache_key]
                else:
                    status, body = 200, self._route(handler.command, parts.path, params)
                    if cache_key:
                        self._idempotent[cache_key] = (status, body)
            except StripeError as exc:
                status, body = exc.status, exc.body
        self._send(handler, status, body)

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any], content_type: str = "application/json"
    ) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Request-Id", "req_" + secrets.token_hex(7))
        handler.send_header("Stripe-Version", API_VERSION)
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, method: str, path: str, p: dict[str, Any]) -> dict[str, Any]:
        m = re.fullmatch(r"/v1/(customers|checkout/sessions|subscriptions|billing_portal/sessions)(?:/([^/]+))?", path)
        if not m:
            raise StripeError(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).")
        kind, obj_id = m.group(1), m.group(2)
        if kind == "customers":
            if method == "POST" and obj_id is None:
                return self._create_customer(p)
            if method == "GET" and obj_id:
                return self._get(self.customers, obj_id, "customer")
        if kind == "checkout/sessions":
            if method == "POST" and obj_id is None:
                return self._create_session(p)
            if method == "GET" and obj_id:
                return self._get(self.sessions, obj_id, "checkout.session")
        if kind == "subscriptions":
            if method == "GET" and obj_id is None:
                return self._list_subscriptions(p)
            if method == "GET" and obj_id:
                return self._get(self.subscriptions, obj_id, "subscription")
            if method == "POST" and obj_id:
                return self._update_subscription(obj_id, p)
        if kind == "billing_portal/sessions" and method == "POST" and obj_id is None:
            return self._create_portal_session(p)
        raise StripeError(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    @staticmethod
    def _get(table: dict[str, dict[str, Any]], obj_id: str, kind: str) -> dict[str, Any]:
        if obj_id not in table:
            raise StripeError(
                404,
                "invalid_request_error",
                f"No such {kind.split('.')[-1]}: '{obj_id}'",
                code="resource_missing",
                param="id",
            )
        return table[obj_id]

    def _create_customer(self, p: dict[str, Any]) -> dict[str, Any]:
        customer = {
            "id": self.new_id("cus"),
            "object": "customer",
            "email": p.get("email"),
            "created": self.now(),
            "metadata": p.get("metadata") or {},
            "livemode": False,
            "name": None,
            "invoice_prefix": "STAND",
        }
        self.customers[customer["id"]] = customer
        return customer

    def _create_session(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("mode") != "subscription":
            raise StripeError(
                400, "invalid_request_error", "This test stand-in only does mode=subscription.", param="mode"
            )
        customer = p.get("customer")
        if customer not in self.customers:
            raise StripeError(
                400,
                "invalid_request_error",
                f"No such customer: '{customer}'",
                code="resource_missing",
                param="customer",
            )
        items = p.get("line_items") or []
        price = items[0].get("price") if items else None
        if price not in self.prices:
            raise StripeError(
                400,
                "invalid_request_error",
                f"No such price: '{price}'",
                code="resource_missing",
                param="line_items[0][price]",
            )
        for name in ("success_url", "cancel_url"):
            if not str(p.get(name, "")).startswith(("http://", "https://")):
                raise StripeError(400, "invalid_request_error", "Not a valid URL", code="url_invalid", param=name)
        session_id = "cs_test_" + secrets.token_hex(12)
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "subscription",
            "status": "open",
            "payment_status": "unpaid",
            "customer": customer,
            "client_reference_id": p.get("client_reference_id"),
            "metadata": p.get("metadata") or {},
            "subscription": None,
            "success_url": p["success_url"],
            "cancel_url": p["cancel_url"],
            "url": f"{self.url}/c/pay/{session_id}",
            "created": self.now(),
            "expires_at": self.now() + DAY,
            "livemode": False,
            "_price": price,
            "_subscription_metadata": (p.get("subscription_data") or {}).get("metadata") or {},
        }
        self.sessions[session_id] = session
        return self._public(session)

    def _list_subscriptions(self, p: dict[str, Any]) -> dict[str, Any]:
        status = p.get("status")

        def wanted(sub: dict[str, Any]) -> bool:
            if p.get("customer") and sub["customer"] != p["customer"]:
                return False
            if status == "all":
                return True
            if status:
                return bool(sub["status"] == status)
            return sub["status"] not in ("canceled", "incomplete_expired")  # Stripe's default

        data = [s for s in self.subscriptions.values() if wanted(s)]
        data.sort(key=lambda s: (s["created"], s["id"]), reverse=True)
        limit = int(p.get("limit") or 10)
        if p.get("starting_after"):
            ids = [s["id"] for s in data]
            data = data[ids.index(p["starting_after"]) + 1 :]
        return {"object": "list", "data": data[:limit], "has_more": len(data) > limit, "url": "/v1/subscriptions"}

    def _update_subscription(self, sub_id: str, p: dict[str, Any]) -> dict[str, Any]:
        sub = self._get(self.subscriptions, sub_id, "subscription")
        if sub["status"] == "canceled":
            raise StripeError(
                400,
                "invalid_request_error",
                "A canceled subscription can only update its cancellation_details and metadata.",
            )
        if "cancel_at_period_end" in p:
            sub["cancel_at_period_end"] = _truthy(p["cancel_at_period_end"])
            sub["canceled_at"] = self.now() if sub["cancel_at_period_end"] else None
        if "metadata" in p:
            sub["metadata"].update(p["metadata"])
        return sub

    def _create_portal_session(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("customer") not in self.customers:
            raise StripeError(
                400,
                "invalid_request_error",
                f"No such customer: '{p.get('customer')}'",
                code="resource_missing",
                param="customer",
            )
        portal_id = self.new_id("bps")
        portal = {
            "id": portal_id,
            "object": "billing_portal.session",
            "customer": p["customer"],
            "return_url": p.get("return_url"),
            "url": f"{self.url}/p/session/{portal_id}",
            "created": self.now(),
            "livemode": False,
        }
        self.portal_sessions[portal_id] = portal
        return portal

    @staticmethod
    def _public(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    # --- the hosted pages (Checkout and the billing portal), for the browser ---------------------------

    def _hosted_page(self, handler: BaseHTTPRequestHandler, path: str, raw: str) -> None:
        m = re.fullmatch(r"/c/pay/([^/]+)(/pay)?", path)
        if m and m.group(1) in self.sessions:
            session = self.sessions[m.group(1)]
            if handler.command == "POST" and m.group(2):
                events = self.complete_checkout(session["id"])
                for event in events:
                    self.deliver(event)
                location = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
                handler.send_response(303)
                handler.send_header("Location", location)
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            amount = self.prices[session["_price"]] / 100
            page = (
                f"<!doctype html><title>Stripe Checkout (stand-in)</title><h1>Pay ${amount:.2f} a month</h1>"
                f"<form method=post action='/c/pay/{session['id']}/pay'><button type=submit>Pay</button></form>"
                f"<a href='{html.escape(session['cancel_url'])}'>Back</a>"
            )
        elif (m2 := re.fullmatch(r"/p/session/([^/]+)", path)) and m2.group(1) in self.portal_sessions:
            portal = self.portal_sessions[m2.group(1)]
            page = (
                f"<!doctype html><title>Billing portal (stand-in)</title><h1>Billing portal</h1>"
                f"<p>Customer {portal['customer']}</p><a href='{html.escape(portal['return_url'])}'>Return</a>"
            )
        else:
            page, handler_status = "not found", 404
            data = page.encode()
            handler.send_response(handler_status)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            return
        data = page.encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    # --- what happens in Stripe (tests drive these) ------------------------------------------------------

    def make_subscription(
        self,
        customer: str,
        price: str,
        *,
        status: str = "active",
        metadata: dict[str, Any] | None = None,
        created: int | None = None,
        period_start: int | None = None,
    ) -> dict[str, Any]:
        """A subscription as Stripe keeps it (API 2026: the period lives on the item)."""
        created = self.now() if created is None else created
        start = created if period_start is None else period_start
        sub_id = self.new_id("sub")
        sub = {
            "id": sub_id,
            "object": "subscription",
            "customer": customer,
            "status": status,
            "cancel_at_period_end": False,
            "cancel_at": None,
            "canceled_at": None,
            "ended_at": None,
            "created": created,
            "start_date": created,
            "metadata": metadata or {},
            "livemode": False,
            "items": {
                "object": "list",
                "has_more": False,
                "url": f"/v1/subscription_items?subscription={sub_id}",
                "data": [
                    {
                        "id": self.new_id("si"),
                        "object": "subscription_item",
                        "quantity": 1,
                        "price": {
                            "id": price,
                            "object": "price",
                            "unit_amount": self.prices.get(price, 0),
                            "currency": "usd",
                            "recurring": {"interval": "month"},
                        },
                        "current_period_start": start,
                        "current_period_end": start + MONTH,
                    }
                ],
            },
        }
        with self._lock:
            self.subscriptions[sub_id] = sub
        return sub

    def set_subscription(self, sub_id: str, **changes: Any) -> dict[str, Any]:
        """Change a subscription as Stripe would (status, price, cancel flags, period)."""
        with self._lock:
            sub = self.subscriptions[sub_id]
            item = sub["items"]["data"][0]
            for key, value in changes.items():
                if key == "price":
                    item["price"] = {**item["price"], "id": value, "unit_amount": self.prices.get(value, 0)}
                elif key in ("current_period_start", "current_period_end"):
                    item[key] = value
                else:
                    sub[key] = value
            return json.loads(json.dumps(sub))

    def complete_checkout(self, session_id: str, *, status: str = "active") -> list[dict[str, Any]]:
        """The customer paid: a subscription exists; answers the events Stripe sends, in order."""
        with self._lock:
            session = self.sessions[session_id]
            sub = self.make_subscription(
                session["customer"], session["_price"], status=status, metadata=dict(session["_subscription_metadata"])
            )
            session.update(status="complete", payment_status="paid", subscription=sub["id"])
            invoice = self.invoice(sub, paid=True)
            return [
                self.event("customer.subscription.created", sub),
                self.event("invoice.paid", invoice),
                self.event("checkout.session.completed", self._public(session)),
            ]

    def invoice(self, sub: dict[str, Any], *, paid: bool) -> dict[str, Any]:
        return {
            "id": self.new_id("in"),
            "object": "invoice",
            "customer": sub["customer"],
            "status": "paid" if paid else "open",
            "amount_due": sub["items"]["data"][0]["price"]["unit_amount"],
            "parent": {
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {"subscription": sub["id"], "metadata": dict(sub["metadata"])},
            },
            "created": self.now(),
            "livemode": False,
        }

    def event(
        self, type_: str, obj: dict[str, Any], *, created: int | None = None, event_id: str | None = None
    ) -> dict[str, Any]:
        return {
            "id": event_id or self.new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now() if created is None else created,
            "data": {"object": json.loads(json.dumps(obj))},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type_,
        }

    def signed(
        self, event: dict[str, Any], *, secret: str | None = None, timestamp: int | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers of a delivery of ``event``."""
        body = json.dumps(event, indent=2).encode()  # Stripe pretty-prints its webhook bodies
        return body, {
            "Stripe-Signature": sign(body, secret or self.webhook_secret, timestamp),
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }

    def deliver(self, event: dict[str, Any]) -> int:
        """POST the event to webhook_url, as Stripe does; answers the HTTP status."""
        if not self.webhook_url:
            return 0
        body, headers = self.signed(event)
        request = urllib.request.Request(self.webhook_url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # loopback only
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        self.delivered.append((event["type"], status))
        return status
