"""HTTP transport for the WebDAV backend: timeouts, error mapping, bounded retries.

Every request goes through ``Transport.request``. Redirects are never followed
blindly: a WebDAV endpoint that redirects is almost always sending us to a login
page, and following it would turn "bad credentials" into "empty folder".
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from typing import TypeVar

import requests

from ..errors import (
    AuthenticationError,
    PreconditionFailed,
    RemoteFull,
    RemoteLocked,
    RemoteNotFound,
    StorageError,
    TooLarge,
    TransientRemoteError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# Only these may be sent twice: a repeated PUT or DELETE could land after someone
# else's write, and a PUT that failed midway may already have changed the file.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PROPFIND"})
_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})

# A server that keeps answering 503 must not hold a run for hours: past this much
# waiting in total, requests fail at once and the run reports what it could not do.
MAX_TOTAL_WAIT = 600.0

_sleep = time.sleep  # patched by tests


class BearerAuth(requests.auth.AuthBase):
    """Bearer token auth whose repr never shows the token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(<masqué>)"


class BasicAuth(requests.auth.HTTPBasicAuth):
    """Basic auth in UTF-8 (RFC 7617; requests would send latin-1), repr masked."""

    def __init__(self, username: str, password: str) -> None:
        super().__init__(username.encode(), password.encode())

    def __repr__(self) -> str:
        return "BasicAuth(<masqué>)"


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: either a number or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _is_redirect_to_same_collection(response: requests.Response) -> str | None:
    """Some servers answer '/folder' with a redirect to '/folder/': that one is safe to follow."""
    location = response.headers.get("Location", "")
    if response.status_code in (301, 302, 307, 308) and location:
        target = requests.compat.urljoin(response.url, location)
        if target == response.url + "/":
            return target
    return None


def _redirect_error(response: requests.Response) -> AuthenticationError:
    status = response.status_code
    location = response.headers.get("Location", "")
    if response.url.startswith("http://") and location.startswith("https://"):
        return AuthenticationError(
            f"Le serveur WebDAV redirige vers une connexion sécurisée (HTTP {status}) : "
            "configurez son adresse en https://.",
            status=status,
        )
    return AuthenticationError(
        f"Le serveur WebDAV a répondu par une redirection (HTTP {status}), en général vers une page de "
        "connexion : vérifiez que l'adresse configurée est bien celle du point d'accès WebDAV (pas celle du "
        "site web) et que l'identifiant, le mot de passe ou le jeton sont valides.",
        status=status,
    )


def error_for(response: requests.Response, path: str | None = None) -> StorageError | None:
    """The project error for a non-success reply, or None when the reply is a success."""
    error = _error_for_status(response)
    if error is not None:
        error.path = path
    return error


def _error_for_status(response: requests.Response) -> StorageError | None:
    status = response.status_code
    if status < 300:
        return None
    if status < 400:
        return _redirect_error(response)
    if status == 401:
        return AuthenticationError(
            "Le serveur WebDAV refuse les identifiants (HTTP 401) : vérifiez l'identifiant et le mot de passe "
            "(RESANA_SYNC_USER / RESANA_SYNC_PASSWORD) ou le jeton, qui a peut-être expiré, puis relancez.",
            status=status,
        )
    if status == 403:
        return AuthenticationError(
            "Le serveur WebDAV refuse l'accès (HTTP 403) : vérifiez que le compte utilisé a bien les droits "
            "de lecture et d'écriture sur l'espace de la cellule.",
            status=status,
        )
    if status == 404:
        return RemoteNotFound("Fichier ou dossier introuvable sur le serveur WebDAV (HTTP 404).", status=status)
    if status == 409:
        return RemoteNotFound("Le dossier parent n'existe pas sur le serveur WebDAV (HTTP 409).", status=status)
    if status == 412:
        return PreconditionFailed(
            "Le fichier a été modifié sur le serveur par quelqu'un d'autre entre-temps (HTTP 412).", status=status
        )
    if status == 413:
        return TooLarge("Le serveur WebDAV refuse un fichier trop volumineux (HTTP 413).", status=status)
    if status == 423:
        return RemoteLocked(
            "Le fichier est verrouillé sur le serveur (HTTP 423), sans doute ouvert dans un éditeur : "
            "il sera repris au prochain passage ; fermez-le si le problème persiste.",
            status=status,
        )
    if status == 507:
        return RemoteFull(
            "L'espace de stockage est plein sur le serveur (HTTP 507) : libérez de la place "
            "(par exemple d'anciennes archives) puis relancez.",
            status=status,
        )
    if status in _RETRYABLE_STATUS:
        return TransientRemoteError(
            f"Le serveur WebDAV est momentanément indisponible (HTTP {status}) : nouvel essai au prochain passage.",
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            status=status,
        )
    return StorageError(f"Le serveur WebDAV a refusé la requête (HTTP {status}).", status=status)


class Transport:
    """One ``requests`` session with timeouts, no blind redirects and bounded retries."""

    def __init__(
        self,
        session: requests.Session,
        *,
        verify: bool | str,
        connect_timeout: float,
        read_timeout: float,
        retries: int,
        backoff: float,
        max_retry_after: float,
    ) -> None:
        self.session = session
        self.verify = verify
        self.timeout = (connect_timeout, read_timeout)
        self.retries = retries
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self.waited = 0.0  # seconds slept in retries by this transport, over all requests

    def run(self, attempt: Callable[[], T], *, idempotent: bool) -> T:
        """Call ``attempt``; repeat it on TransientRemoteError when that is safe."""
        tries = self.retries + 1 if idempotent else 1
        for number in range(1, tries + 1):
            try:
                return attempt()
            except TransientRemoteError as exc:
                if number == tries:
                    raise
                delay = exc.retry_after if exc.retry_after is not None else self.backoff * 2 ** (number - 1)
                if delay > self.max_retry_after or self.waited + delay > MAX_TOTAL_WAIT:
                    raise
                log.info("WebDAV request failed temporarily; retry %d/%d in %.2f s", number, self.retries, delay)
                self.waited += delay
                _sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def request(self, method: str, url: str, **kwargs: object) -> requests.Response:
        return self.run(lambda: self.send(method, url, **kwargs), idempotent=method in IDEMPOTENT)

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        stream: bool = False,
        ok_statuses: frozenset[int] = frozenset(),
        path: str | None = None,
    ) -> requests.Response:
        """One request; a non-success reply becomes a project error unless in ``ok_statuses``."""
        response = self._send_once(method, url, headers, data, stream)
        redirect = _is_redirect_to_same_collection(response)
        if redirect is not None:
            response.close()
            response = self._send_once(method, redirect, headers, data, stream)
        if response.status_code in ok_statuses:
            return response
        error = error_for(response, path)
        if error is not None:
            response.close()
            raise error
        return response

    def _send_once(
        self, method: str, url: str, headers: dict[str, str] | None, data: bytes | None, stream: bool
    ) -> requests.Response:
        try:
            return self.session.request(
                method,
                url,
                headers=headers,
                data=data,
                stream=stream,
                timeout=self.timeout,
                verify=self.verify,
                allow_redirects=False,
            )
        except requests.exceptions.SSLError as exc:
            raise StorageError(
                "La connexion sécurisée (TLS) au serveur WebDAV a échoué : vérifiez l'adresse du serveur et, "
                "si l'établissement utilise sa propre autorité de certification, l'option du bundle CA.",
            ) from exc
        except requests.exceptions.InvalidURL as exc:
            raise StorageError("L'adresse du serveur WebDAV n'est pas valide : vérifiez la configuration.") from exc
        except requests.RequestException as exc:
            raise connection_error(exc) from exc


def connection_error(exc: BaseException) -> TransientRemoteError:
    """Timeouts, resets and bodies cut short: retryable for reads."""
    kind = "délai dépassé" if isinstance(exc, requests.Timeout) else "connexion interrompue"
    return TransientRemoteError(
        f"Le serveur WebDAV ne répond pas correctement ({kind}) : vérifiez la connexion réseau ; "
        "nouvel essai au prochain passage."
    )
