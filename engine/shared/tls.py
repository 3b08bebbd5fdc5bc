"""TLS settings of a config: verification, extra trusted CAs, a client certificate (mutual TLS).

Certificates are PEM text in the config. They are checked when saved (``check``) and
turned into an ``ssl.SSLContext`` when sent (``ssl_context``): extra CAs are loaded from
memory; the client certificate and key go through a private temporary file for the
moment Python's ``ssl`` needs a path, then the file is deleted.
"""
import dataclasses
import datetime
import hashlib
import os
import ssl
import tempfile
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from odoo.tools.translate import LazyTranslate

if TYPE_CHECKING:
    from odoo.models import BaseModel

_lt = LazyTranslate(__name__)


class TlsError(ValueError):
    """PEM text that cannot be used; the message says why."""


@dataclasses.dataclass(frozen=True)
class TlsSettings:
    verify: bool = True
    ca_bundle: str | None = None
    client_cert: str | None = None
    client_key: str | None = None

    @classmethod
    def of(cls, config: 'BaseModel') -> 'TlsSettings':
        """The TLS settings of a config (a superuser record: the key is a secret)."""
        return cls(verify=config.tls_verify, ca_bundle=config.tls_ca_bundle or None,
                   client_cert=config.tls_client_cert or None, client_key=config.tls_client_key or None)

    @property
    def is_default(self) -> bool:
        return self.verify and not (self.ca_bundle or self.client_cert)

    @property
    def key(self) -> str:
        """Identifies these settings (for pooling connections), without holding the secret itself."""
        text = '\0'.join((str(self.verify), self.ca_bundle or '', self.client_cert or '', self.client_key or ''))
        return hashlib.sha256(text.encode()).hexdigest()

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        # urllib3 checks the host name itself (also for IP addresses, where it sends no SNI).
        context.check_hostname = False
        if self.ca_bundle:
            context.load_verify_locations(cadata=self.ca_bundle)
        if self.client_cert:
            _load_client_certificate(context, self.client_cert, self.client_key)
        if not self.verify:
            context.verify_mode = ssl.CERT_NONE
        return context


def check(ca_bundle=None, client_cert=None, client_key=None, now: datetime.datetime | None = None) -> None:
    """Raise TlsError if the PEM texts cannot be used: no certificate in the CA bundle, a
    certificate without its key (or the reverse), a key that is not the certificate's,
    an expired certificate."""
    now = now or datetime.datetime.utcnow()
    if ca_bundle:
        try:
            ssl.create_default_context().load_verify_locations(cadata=ca_bundle)
        except (ssl.SSLError, ValueError) as error:
            raise TlsError(_lt("the extra CA certificates are not valid PEM certificates (%(error)s)",
                               error=error)) from None
    if bool(client_cert) != bool(client_key):
        raise TlsError(_lt("mutual TLS needs both the client certificate and its private key"))
    if not client_cert:
        return
    try:
        certificate = x509.load_pem_x509_certificate(client_cert.encode())
    except ValueError:
        raise TlsError(_lt("the client certificate is not a PEM certificate")) from None
    try:
        key = serialization.load_pem_private_key(client_key.encode(), password=None)
    except (ValueError, TypeError):
        raise TlsError(_lt("the client private key is not an unencrypted PEM private key")) from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.PEM, public) != \
            certificate.public_key().public_bytes(serialization.Encoding.PEM, public):
        raise TlsError(_lt("the client private key does not match the client certificate"))
    if certificate.not_valid_after < now:
        raise TlsError(_lt("the client certificate expired on %(date)s", date=certificate.not_valid_after.date()))


def _load_client_certificate(context, certificate, key):
    # ssl reads certificate chains from files only: a private file, gone as soon as it is read.
    descriptor, path = tempfile.mkstemp(prefix='bj_api_sync_', suffix='.pem')
    try:
        with os.fdopen(descriptor, 'w') as pem:
            pem.write(f"{certificate.strip()}\n{key.strip()}\n")
        context.load_cert_chain(path)
    finally:
        os.unlink(path)
