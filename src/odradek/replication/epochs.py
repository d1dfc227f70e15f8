"""The leader epoch cache of one partition: which epoch began at which offset (KIP-101/279).

Persisted as ``leader-epoch-checkpoint`` in the partition directory, in Kafka's checkpoint format
(version 0, a count, then "epoch start_offset" lines). A follower asks the leader for the end offset
of its latest epoch and truncates to it, which keeps logs from diverging after a failover.
"""

from __future__ import annotations

from pathlib import Path

from ..log.checkpoint import atomic_write

FILE = "leader-epoch-checkpoint"


class LeaderEpochCache:
    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / FILE
        self.entries: list[tuple[int, int]] = []  # (epoch, start offset), both increasing
        self.pending = False  # an entry not written to the file yet (see :meth:`assign`)
        self._load()

    def _load(self) -> None:
        try:
            lines = self.path.read_text().split("\n")
        except OSError:
            return
        try:
            n = int(lines[1])
            self.entries = [tuple(int(x) for x in line.split()) for line in lines[2 : 2 + n]]  # type: ignore[misc]
        except (ValueError, IndexError):
            self.entries = []

    def _save(self) -> None:
        self.pending = False
        text = f"0\n{len(self.entries)}\n" + "".join(f"{e} {o}\n" for e, o in self.entries)
        try:
            atomic_write(self.path, text.encode())
        except OSError:
            pass  # the directory may be gone (topic deleted)

    @property
    def latest_epoch(self) -> int:
        return self.entries[-1][0] if self.entries else -1

    def assign(self, epoch: int, start_offset: int, *, durable: bool = True) -> None:
        """Record that ``epoch`` starts at ``start_offset`` (ignored unless it is a newer epoch).

        ``durable=False`` (a leader taking over) keeps the entry in memory and leaves the file to
        :meth:`flush`, which the leader calls before its first append in the epoch. An entry no
        record was written under changes no answer of :meth:`end_offset_for` (the next entry
        starts where it does), so losing it in a crash costs nothing; taking thousands of
        leaderships at once then costs no fsync each."""
        if epoch < 0 or (self.entries and epoch <= self.entries[-1][0]):
            return
        # an epoch that starts where the previous one started replaces it (it wrote nothing)
        while self.entries and self.entries[-1][1] >= start_offset:
            self.entries.pop()
        self.entries.append((epoch, start_offset))
        if durable:
            self._save()
        else:
            self.pending = True

    def flush(self) -> None:
        """Write an entry :meth:`assign` left in memory."""
        if self.pending:
            self._save()

    def end_offset_for(self, epoch: int, log_end_offset: int) -> tuple[int, int]:
        """(largest epoch <= ``epoch`` known here, the offset where it ends): OffsetForLeaderEpoch."""
        if not self.entries or epoch < self.entries[0][0]:
            return -1, -1
        for i, (e, _start) in enumerate(self.entries):
            if e > epoch:
                prev = self.entries[i - 1]
                return prev[0], self.entries[i][1]
        return self.entries[-1][0], log_end_offset

    def truncate_from_end(self, offset: int) -> None:
        """Forget epochs that start at or after ``offset`` (the log was truncated there)."""
        before = len(self.entries)
        self.entries = [(e, o) for e, o in self.entries if o < offset]
        if len(self.entries) != before:
            self._save()

    def clear(self) -> None:
        self.entries = []
        self._save()
