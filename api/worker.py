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

from gunicorn.workers import gthread

CLIENT_TIMEOUT = float(os.environ.get("VIGIE_CLIENT_TIMEOUT", "5"))


class _TimedConn(gthread.TConn):  # type: ignore[misc]
    def init(self) -> None:
        super().init()  # returns at once after the first call; the timeout is set every time
        self.sock.settimeout(CLIENT_TIMEOUT)  # the worker set it blocking just before


class VigieThreadWorker(gthread.ThreadWorker):  # type: ignore[misc]
    """gthread with client read/write timeouts (see the module docstring)."""

    def init_process(self) -> None:
        gthread.TConn = _TimedConn  # the worker builds connections through this module name
        super().init_process()
