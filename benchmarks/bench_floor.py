"""The floors under Vigie's single decisions, measured in one run next to Cerbos.

Run: .venv/bin/python benchmarks/bench_floor.py [--seconds 3]

- PostgreSQL's durable commit: one-row UPDATE + COMMIT in a loop on one connection, with
  synchronous_commit on (what every Vigie group pays before answering) and off (the same
  without waiting for the WAL flush): the c=1 latency no durable decision can beat.
- Flask's own cost under granian (2 workers, as `vigie serve`): a POST route that parses a JSON
  body and answers JSON, with no authentication, decision or database, against Cerbos deciding
  one resource, wrk alternating the two at c=1, 8 and 32: the ceiling of the HTTP stack, and the
  CPU the Flask workers and Cerbos spend per request (from the processes' own accounting).
- Vigie itself at c=32 (``vigie serve``, PostgreSQL, demo dossier): CPU per decision in the
  server's workers and in its PostgreSQL backends, from the processes' own accounting.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # before benchmarks/

import bench_http as bh
import harness as h
import psutil
import psycopg

from api.logs import configure_logging

FLASK_APP = """
from flask import Flask, request, jsonify

app = Flask("floor")


@app.get("/")
def ready():
    return "ok"


@app.post("/d")
def d():
    body = request.get_json()
    return jsonify({"decision": "permit", "patient_id": body["patient_id"]})
"""
COMMITS = 300


def commit_latency(url: str) -> None:
    for mode in ("on", "off"):
        times = h.commit_times(url, COMMITS, synchronous_commit=mode)
        print(f"postgresql UPDATE + COMMIT, c=1, synchronous_commit={mode}: "
              f"p50 {times[COMMITS // 2]:.2f} ms, p99 {times[COMMITS * 99 // 100]:.2f} ms, "
              f"{COMMITS / sum(times) * 1000:,.0f}/s")  # fmt: skip


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """User + system CPU seconds the processes have used so far."""
    return sum(sum(p.cpu_times()[:2]) for p in processes)


def cpu_ms_per(processes: list[psutil.Process], before: float, requests: int) -> float:
    """Milliseconds of CPU per request the processes used since ``before`` (cpu_seconds)."""
    return (cpu_seconds(processes) - before) / requests * 1000 if requests else 0.0


def flask_vs_cerbos(folder: Path, seconds: float) -> None:
    (folder / "floor_app.py").write_text(FLASK_APP)
    port = h.free_port()
    args = [str(h.VENV_BIN / "granian"), "--interface", "wsgi", "--workers", "2",
            "--blocking-threads", "16", "--backpressure", "16", "--http", "1", "--no-ws",
            "--port", str(port), "--working-dir", str(folder), "--log-level", "error",
            "floor_app:app"]  # fmt: skip
    flask = cerbos = None
    try:
        flask = h.start(args, dict(os.environ), folder / "flask.log", f"http://127.0.0.1:{port}",
                        "/")  # fmt: skip
        cerbos = bh.start_cerbos(folder)
        claims = {"sub": "899700218896", "actor_type": "professional", "profession": "60"}
        dossier = {"status": "open", "treating_doctor": "810000000001",
                   "authorized": ["899700218896"], "blocked": []}  # fmt: skip
        doc = {"document_id": "DOC-1", "type_code": "11502-2", "masked": False,
               "author_id": "810000000001", "status": "active"}  # fmt: skip
        body = bh.cerbos_body(claims, dossier, [doc])
        cerbos_lua = h.write_lua(folder / "c.lua", [("/api/check/resources", "", json.dumps(body))])
        request = {"patient_id": "2780576123456", "action": "document.read", "document_id": "D"}
        flask_lua = h.write_lua(folder / "f.lua", [("/d", "", json.dumps(request))])
        workers = [psutil.Process(pid) for pid in h.worker_pids(flask)]
        cerbos_process = psutil.Process(cerbos.proc.pid)
        for c in (1, 8, 32):
            before = cpu_seconds(workers)
            f = h.run_wrk(flask.base, flask_lua, c, seconds)
            per = cpu_ms_per(workers, before, f.requests)
            before = cpu_seconds([cerbos_process])
            k = h.run_wrk(cerbos.base, cerbos_lua, c, seconds)
            kper = cpu_ms_per([cerbos_process], before, k.requests)
            print(f"c={c:<3} flask JSON route on granian {bh.fmt(f)} ({per:.3f} ms CPU per request "
                  f"in the workers) | cerbos {bh.fmt(k)} ({kper:.3f} ms CPU per decision) | "
                  f"ratio {f.rps / k.rps:.2f}x")  # fmt: skip
    finally:
        h.stop(flask)
        h.stop(cerbos)


def vigie_cpu(folder: Path, url: str, seconds: float) -> None:
    env = h.vigie_env(folder, url)
    h.migrate(env)
    tokens = h.demo_tokens(folder, env)
    bh.prepare_vigie(folder, env, tokens)
    server = h.start_vigie(env, folder, threads=64)
    try:
        dossier, docs = bh.facts_from_vigie(server.base, tokens)
        script = bh.lua_scripts(folder, tokens, bh.variants(tokens, dossier, docs))
        single = script[("vigie", "single")]
        h.run_wrk(server.base, single, 32, 1)  # warm-up
        with psycopg.connect(h.PG_ADMIN) as admin:
            rows = admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (url.rsplit("/", 1)[1],)
            ).fetchall()
        workers = [psutil.Process(pid) for pid in h.worker_pids(server)]
        backends = [psutil.Process(pid) for (pid,) in rows]
        before = cpu_seconds(workers), cpu_seconds(backends)
        result = h.run_wrk(server.base, single, 32, seconds * 2)
        after = cpu_seconds(workers), cpu_seconds(backends)
        per = [(a - b) / result.requests * 1000 for a, b in zip(after, before, strict=True)]
        print(f"vigie c=32 single decisions: {bh.fmt(result)}; CPU per decision: "
              f"{per[0]:.3f} ms in the workers, {per[1]:.3f} ms in PostgreSQL "
              f"({len(backends)} backends)")  # fmt: skip
    finally:
        h.stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per wrk run")
    args = parser.parse_args()
    configure_logging("WARNING")
    print(f"bench_floor: load average at start {h.loadavg()} ({os.cpu_count()} CPUs)")
    bh.install_cerbos()
    with tempfile.TemporaryDirectory(prefix="vigie-bench-floor-") as tmp, h.pg_database() as url:
        commit_latency(url)
        flask_vs_cerbos(Path(tmp), args.seconds)
    with tempfile.TemporaryDirectory(prefix="vigie-bench-floor-") as tmp, h.pg_database() as url:
        vigie_cpu(Path(tmp), url, args.seconds)
    print(f"bench_floor: load average at end {h.loadavg()}")


if __name__ == "__main__":
    main()
