"""Kafka's offset checkpoint files (recovery points, high watermarks, log start offsets).

Owns the text format and the atomic write: a line ``0`` (version), a line with the entry count,
then one ``topic partition offset`` line per entry. Files are written to ``<name>.tmp``, fsynced,
renamed over the old file, and the directory is fsynced. Imports nothing from asyncio or the
network.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["read_checkpoint", "write_checkpoint", "fsync_dir", "CheckpointError"]

VERSION = 0


class CheckpointError(ValueError):
    """A checkpoint file that does not follow the format."""


def read_checkpoint(path: Path) -> dict[tuple[str, int], int]:
    """Entries of the checkpoint at ``path``; an empty dict when the file does not exist.

    Raises :class:`CheckpointError` on a malformed file.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    lines = text.splitlines()
    if len(lines) < 2:
        raise CheckpointError(f"{path}: missing version or count line")
    try:
        version = int(lines[0].strip())
        count = int(lines[1].strip())
    except ValueError:
        raise CheckpointError(f"{path}: version and count must be integers") from None
    if version != VERSION:
        raise CheckpointError(f"{path}: unsupported checkpoint version {version}")
    entries = [line for line in lines[2:] if line.strip()]
    if len(entries) != count:
        raise CheckpointError(f"{path}: expected {count} entries, found {len(entries)}")
    out: dict[tuple[str, int], int] = {}
    for line in entries:
        parts = line.split()
        if len(parts) != 3:
            raise CheckpointError(f"{path}: malformed line {line!r}")
        topic, partition, offset = parts
        try:
            out[(topic, int(partition))] = int(offset)
        except ValueError:
            raise CheckpointError(f"{path}: malformed line {line!r}") from None
    return out


def write_checkpoint(path: Path, entries: Mapping[tuple[str, int], int]) -> None:
    """Atomically replace ``path`` with ``entries`` (temp file, fsync, rename, fsync dir)."""
    path = Path(path)
    lines = [str(VERSION), str(len(entries))]
    lines += [f"{topic} {partition} {offset}" for (topic, partition), offset in sorted(entries.items())]
    atomic_write(path, ("\n".join(lines) + "\n").encode("utf-8"))


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new file, never a mix:
    write a temp file, fsync it, rename it over ``path``, fsync the directory."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """fsync a directory so that entries created, renamed or removed in it are durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
