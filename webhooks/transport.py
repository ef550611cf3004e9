"""HTTP for webhook deliveries that checks the address it actually connected to.

Checking what a name resolves to before sending leaves a gap: the DNS answer can change between
the check and the connection (DNS rebinding), so a receiver could point the workers at an internal
service after passing the check. These connections look at the socket's peer address once it is
connected, before a byte of the request is sent, and refuse anything that is not a public address.
"""
from __future__ import annotations

import ipaddress

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from emo7ion_site.core.exceptions import ApplicationError


class PrivateAddressRefused(ApplicationError):
    """The rule that webhooks go only to public addresses, broken at connection time. Deliberately
    not an OSError: urllib3 and requests let it through unchanged, never retried."""


class _PublicPeerOnly:
    def _new_conn(self):
        sock = super()._new_conn()
        peer = sock.getpeername()[0]
        if not ipaddress.ip_address(peer.split("%")[0]).is_global:
            sock.close()
            raise PrivateAddressRefused(
                f"{self.host} connected to {peer}, which is not a public address; webhooks are only sent to "
                "public addresses (EMO7ION_WEBHOOK_ALLOW_PRIVATE).")
        return sock


class _PublicHTTPConnection(_PublicPeerOnly, HTTPConnection):
    pass


class _PublicHTTPSConnection(_PublicPeerOnly, HTTPSConnection):
    pass


class _PublicHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class _PublicAddressAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PublicHTTPPool, "https": _PublicHTTPSPool}


def session(*, public_only: bool) -> requests.Session:
    """A requests session; with public_only, every connection's peer address must be public."""
    s = requests.Session()
    s.trust_env = False  # no proxy from the environment: the peer checked must be the receiver itself
    if public_only:
        adapter = _PublicAddressAdapter()
        s.mount("http://", adapter)
        s.mount("https://", adapter)
    return s
