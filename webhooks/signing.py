"""HMAC-SHA256 signatures of webhook bodies.

The receiver recomputes HMAC-SHA256(secret, raw request body) and compares it in constant time
with the header `X-Emo7ion-Signature: sha256=<hex>`. The exact body bytes are stored with each
delivery, so every retry carries the same body and the same signature.
"""
from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Emo7ion-Signature"
EVENT_HEADER = "X-Emo7ion-Event"
DELIVERY_HEADER = "X-Emo7ion-Delivery"
PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header_value: str | None) -> bool:
    return bool(header_value) and hmac.compare_digest(sign(secret, body), header_value)
