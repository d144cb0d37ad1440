"""Who the client is behind a reverse proxy: X-Forwarded-For and X-Forwarded-Proto are
believed only from the proxy's own addresses (``[app] proxy_addresses``). Anyone else who
reaches the port directly is its own REMOTE_ADDR, whatever headers it sends."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Network(str):
    """An IP address or CIDR network as written in the config; ValueError if it is neither."""

    def __new__(cls, value: str) -> Network:
        ipaddress.ip_network(value.strip(), strict=False)
        return super().__new__(cls, value.strip())


class TrustedProxies:
    """WSGI middleware: ProxyFix (``hops`` proxies) for requests whose peer is in
    ``networks``; every other request is left as it came, REMOTE_ADDR being the client."""

    def __init__(self, app: WSGIApplication, networks: Iterable[str], hops: int) -> None:
        self.app = app
        self.fixed = ProxyFix(app, x_for=hops, x_proto=1)
        self.networks: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in networks
        )

    def trusted(self, peer: str) -> bool:
        """Whether ``peer`` (REMOTE_ADDR) is one of the proxies; IPv4-mapped IPv6 counts as
        its IPv4 address."""
        try:
            address = ipaddress.ip_address(peer.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        app = self.fixed if self.trusted(environ.get("REMOTE_ADDR", "")) else self.app
        return app(environ, start_response)
