"""Production serving: granian (a Rust HTTP server) in front of the Flask app, through WSGI.

The master process binds the socket and forks ``workers`` processes; each builds its own app
with the factory (its own database pool, group commit and checkpoint signer, one signed every
``VIGIE_CHECKPOINT_INTERVAL`` seconds while entries arrive) and runs it on up to ``threads``
Python threads. Connections, keep-alive and request parsing live in Rust, off the GIL.

Slow clients: a connection whose request head is still incomplete after
``VIGIE_CLIENT_TIMEOUT`` seconds is dropped, and holds no Python thread meanwhile. granian
calls the app as soon as the head is in and lets it read the body from its thread with no
deadline (granian issue 728, closed "wontfix"): a client that announces a body and stops
sending holds one thread until it goes. A worker therefore takes no more connections than it
has threads (``backpressure``): every connection it accepted has a thread of its own, so
stalled senders delay no one else until they hold all ``workers x threads`` of them (hence
64 threads by default; idle ones cost a stack, and granian starts them as needed). A buffering
reverse proxy remains the better front line for untrusted clients.

Request bodies sent chunked (``Transfer-Encoding: chunked``, no ``Content-Length``) are read
by ``bounded_body`` before the app sees them, up to one byte past the app's limit: a larger
one is a 413 like a too-large ``Content-Length``, never a silently truncated body (werkzeug
stops reading a terminated stream at the limit and hands on what it read). A chunk framing
error the server reports is a 400; granian reports none: a malformed chunk size ends the
body where it stands, so a body that is not JSON is a 400 and an empty one too.

Signals (to the master): SIGTERM or SIGINT stop (each worker finishes the requests in flight,
and is killed after ``STOP_WITHIN`` seconds); SIGHUP restarts the workers one at a time, each
new one started before the old one stops, so the socket keeps answering (graceful restart). A
worker that dies is started again.
"""

from __future__ import annotations

import gc
import io
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from api.config import ConfigError, Settings

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

STOP_WITHIN = 10
"""Seconds a stopping worker gets to finish its requests before it is killed."""
RESTART_OVERLAP = 5.0
"""Seconds a new worker gets to build its app (about 1 s) before the old one is stopped."""
_REQUEST_NAMES = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH", "REMOTE_USER", "AUTH_TYPE"})
HEAD_LIMIT = 16384
"""Bytes of request line and headers a connection may buffer: a larger head is a 431."""


def bounded_body(app: WsgiApp, limit: int) -> WsgiApp:
    """``app`` reading a chunked request body in full first, at most ``limit + 1`` bytes: it
    then sees a body with a ``Content-Length`` (over ``limit``: Flask answers 413 as for a
    declared length). A read error of the server's stream (bad chunk framing) leaves a body
    whose first read fails, which werkzeug answers 400."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower():
            _buffer_body(environ, limit)  # a Content-Length beside it is ignored (RFC 9112)
        return app(environ, start_response)

    return wrapped


class _FailedBody(io.RawIOBase):
    """A body whose framing was wrong: every read fails as a broken connection would."""

    def readable(self) -> bool:
        return True

    def readinto(self, _buffer: Any) -> int:
        raise OSError("malformed chunked request body")


def _buffer_body(environ: dict[str, Any], limit: int) -> None:
    stream = environ["wsgi.input"]
    parts: list[bytes] = []
    size = 0
    try:
        while size <= limit:
            part = stream.read(min(65536, limit + 1 - size))
            if not part:
                break
            parts.append(part)
            size += len(part)
    except (OSError, ValueError):
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = _FailedBody(), str(size + 1)
    else:
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(b"".join(parts)), str(size)
    environ.pop("HTTP_TRANSFER_ENCODING")  # werkzeug ignores a length beside it


def client_timeout() -> float:
    """``VIGIE_CLIENT_TIMEOUT``: seconds a client may take to send its request head."""
    return float(os.environ.get("VIGIE_CLIENT_TIMEOUT", "5"))


def check_environment(environ: Mapping[str, str]) -> None:
    """Raise ConfigError if the process environment holds a variable named like request data.
    granian builds every request's WSGI environ on a copy of the process environment, so
    ``HTTP_AUTHORIZATION=...`` would reach the app as the bearer token of every request that
    sends none (and ``HTTP_*`` in general as a header, ``CONTENT_*`` as the body's)."""
    names = sorted(n for n in environ if n.startswith("HTTP_") or n in _REQUEST_NAMES)
    if names:
        raise ConfigError(
            f"unset {', '.join(names)}: the server passes its environment into every request, "
            "where such a variable reads as request data (outbound proxies: use lowercase "
            "http_proxy / https_proxy)"
        )


def _app_loader(settings: Settings) -> Callable[[str], WsgiApp]:
    """What each worker calls to build its app (after the fork)."""

    def load(_target: str) -> WsgiApp:
        from api.app import create_app

        app = create_app(settings, background=True)
        gc.freeze()  # start-up objects leave the collector's generations: steadier p99
        return app

    return load


def run_server(settings: Settings, host: str, port: int, workers: int, threads: int) -> None:
    """Serve until SIGTERM: ``workers`` processes, each with up to ``threads`` threads and as
    many client connections at once (a worker at its limit stops accepting until one ends,
    so that connections spread over the workers)."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    Granian(
        "vigie",  # a name only: each worker builds its app with _app_loader
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        http=HTTPModes.http1,
        websockets=False,
        workers=workers,
        blocking_threads=threads,
        backpressure=threads,
        http1_settings=HTTP1Settings(
            header_read_timeout=max(1, round(client_timeout() * 1000)),
            max_buffer_size=HEAD_LIMIT,
        ),
        log_level=LogLevels.info,
        log_access=False,
        respawn_failed_workers=True,
        respawn_interval=RESTART_OVERLAP,
        workers_kill_timeout=STOP_WITHIN,
    ).serve(target_loader=_app_loader(settings))
