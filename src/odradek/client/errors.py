"""Errors the client raises: every one is a :class:`KafkaError` carrying the Kafka error name.

``KafkaError.code`` is the :class:`ErrorCode` member and ``KafkaError.name`` its Kafka name
(``"UNKNOWN_TOPIC_OR_PARTITION"``, ``"TOPIC_ALREADY_EXISTS"``...), so callers can branch on either::

    try:
        await admin.create_topics([NewTopic("orders", 3)])
    except KafkaError as e:
        if e.name != "TOPIC_ALREADY_EXISTS":
            raise

Failures that are not answers from a broker use the nearest Kafka code: a broker that cannot be
reached is ``NETWORK_EXCEPTION`` (:class:`BrokerUnreachable`), a request or a delivery that took
too long is ``REQUEST_TIMED_OUT`` (:class:`RequestTimedOut`, also a ``TimeoutError``).
"""

from __future__ import annotations

from ..protocol.errors import ErrorCode, KafkaError
from .connection import AuthenticationFailed, ConnectionClosed, RequestTimedOut, TlsHandshakeFailed

__all__ = [
    "ErrorCode",
    "KafkaError",
    "BrokerUnreachable",
    "AuthenticationFailed",
    "TlsHandshakeFailed",
    "RequestTimedOut",
    "ConnectionClosed",
    "is_retriable",
    "raise_for",
]

#: Codes after which the same request may succeed later (Kafka's RetriableException family).
RETRIABLE: frozenset[ErrorCode] = frozenset(
    {
        ErrorCode.corrupt_message,
        ErrorCode.unknown_topic_or_partition,
        ErrorCode.leader_not_available,
        ErrorCode.not_leader_or_follower,
        ErrorCode.request_timed_out,
        ErrorCode.network_exception,
        ErrorCode.coordinator_load_in_progress,
        ErrorCode.coordinator_not_available,
        ErrorCode.not_coordinator,
        ErrorCode.not_enough_replicas,
        ErrorCode.not_enough_replicas_after_append,
        ErrorCode.not_controller,
        ErrorCode.kafka_storage_error,
        ErrorCode.fenced_leader_epoch,
        ErrorCode.unknown_leader_epoch,
        ErrorCode.offset_not_available,
        ErrorCode.preferred_leader_not_available,
        ErrorCode.unstable_offset_commit,
        ErrorCode.throttling_quota_exceeded,
        ErrorCode.concurrent_transactions,
        ErrorCode.broker_not_available,
        ErrorCode.replica_not_available,
    }
)


class BrokerUnreachable(KafkaError, ConnectionError):
    """No broker could be reached (``NETWORK_EXCEPTION``); also a ``ConnectionError``."""

    def __init__(self, message: str = "") -> None:
        super().__init__(ErrorCode.network_exception, message)


def is_retriable(error: BaseException | ErrorCode | int) -> bool:
    """True for errors after which retrying the same request may succeed (never for refused
    credentials or certificates)."""
    if isinstance(error, AuthenticationFailed):
        return False
    if isinstance(error, ConnectionError):
        return True
    if isinstance(error, KafkaError):
        return error.code in RETRIABLE
    if isinstance(error, BaseException):
        return False
    return ErrorCode(error) in RETRIABLE


def raise_for(code: ErrorCode | int, message: str = "") -> None:
    """Raise ``KafkaError(code, message)`` unless ``code`` is NONE."""
    if code != ErrorCode.none:
        raise KafkaError(code, message)
