"""Kafka error codes and the one exception type that carries them.

Every error the broker answers with is a member of :class:`ErrorCode` (the codes Kafka defines);
code that must fail a request raises :class:`KafkaError` with the code and a message.
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

__all__ = ["ErrorCode", "KafkaError"]


class KafkaError(Exception):
    """An error with a Kafka error code, e.g. ``KafkaError(ErrorCode.corrupt_message, "bad crc")``."""

    def __init__(self, code: ErrorCode | int, message: str = "") -> None:
        self.code = ErrorCode(code)
        self.message = message
        super().__init__(f"{self.code.name.upper()}: {message}" if message else self.code.name.upper())

    @property
    def name(self) -> str:
        return self.code.name.upper()
