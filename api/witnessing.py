"""The log side of C2SP tlog-witness: push each signed checkpoint to every witness, keep
their cosignatures beside it, off the decision path.

``VIGIE_WITNESSES`` names a TOML file::

    [[witness]]
    name = "w1.example"                       # the witness's key name
    url = "http://127.0.0.1:8090"             # its submission prefix
    key = "w1.example+1a2b3c4d+BA..."         # its cosignature/v1 verifier key (type 0x04)

One thread per witness sends ``add-checkpoint`` with the consistency proof from the size that
witness last cosigned (on a 409 it retries from the size the witness returns), checks the
returned cosignature with the witness's key and stores it. A down or slow witness only
delays its own thread: failures back off (1 s doubling to a minute) and show in /metrics.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from api.config import ConfigError, read_toml
from ledger import merkle
from ledger.checkpoint import Checkpoint
from ledger.cosignature import CosignatureVerifier, add_cosignatures, cosignatures
from ledger.errors import LedgerError, NoteError
from ledger.note import parse_note
from ledger.witness import AddCheckpoint
from models.database import Database
from models.errors import StoreError

_log = logging.getLogger("vigie.witnessing")
MAX_BACKOFF = 60.0
MAX_WANTED = 256
"""Checkpoints kept to push before the latest (exports wait for their own); older ones are
dropped while a witness stays behind, which then gets the latest only."""


@dataclass(frozen=True, slots=True)
class WitnessEndpoint:
    """A witness the log pushes to: name, submission prefix, cosignature verifier key."""

    name: str
    url: str
    verifier: CosignatureVerifier


def load_witnesses(path: Path) -> tuple[WitnessEndpoint, ...]:
    """Read the ``VIGIE_WITNESSES`` file; raise ConfigError saying what is wrong."""
    where = f"VIGIE_WITNESSES: {path}"
    document = read_toml(path, "VIGIE_WITNESSES")
    tables = document.get("witness")
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"{where}: list the witnesses as [[witness]] tables")
    witnesses = []
    for number, raw in enumerate(tables):
        table = raw if isinstance(raw, dict) else {}
        values = {k: table.get(k) for k in ("name", "url", "key")}
        if not all(isinstance(v, str) and v for v in values.values()):
            raise ConfigError(f"{where}: witness #{number} needs strings name, url and key")
        try:
            verifier = CosignatureVerifier.from_string(str(values["key"]))
        except NoteError as exc:
            raise ConfigError(f"{where}: witness #{number} key: {exc}") from None
        if verifier.name != values["name"]:
            raise ConfigError(f"{where}: witness #{number}: its key is named {verifier.name!r}")
        url = str(values["url"]).rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}: witness #{number} url must be http(s)://")
        witnesses.append(WitnessEndpoint(verifier.name, url, verifier))
    if len({w.name for w in witnesses}) != len(witnesses):
        raise ConfigError(f"{where}: two witnesses share a name")
    return tuple(witnesses)


@dataclass
class WitnessStatus:
    """What this process knows of one witness."""

    cosigned: int = 0
    behind_since: float | None = None
    failures: int = 0
    last_error: str | None = None


@dataclass
class _Pusher:
    witness: WitnessEndpoint
    status: WitnessStatus = field(default_factory=WitnessStatus)
    wake: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Witnessing:
    """Pushes checkpoints to the witnesses (one thread each) and hands out cosigned notes."""

    def __init__(
        self,
        database: Database,
        witnesses: Sequence[WitnessEndpoint],
        quorum: int,
        *,
        timeout: float = 5.0,
        interval: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 <= quorum <= len(witnesses):
            raise ConfigError(f"VIGIE_WITNESS_QUORUM={quorum}: between 0 and {len(witnesses)}")
        self.database = database
        self.quorum = quorum
        self.timeout = timeout
        self.interval = interval
        self.clock = clock
        self.pushers = [_Pusher(w) for w in witnesses]
        self._wanted: dict[int, str] = {}  # sizes to cosign before the latest, and their notes
        self._wanted_lock = threading.Lock()
        self._stored = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._known = False

    # -- the hook and the threads -----------------------------------------------------------

    def checkpoint_signed(self, size: int, note: str) -> None:
        """A checkpoint was signed and committed: push it (called after the commit, so it
        never raises: a failure is logged and the pushers' next poll finds the checkpoint)."""
        try:
            with self._wanted_lock:
                self._wanted[size] = note
                while len(self._wanted) > MAX_WANTED:  # a witness down for long: keep the newest
                    del self._wanted[min(self._wanted)]
            for pusher in self.pushers:
                pusher.wake.set()
        except Exception:
            _log.exception("checkpoint hand-off to the witnesses failed")

    def start(self) -> None:
        for pusher in self.pushers:
            thread = threading.Thread(
                target=self._run,
                args=(pusher,),
                name=f"vigie-witness-{pusher.witness.name}",
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for pusher in self.pushers:
            pusher.wake.set()
        for thread in self._threads:
            thread.join(timeout=0.2)  # daemons: one stuck on a hung witness ends by itself

    def _run(self, pusher: _Pusher) -> None:
        backoff = 0.0
        while not self._stop.is_set():
            pusher.wake.wait(backoff or self.interval)
            pusher.wake.clear()
            if self._stop.is_set():
                return
            ok = self.push(pusher)
            backoff = 0.0 if ok else min(MAX_BACKOFF, max(1.0, backoff * 2))

    def push_all(self) -> dict[str, WitnessStatus]:
        """One synchronous round over every witness (the CLI's); their statuses."""
        for pusher in self.pushers:
            self.push(pusher)
        return {p.witness.name: p.status for p in self.pushers}

    # -- one round for one witness ----------------------------------------------------------

    def push(self, pusher: _Pusher) -> bool:
        """Bring ``pusher``'s witness up to the latest checkpoint: the wanted sizes first,
        then the latest. True when it is up to date (or nothing to do)."""
        with pusher.lock:
            try:
                self._load_known()
                latest = self._latest()
                if latest is None:
                    return True
                status = pusher.status
                if status.cosigned >= latest[0]:
                    status.behind_since = None
                    return True
                if status.behind_since is None:
                    status.behind_since = self.clock()
                with self._wanted_lock:
                    wanted = sorted(
                        (s, n) for s, n in self._wanted.items() if status.cosigned < s < latest[0]
                    )
                for size, note in [*wanted, latest]:
                    if size > status.cosigned:
                        self._add_checkpoint(pusher, size, note)
                status.behind_since = None
                self._forget_wanted()
                return True
            except (OSError, LedgerError, StoreError, ValueError) as exc:
                pusher.status.failures += 1
                pusher.status.last_error = f"{type(exc).__name__}: {exc}"
                _log.warning("witness %s: %s", pusher.witness.name, pusher.status.last_error[:300])
                return False

    def _load_known(self) -> None:
        if self._known:
            return
        with self.database.read_only() as uow:
            latest = uow.cosignatures.latest()
        for pusher in self.pushers:
            got = latest.get(pusher.witness.name)
            if got is not None:
                pusher.status.cosigned = max(pusher.status.cosigned, got[0])
        self._known = True

    def _latest(self) -> tuple[int, str] | None:
        with self.database.read_only() as uow:
            stored = uow.ledger.checkpoint_latest()
        return None if stored is None else (stored.size, stored.note)

    def _forget_wanted(self) -> None:
        done = min(p.status.cosigned for p in self.pushers)
        with self._wanted_lock:
            for size in [s for s in self._wanted if s <= done]:
                del self._wanted[size]

    def _add_checkpoint(self, pusher: _Pusher, size: int, note: str) -> None:
        """POST add-checkpoint from the witness's last known size; one retry from the size a
        409 returns. Stores the cosignature; raises on any other outcome."""
        witness, status = pusher.witness, pusher.status
        old = status.cosigned
        for attempt in range(2):
            proof: list[bytes] = []
            if 0 < old < size:
                with self.database.read_only() as uow:
                    proof = merkle.consistency_proof(uow.ledger, old, size)
            body = AddCheckpoint(old, tuple(proof), note).encode()
            code, text = self._post(witness.url + "/add-checkpoint", body)
            if code == 409 and attempt == 0:
                old = _size_line(text)
                if old > size:
                    status.cosigned = max(status.cosigned, old)
                    if old > self.latest_size():
                        raise LedgerError(
                            f"the witness cosigned size {old}, beyond this log's checkpoints:"
                            " a fork or a rolled-back database"
                        )
                    return  # it already holds a later checkpoint of ours: nothing to add
                continue
            if code != 200:
                raise LedgerError(
                    f"add-checkpoint of size {size} from {old}: HTTP {code}: {text[:200]}"
                )
            found = cosignatures(add_cosignatures(note, _lines(text)), [witness.verifier])
            if not found:
                raise LedgerError(f"the answer to size {size} holds no cosignature of its key")
            with self.database.unlocked_write() as uow:
                uow.cosignatures.add(size, witness.name, found[0].line, found[0].timestamp)
            status.cosigned = size
            with self._stored:
                self._stored.notify_all()
            return
        raise LedgerError(f"size {size}: the witness answered 409 twice")

    def latest_size(self) -> int:
        latest = self._latest()
        return 0 if latest is None else latest[0]

    def _post(self, url: str, body: bytes) -> tuple[int, str]:
        request = urllib.request.Request(  # noqa: S310 (the URL is checked to be http(s))
            url, data=body, method="POST", headers={"Content-Type": "text/plain"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return response.status, response.read(65536).decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            return error.code, error.read(65536).decode("utf-8", "replace")

    # -- what verifiers get -----------------------------------------------------------------

    def cosigned_note(self, note: str, size: int, wait: float) -> str:
        """``note`` (the checkpoint of ``size``) with the cosignatures stored for it, waiting
        up to ``wait`` seconds for the quorum (a decision never waits: only a bundle does)."""
        self.checkpoint_signed(size, note)
        deadline = time.monotonic() + wait
        while True:
            with self.database.read_only() as uow:
                lines = uow.cosignatures.lines(size)
            left = deadline - time.monotonic()
            if len(lines) >= max(self.quorum, 1) or left <= 0:
                return add_cosignatures(note, lines)
            with self._stored:
                self._stored.wait(min(left, 0.25))

    def counted(self, note: str) -> int:
        """How many of the witnesses validly cosigned ``note``."""
        return len(cosignatures(note, [p.witness.verifier for p in self.pushers]))

    def collector(self) -> Collector:
        return _WitnessMetrics(self)


def note_size(note: str) -> int:
    """The tree size a checkpoint note states (its signatures are checked elsewhere)."""
    return Checkpoint.parse(parse_note(note)[0]).size


def _size_line(text: str) -> int:
    line = text.strip()
    if not line.isdigit():
        raise LedgerError(f"409 without a size line: {text[:80]!r}")
    return int(line)


def _lines(text: str) -> list[str]:
    return [line + "\n" for line in text.splitlines() if line.startswith("\u2014 ")]


class _WitnessMetrics(Collector):
    def __init__(self, witnessing: Witnessing) -> None:
        self._witnessing = witnessing

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        w = self._witnessing
        entries = GaugeMetricFamily(
            "vigie_witness_lag_entries",
            "Entries signed into checkpoints that the witness has not cosigned",
            labels=["witness"],
        )
        seconds = GaugeMetricFamily(
            "vigie_witness_lag_seconds",
            "Seconds since the witness fell behind the latest checkpoint (0: up to date)",
            labels=["witness"],
        )
        failures = CounterMetricFamily(
            "vigie_witness_failures", "Failed pushes to the witness", labels=["witness"]
        )
        try:
            latest = w.latest_size()
        except StoreError:
            latest = None
        now = w.clock()
        for pusher in w.pushers:
            name, status = pusher.witness.name, pusher.status
            if latest is not None:
                entries.add_metric([name], max(0, latest - status.cosigned))
            since = status.behind_since
            seconds.add_metric([name], 0.0 if since is None else max(0.0, now - since))
            failures.add_metric([name], status.failures)
        yield entries
        yield seconds
        yield failures
