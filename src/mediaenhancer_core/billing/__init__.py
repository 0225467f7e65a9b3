"""Billing with Stripe (issue 5): checkout, cancel/resume, the billing portal, webhooks, sync.

- :class:`Billing` (``service.py``): what the server and the admin CLI call;
- :class:`StripeWebhooks` (``webhooks.py``): signed deliveries, applied once and in order;
- :class:`StripeGateway` (``gateway.py``): every Stripe call, through the official library;
- :class:`SubscriptionState` and the ordering rule (``state.py``).

Which plan's limits apply at a given moment is :func:`mediaenhancer_core.plans.catalogue.plan_for_user`.
"""

from __future__ import annotations

from mediaenhancer_core.billing.gateway import StripeGateway
from mediaenhancer_core.billing.service import Billing, SyncChange, SyncReport
from mediaenhancer_core.billing.state import LIVE_STATUSES, SubscriptionState
from mediaenhancer_core.billing.webhooks import HANDLED_EVENTS, StripeWebhooks

__all__ = [
    "HANDLED_EVENTS",
    "LIVE_STATUSES",
    "Billing",
    "StripeGateway",
    "StripeWebhooks",
    "SubscriptionState",
    "SyncChange",
    "SyncReport",
]
