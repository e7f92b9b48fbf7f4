"""The ``registry`` command line: every Registry operation, with ``--json`` output.

Exit codes: 0 success, 1 the registry refused (gate unmet, illegal transition,
not found, invalid input), 2 a usage error.

The commands live in one module per concern (:mod:`.versions`, :mod:`.workflow`,
:mod:`.governance`, :mod:`.labels`, :mod:`.audit`, :mod:`.db`, :mod:`.serve`,
:mod:`.webhooks`), their human-readable output in :mod:`.render`. None of them
imports the registry or the database until a command runs, so ``--help`` is fast.
"""

from __future__ import annotations

from .app import cli, main

__all__ = ["cli", "main"]
