"""Verification of the ledger: one package, one specification, one accelerator.

What a stored ledger must satisfy is written once, entry by entry, in
:mod:`ledger.verify.reference` (``check_one``): canonical v1 header hashing to the stored leaf,
``seq`` its position, ``prev`` the previous leaf, each patient's chain, the payload commitment
(or an erased payload justified by a later erasure entry), and the Merkle root at every signed
checkpoint. That path is the specification; at the first fault it names the seq and kind
(:class:`LedgerFault`).

:mod:`ledger.verify.fast` is an accelerator checked against it: it accepts a block of entries
only when the reference would, and declines anything in doubt, which then goes through the
reference path. ``verify_ledger(..., fast=False)`` runs the reference alone; the tests run
both over random and tampered ledgers and require the same verdict.

- :mod:`~ledger.verify.state`: what both paths share (``ScanState``, the ``Columns`` a
  store reads for the fast path);
- :mod:`~ledger.verify.run`: ``Run``, one verification's state, tree and checkpoints, and
  the choice fast-or-reference per block;
- :mod:`~ledger.verify.full`: :func:`verify_ledger`, the whole ledger chunk by chunk;
- :mod:`~ledger.verify.parallel`: the fast path's stateless checks in worker processes
  (``ChunkReader``), results applied in seq order here;
- :mod:`~ledger.verify.incremental`: :func:`verify_since`, only what was appended after a
  checkpoint verified before.
"""

from ledger.errors import LedgerFault
from ledger.verify.full import PARALLEL_MIN, LedgerReport, Progress, verify_ledger
from ledger.verify.incremental import SinceReads, SinceReport, verify_since
from ledger.verify.parallel import ChunkReader
from ledger.verify.state import Columns, ScanState

__all__ = [
    "PARALLEL_MIN",
    "ChunkReader",
    "Columns",
    "LedgerFault",
    "LedgerReport",
    "Progress",
    "ScanState",
    "SinceReads",
    "SinceReport",
    "verify_ledger",
    "verify_since",
]
