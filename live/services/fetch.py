"""Fetching a photo by URL without letting a tenant reach internal services.

Only https. The name is resolved once and every address it resolves to must be public (no private,
loopback, link-local or metadata address such as 169.254.169.254); the connection then goes to
that checked address itself (TLS still verifies the name), and the socket's peer is checked again
once connected. Redirects are followed by hand, each hop checked the same way, at most
EMO7ION_PHOTO_MAX_REDIRECTS; the whole download has EMO7ION_PHOTO_FETCH_TIMEOUT seconds and
EMO7ION_PHOTO_MAX_BYTES.
"""
from __future__ import annotations

import ipaddress
import socket
import time
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from emo7ion_site.core.exceptions import ApplicationError

CHUNK = 64 * 1024


class PhotoFetchRefused(ApplicationError):
    """The URL may not be fetched, or the fetch failed; the message says which and why."""


def _checked_address(host: str, port: int) -> str:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise PhotoFetchRefused(f"{host} does not resolve ({exc}).")
    addresses = [info[4][0].split("%")[0] for info in infos]
    for address in addresses:
        if not settings.EMO7ION_PHOTO_ALLOW_PRIVATE and not ipaddress.ip_address(address).is_global:
            raise PhotoFetchRefused(f"{host} is {address}, which is not a public address: photos are only fetched "
                                    "from public addresses.")
    return addresses[0]


def _refuse_private_peer(response, host: str) -> None:
    sock = getattr(getattr(response, "connection", None), "sock", None)
    if sock is None or settings.EMO7ION_PHOTO_ALLOW_PRIVATE:
        return
    peer = sock.getpeername()[0].split("%")[0]
    if not ipaddress.ip_address(peer).is_global:
        raise PhotoFetchRefused(f"{host} connected to {peer}, which is not a public address.")


def _read_body(response, deadline: float, limit: int) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PhotoFetchRefused(f"The photo is {filesizeformat(int(declared))}; the limit is {filesizeformat(limit)}.")
    body = bytearray()
    for chunk in response.stream(CHUNK):
        body += chunk
        if len(body) > limit:
            raise PhotoFetchRefused(f"The photo is larger than the limit of {filesizeformat(limit)}.")
        if time.monotonic() > deadline:
            raise PhotoFetchRefused("The photo took too long to download.")
    return bytes(body)


def fetch_photo(url: str) -> bytes:
    """The bytes at an https URL, or PhotoFetchRefused with the reason."""
    timeout = float(settings.EMO7ION_PHOTO_FETCH_TIMEOUT)
    deadline = time.monotonic() + timeout
    for _hop in range(int(settings.EMO7ION_PHOTO_MAX_REDIRECTS) + 1):
        parts = urlsplit((url or "").strip())
        if parts.scheme.lower() != "https" or not parts.hostname:
            raise PhotoFetchRefused("Give the photo's https:// URL.")
        host, port = parts.hostname, parts.port or 443
        address = _checked_address(host, port)
        pool = urllib3.HTTPSConnectionPool(
            address, port, server_hostname=host, assert_hostname=host, cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(), retries=False, timeout=urllib3.Timeout(connect=min(5.0, timeout), read=timeout))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            response = pool.urlopen("GET", target, headers={"Host": parts.netloc.rsplit("@", 1)[-1],
                                                            "User-Agent": "Emo7ion-Photo/1",
                                                            "Accept": "image/*"},
                                    redirect=False, preload_content=False, assert_same_host=False)
        except urllib3.exceptions.HTTPError as exc:
            raise PhotoFetchRefused(f"{host} could not be reached: {exc}")
        try:
            _refuse_private_peer(response, host)
            if response.status in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                url = urljoin(url, response.headers["Location"])
                continue
            if response.status != 200:
                raise PhotoFetchRefused(f"{host} answered HTTP {response.status} for the photo.")
            return _read_body(response, deadline, int(settings.EMO7ION_PHOTO_MAX_BYTES))
        finally:
            response.release_conn()
            pool.close()
    raise PhotoFetchRefused(f"The photo's URL redirected more than {settings.EMO7ION_PHOTO_MAX_REDIRECTS} times.")
