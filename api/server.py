"""Production serving: gunicorn with the app factory, one app per worker process."""

from __future__ import annotations

import gc
from typing import Any

from gunicorn.app.base import BaseApplication

from api.config import Settings


class VigieServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self._settings = settings
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from api.app import create_app

        return create_app(self._settings, background=True)


def _post_worker_init(worker: Any) -> None:
    gc.freeze()  # start-up objects leave the collector's generations: steadier p99


def run_gunicorn(
    settings: Settings,
    host: str,
    port: int,
    workers: int,
    threads: int,
    connections: int | None = None,
) -> None:
    """gunicorn with Vigie's worker class. ``connections``: client connections one worker
    holds at most (default 1000): a worker at its limit stops accepting, so a burst of new
    connections spreads over the workers instead of piling on the fastest to accept (each
    worker group-commits its own calls, so an idle worker is throughput lost)."""
    VigieServer(
        settings,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_connections": connections or 1000,
            "worker_class": "api.worker.VigieThreadWorker",
            "timeout": 30,
            "graceful_timeout": 10,
            "accesslog": None,
            "post_worker_init": _post_worker_init,
            "limit_request_field_size": 16384,
        },
    ).run()
