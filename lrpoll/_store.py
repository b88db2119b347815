"""Checkpoint stores: where a scheduler keeps its operations' checkpoints.

A store is three coroutines keyed by operation id (`CheckpointStore`). The scheduler
given ``checkpoint_store=`` saves an operation's checkpoint at every state change
(started, stopped, resumed, cancelling, ended), keeps an ended one (with its final state
and result or error) until `Scheduler.remove` drops it, and loads them all in
`Scheduler.resume_all`. `DirectoryStore` keeps one JSON file per operation; a Redis or
database store is the same three methods over ``SET``/``SCAN``/``DEL`` or a table.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import quote

import anyio.to_thread

__all__ = ["CheckpointStore", "DirectoryStore"]


@runtime_checkable
class CheckpointStore(Protocol):
    """Where checkpoints live between processes (see the module docstring).

    Each method may raise; the scheduler logs a failed ``save`` or ``remove`` (the
    operation goes on) and lets `Scheduler.resume_all` raise what ``load_all`` raised.
    """

    async def save(self, operation_id: str, checkpoint: str) -> None:
        """Store ``checkpoint`` under ``operation_id``, replacing the one there."""

    async def load_all(self) -> list[str]:
        """Every stored checkpoint."""

    async def remove(self, operation_id: str) -> None:
        """Drop the checkpoint of ``operation_id`` (nothing if there is none)."""


class DirectoryStore:
    """A `CheckpointStore` of one ``<id>.json`` file per operation in ``directory``.

    Writes are atomic (a temporary file renamed over the old one), so a process killed
    mid-write leaves the previous checkpoint. File I/O runs in a worker thread. Ids are
    percent-encoded into file names (long ones hashed).

    Args:
        directory: created if missing.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, operation_id: str) -> Path:
        name = quote(operation_id, safe="-_")
        if len(name) > 200:
            name = "sha256-" + hashlib.sha256(operation_id.encode()).hexdigest()
        return self.directory / f"{name}.json"

    async def save(self, operation_id: str, checkpoint: str) -> None:
        """Write the checkpoint file atomically."""
        await anyio.to_thread.run_sync(self._write, self._path(operation_id), checkpoint)

    @staticmethod
    def _write(path: Path, text: str) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(text)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise

    async def load_all(self) -> list[str]:
        """Read every checkpoint file, in file-name order."""
        return await anyio.to_thread.run_sync(self._read_all)

    def _read_all(self) -> list[str]:
        paths = sorted(self.directory.glob("*.json"))
        return [p.read_text(encoding="utf-8") for p in paths if not p.name.startswith(".tmp-")]

    async def remove(self, operation_id: str) -> None:
        """Delete the checkpoint file, if any."""
        await anyio.to_thread.run_sync(self._path(operation_id).unlink, True)

    def __repr__(self) -> str:
        return f"DirectoryStore({str(self.directory)!r})"
