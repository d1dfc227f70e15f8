"""Storage of one partition: segments, offset and time indexes, recovery, checkpoints,
retention and compaction.

Owns files on disk. Imports nothing from asyncio or the network. Modules: :mod:`.config`
(LogConfig), :mod:`.index` (offset and time indexes), :mod:`.segment` (one segment's files),
:mod:`.producer_state` (idempotent producers), :mod:`.log` (one partition, its retention and
the cleaner's swap), :mod:`.cleaner` (compaction and its threads), :mod:`.checkpoint`
(checkpoint files) and :mod:`.manager` (all partitions of a broker).
"""

from .checkpoint import read_checkpoint, write_checkpoint
from .cleaner import Cleaner, CleanResult, Throttler
from .config import LogConfig
from .log import AppendResult, Log, ReadResult
from .manager import LogManager
from .segment import FileRegion

__all__ = [
    "AppendResult",
    "Cleaner",
    "CleanResult",
    "FileRegion",
    "Log",
    "LogConfig",
    "LogManager",
    "ReadResult",
    "Throttler",
    "read_checkpoint",
    "write_checkpoint",
]
