"""Fetching untrusted URLs for a sitemap corpus, within limits.

A sitemap lists URLs chosen by whoever controls the site, and what is fetched goes into the
corpus and on to the teacher. So every fetch:

* uses http or https only (redirects included: no ``file:``, ``ftp:`` or ``data:``);
* refuses loopback, link-local, private, multicast and reserved addresses unless the spec
  allows private addresses (``corpus.sitemap.allowPrivateAddresses``). The check is made on
  the address actually connected to, so a DNS name that changes its answer does not slip by;
* reads at most ``max_bytes`` of a response;
* honours robots.txt (user agent :data:`USER_AGENT`) for the pages a sitemap lists.

No proxy from the environment is used: the address check needs the direct connection.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
import urllib.robotparser
from dataclasses import dataclass, field
from typing import Any

USER_AGENT = "raft-operator-datagen/0.1"
ALLOWED_SCHEMES = ("http", "https")


class FetchRefused(OSError):
    """A URL the policy does not allow: scheme, address, size or robots.txt."""


@dataclass(frozen=True)
class FetchPolicy:
    """What a sitemap corpus may fetch."""

    allow_private_addresses: bool = False
    max_bytes: int = 10 * 2**20  # per response; the sitemap protocol caps a sitemap at 50 MB
    max_sitemap_bytes: int = 50 * 2**20
    max_robots_bytes: int = 512 * 2**10
    honour_robots: bool = True


def check_url(url: str) -> None:
    """Raise :class:`FetchRefused` unless ``url`` is http(s) with a host."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not parts.hostname:
        raise FetchRefused(f"only http and https URLs are fetched, not {url[:200]!r}")


def check_address(address: str, policy: FetchPolicy) -> None:
    """Raise :class:`FetchRefused` for an address the policy does not allow."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if not ip.is_global and not policy.allow_private_addresses:
        raise FetchRefused(f"address {ip} is loopback, link-local, private or reserved; "
                           "set corpus.sitemap.allowPrivateAddresses to fetch from it")
    if ip.is_multicast or ip.is_unspecified:
        raise FetchRefused(f"address {ip} cannot be fetched from")


def _checked(connection_class: type[http.client.HTTPConnection], policy: FetchPolicy) -> Any:
    class Checked(connection_class):  # type: ignore[misc, valid-type]
        def connect(self) -> None:
            super().connect()
            try:
                check_address(self.sock.getpeername()[0], policy)
            except FetchRefused:
                self.sock.close()
                raise

    return Checked


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, policy: FetchPolicy) -> None:
        super().__init__()
        self._connection = _checked(http.client.HTTPConnection, policy)

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(self._connection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, policy: FetchPolicy) -> None:
        super().__init__()
        self._connection = _checked(http.client.HTTPSConnection, policy)

    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(self._connection, req, context=self._context)


class _Redirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        check_url(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


@dataclass
class Fetcher:
    """Fetches URLs under a :class:`FetchPolicy`; thread-safe (robots.txt is cached per origin)."""

    policy: FetchPolicy = field(default_factory=FetchPolicy)
    timeout: float = 30.0

    def __post_init__(self) -> None:
        opener = urllib.request.OpenerDirector()
        for handler in (_HTTPHandler(self.policy), _HTTPSHandler(self.policy), _Redirects(),
                        urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor()):
            opener.add_handler(handler)
        self._opener = opener
        self._robots: dict[str, urllib.robotparser.RobotFileParser] = {}
        self._lock = threading.Lock()

    def get(self, url: str, *, max_bytes: int | None = None) -> tuple[bytes, str]:
        """``(body, content type)``; :class:`FetchRefused` when the policy forbids it or it is too big."""
        check_url(url)
        limit = max_bytes or self.policy.max_bytes
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        with self._opener.open(request, timeout=self.timeout) as response:
            body = response.read(limit + 1)
            if len(body) > limit:
                raise FetchRefused(f"{url[:200]} is larger than {limit} bytes")
            return body, response.headers.get("Content-Type", "")

    def allowed_by_robots(self, url: str) -> bool:
        """Whether the site's robots.txt lets :data:`USER_AGENT` fetch ``url``."""
        if not self.policy.honour_robots:
            return True
        parts = urllib.parse.urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            robots = self._robots.get(origin)
        if robots is None:
            robots = self._read_robots(origin)
            with self._lock:
                self._robots[origin] = robots
        return robots.can_fetch(USER_AGENT, url)

    def _read_robots(self, origin: str) -> urllib.robotparser.RobotFileParser:
        robots = urllib.robotparser.RobotFileParser(f"{origin}/robots.txt")
        try:
            body, _ = self.get(f"{origin}/robots.txt", max_bytes=self.policy.max_robots_bytes)
        except urllib.error.HTTPError as exc:
            # As robotparser does: 401/403 forbid everything, other 4xx mean no rules; a 5xx forbids.
            robots.allow_all = 400 <= exc.code < 500 and exc.code not in (401, 403)
            robots.disallow_all = not robots.allow_all
            return robots
        except (OSError, socket.timeout):
            robots.disallow_all = True  # unreachable robots.txt: fetch nothing from this origin
            return robots
        robots.parse(body.decode("utf-8", errors="replace").splitlines())
        return robots
