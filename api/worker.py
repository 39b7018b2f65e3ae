"""The gunicorn worker class Vigie serves with: gunicorn's threaded worker, plus a timeout on
every socket read and write of a client connection.

gthread waits (without a thread) for a connection's first byte, but then reads the rest of
the headers in a pool thread with a blocking socket and no deadline, so a few clients that
send half a request and stop hold every thread ("slowloris"). With a per-read timeout such a
connection is closed after ``CLIENT_TIMEOUT`` seconds of silence and its thread goes back to
the pool. A reverse proxy that buffers requests remains the better front line.
"""

from __future__ import annotations

import os
import select
from typing import Any

from gunicorn.workers import gthread

CLIENT_TIMEOUT = float(os.environ.get("VIGIE_CLIENT_TIMEOUT", "5"))
NEXT_REQUEST_WAIT = 0.002
"""Seconds a thread waits on its kept-alive connection for the next request before giving
the connection back to the poller (a closed-loop client answers within a millisecond)."""


class _TimedConn(gthread.TConn):  # type: ignore[misc]
    def init(self) -> None:
        super().init()  # returns at once after the first call; the timeout is set every time
        self.sock.settimeout(CLIENT_TIMEOUT)  # the worker set it blocking just before


def _next_request_soon(conn: Any) -> bool:
    if conn.parser.unreader.buf.getvalue():  # read ahead: already here
        return True
    readable, _, _ = select.select([conn.sock], [], [], NEXT_REQUEST_WAIT)
    return bool(readable)


class VigieThreadWorker(gthread.ThreadWorker):  # type: ignore[misc]
    """gthread with client read/write timeouts, and keep-alive connections served in the
    thread that answered them while their next request follows at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # gthread keeps at most worker_connections - threads connections alive; `vigie serve`
        # caps the connections of a worker at its thread count (to spread them over the
        # workers) and still keeps every one of them alive.
        self.max_keepalived = max(self.max_keepalived, self.cfg.threads)

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        """No warning that connections <= threads leaves no room for keep-alive: see
        ``__init__``."""

    def init_process(self) -> None:
        gthread.TConn = _TimedConn  # the worker builds connections through this module name
        super().init_process()

    def handle(self, conn: Any) -> Any:
        """Stock gthread returns a kept-alive connection to the main thread's poller after
        every answer, and the poller hands it to a pool thread again: two thread switches
        and a few system calls per request (about 0.6 ms of CPU here, more than Flask's own
        0.3 ms). A client sending its next request within ``NEXT_REQUEST_WAIT`` keeps its
        thread instead; a quiet one goes back to the poller as before."""
        keep = super().handle(conn)
        while keep is True and self.alive and _next_request_soon(conn):
            keep = super().handle(conn)
        return keep
