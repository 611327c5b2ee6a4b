"""EdDSA access tokens minted by the tests themselves, verified by a service through
AUTH_PUBLIC_KEYS ("kid=base64url"), so a service can be tested without identity running."""

import base64
import json
import time
import uuid

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenMinter:
    """An Ed25519 key with a key id; `public_keys` is the AUTH_PUBLIC_KEYS value."""

    def __init__(self, kid="test-key-1"):
        self.kid = kid
        self.key = Ed25519PrivateKey.generate()

    @property
    def public_keys(self):
        raw = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return f"{self.kid}={b64url(raw)}"

    def token(self, tenant, role, subject=None, issued=None, lifetime=600, issuer="identity", kid=None, key=None,
              header=None, token_id=None):
        now = int(time.time()) if issued is None else issued
        claims = {"iss": issuer, "sub": subject or str(uuid.uuid4()), "tenant": tenant, "role": role,
                  "iat": now, "exp": now + lifetime, "jti": token_id or str(uuid.uuid4())}
        head = header or {"alg": "EdDSA", "typ": "JWT", "kid": kid or self.kid}
        signing_input = b64url(json.dumps(head).encode()) + "." + b64url(json.dumps(claims).encode())
        signature = (key or self.key).sign(signing_input.encode())
        return signing_input + "." + b64url(signature)


def bearer(token):
    return (("authorization", f"Bearer {token}"),)
