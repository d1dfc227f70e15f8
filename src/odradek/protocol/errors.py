"""Kafka error codes and the one exception type that carries them.

Every error the broker answers with is a member of :class:`ErrorCode` (the codes Kafka defines);
code that must fail a request raises :class:`KafkaError` with the code and a message.
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

__all__ = ["ErrorCode", "KafkaError"]


class KafkaError(Exception):
    """An error with a Kafka error code, e.g. ``KafkaError(ErrorCode.corrupt_message, "bad crc")``.

    ``record_errors`` names the records of a produced batch that caused it (KIP-467): pairs of the
    record's index in its batch and a message.
    """

    def __init__(self, code: ErrorCode | int, message: str = "",
                 record_errors: list[tuple[int, str | None]] | None = None) -> None:
        self.code = ErrorCode(code)
        self.message = message
        self.record_errors = record_errors or []
        super().__init__(f"{self.code.name.upper()}: {message}" if message else self.code.name.upper())

    @property
    def name(self) -> str:
        return self.code.name.upper()
