"""Transaction markers: the control batches a transaction coordinator has written to each partition
of a transaction when it ends (KIP-98).

A marker is a batch with the transactional and control attribute bits set (0x30), uncompressed,
the transaction's producer id and the marker's producer epoch, base sequence -1, and one record:
key = ``version int16 (0), type int16`` (0 ABORT, 1 COMMIT), value = ``version int16 (0),
coordinator_epoch int32``. Imports nothing from asyncio or the network.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from .errors import ErrorCode, KafkaError
from .record_codec import build_batch, decode_batch
from .records import BatchHeader

ABORT, COMMIT = 0, 1
_KEY = struct.Struct(">hh")
_VALUE = struct.Struct(">hi")


class Marker(NamedTuple):
    commit: bool
    coordinator_epoch: int


def marker_batch(producer_id: int, producer_epoch: int, commit: bool, coordinator_epoch: int, timestamp_ms: int) -> bytearray:
    """The control batch ending a transaction (base offset 0: the log assigns it)."""
    key = _KEY.pack(0, COMMIT if commit else ABORT)
    value = _VALUE.pack(0, coordinator_epoch)
    return bytearray(
        build_batch(
            [(key, value)],
            base_timestamp=timestamp_ms,
            producer_id=producer_id,
            producer_epoch=producer_epoch,
            base_sequence=-1,
            is_transactional=True,
            is_control=True,
        )
    )


def parse_marker(h: BatchHeader, data) -> Marker | None:
    """The marker in the control batch ``data`` (the whole batch), or None when it is a control
    record of another kind (KRaft uses types 2-6; Kafka ignores those in data partitions).
    Raises KafkaError(CORRUPT_MESSAGE) when the batch does not hold a well-formed control record."""
    try:
        _, records = decode_batch(bytes(data), verify_crc=False)
    except KafkaError:
        raise
    except Exception as e:  # noqa: BLE001 - any decoding failure is a corrupt control batch
        raise KafkaError(ErrorCode.corrupt_message, f"malformed control batch at offset {h.base_offset}: {e}") from None
    if len(records) != 1 or records[0].key is None or len(records[0].key) < 4:
        raise KafkaError(ErrorCode.corrupt_message, f"control batch at offset {h.base_offset} holds no control record")
    version, kind = _KEY.unpack_from(records[0].key, 0)
    if version < 0 or kind not in (ABORT, COMMIT):
        return None
    value = records[0].value
    epoch = _VALUE.unpack_from(value, 0)[1] if value is not None and len(value) >= 6 else -1
    return Marker(kind == COMMIT, epoch)
