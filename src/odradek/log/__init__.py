"""Storage of one partition: segments, offset and time indexes, recovery, checkpoints.

Owns files on disk. Imports nothing from asyncio or the network. Modules: :mod:`.config`
(LogConfig), :mod:`.index` (offset and time indexes), :mod:`.segment` (one segment's files),
:mod:`.producer_state` (idempotent producers), :mod:`.log` (one partition), :mod:`.checkpoint`
(checkpoint files) and :mod:`.manager` (all partitions of a broker).
"""

from .checkpoint import read_checkpoint, write_checkpoint
from .config import LogConfig
from .log import AppendResult, Log, ReadResult
from .manager import LogManager
from .segment import FileRegion

__all__ = [
    "AppendResult",
    "FileRegion",
    "Log",
    "LogConfig",
    "LogManager",
    "ReadResult",
    "read_checkpoint",
    "write_checkpoint",
]
