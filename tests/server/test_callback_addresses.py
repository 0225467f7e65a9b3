"""Callback addresses that embed a private IPv4 address are refused (issue 12): NAT64 (64:ff9b::/96),
6to4 (2002::/16) and IPv4-compatible (::a.b.c.d) addresses reach that IPv4 address through a
translator or tunnel. Before, each of these passed the private-address check."""

from __future__ import annotations

import pytest

from mediaenhancer_core.errors import ValidationError
from mediaenhancer_core.jobs.callbacks import check_callback_url


@pytest.mark.parametrize(
    "addr",
    [
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254 (cloud metadata)
        "64:ff9b::c0a8:101",  # NAT64 of 192.168.1.1
        "64:ff9b:1::a00:1",  # local-use NAT64 (RFC 8215) of 10.0.0.1
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a00:1::",  # 6to4 of 10.0.0.1
        "::127.0.0.1",  # IPv4-compatible
        "::10.1.2.3",
        "::ffff:127.0.0.1",  # IPv4-mapped (refused before too)
    ],
)
def test_ipv6_addresses_embedding_a_private_ipv4_are_refused(addr: str) -> None:
    with pytest.raises(ValidationError, match="private or local"):
        check_callback_url("https://hooks.example.com/x", resolve=lambda h: [addr])


@pytest.mark.parametrize("addr", ["64:ff9b::5db8:d822", "2002:5db8:d822::1", "2606:4700:4700::1111"])
def test_public_ipv6_addresses_stay_allowed(addr: str) -> None:
    assert check_callback_url("https://hooks.example.com/x", resolve=lambda h: [addr]) == addr
