"""One base URL per replica behind a headless Service.

A headless Service's DNS name resolves to the address of every ready pod. The client pool
balances load over the URLs it is given, so each such URL becomes one URL per address (the
scheme, port and path kept). A name that does not resolve stays as it is, so the pool's own
retries and circuit report the failure.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit, urlunsplit

Resolver = Callable[[str, int], list[str]]


def _addresses(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


def replica_urls(urls: Sequence[str], resolve: Resolver = _addresses) -> list[str]:
    """Each URL expanded to one URL per address its host resolves to (order stable, no duplicates)."""
    out: list[str] = []
    for url in urls:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = resolve(host, port)
        except OSError:
            addresses = []
        for address in addresses or [None]:
            if address is None:
                expanded = url
            else:
                shown = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
                expanded = urlunsplit(parts._replace(netloc=f"{shown}:{port}"))
            if expanded not in out:
                out.append(expanded)
    return out
