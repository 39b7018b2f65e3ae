"""A real Vigie server for the page tests: demo keys and the demo story (api/demo.py, told
through the API itself) on a SQLite file, served by werkzeug in a thread on a free port."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from api.app import create_app
from api.config import Settings
from api.demo import demo_tokens, load_story, make_keys
from models.migrate import upgrade


@dataclass
class Demo:
    """Settings of a demo folder, its tokens (one per api.demo.ACTORS name) and an app."""

    folder: Path
    settings: Settings
    tokens: dict[str, str]
    app: Flask


def prepare(folder: Path) -> Demo:
    variables = make_keys(folder)
    settings = Settings.from_env(variables)
    upgrade(settings.database_url)
    tokens = demo_tokens(folder, settings, ttl=3600)
    load_story(settings, tokens)
    return Demo(folder, settings, tokens, create_app(settings, configure_logs=False))


@dataclass
class LiveServer:
    url: str
    demo: Demo
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def tokens(self) -> dict[str, str]:
        return self.demo.tokens

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


def start(folder: Path) -> LiveServer:
    demo = prepare(folder)
    server = make_server("127.0.0.1", 0, demo.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="vigie-web-test", daemon=True)
    thread.start()
    return LiveServer(f"http://127.0.0.1:{server.server_port}", demo, server, thread)
