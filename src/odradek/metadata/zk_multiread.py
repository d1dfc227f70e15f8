"""Many znodes read with one ZooKeeper request: the multiRead operation (ZooKeeper 3.6+, op code
22), which kazoo does not offer.

A broker following thousands of partition states reads thousands of znodes after a failover (and
all of them at start-up). kazoo spends about 0.1 ms of Python per request on each side of its
connection thread, so 4,000 reads took 0.7 s as single requests and 0.03 s as eight multiReads
of 500 (measured here). Unlike a multi-op, a multiRead is not atomic: each read answers on its own
(data and stat, or the error). ZooKeeper sets no watch for the reads of a multiRead (it drops the
flag), so it serves reads that need none: the store learns of state changes from notifications.

This relies on one kazoo internal, stable since kazoo 1.0: ``KazooClient._call`` (send a request
object). :func:`supported` checks for it; without it (or with a ZooKeeper older than 3.6) the
store reads node by node.
"""

from __future__ import annotations

from collections import namedtuple

from kazoo.exceptions import EXCEPTIONS
from kazoo.protocol.serialization import GetData, MultiHeader, int_struct, multiheader_struct, read_buffer, stat_struct
from kazoo.protocol.states import ZnodeStat

MULTI_READ = 22  # ZooKeeper's OpCode.multiRead


class MultiRead(namedtuple("MultiRead", "paths")):
    """``getData`` of each of ``paths`` (full paths, chroot included) in one request."""

    type = MULTI_READ

    def serialize(self) -> bytearray:
        b = bytearray()
        for path in self.paths:
            b.extend(MultiHeader(GetData.type, False, -1).serialize())
            b.extend(GetData(path, False).serialize())
        return b + multiheader_struct.pack(-1, True, -1)

    def deserialize(self, buf, offset):
        """One answer per path: (data, stat), or the exception (e.g. NoNodeError)."""
        out = []
        header, offset = MultiHeader.deserialize(buf, offset)
        while not header.done:
            if header.type == GetData.type:
                data, offset = read_buffer(buf, offset)
                stat = ZnodeStat._make(stat_struct.unpack_from(buf, offset))
                offset += stat_struct.size
                out.append((data, stat))
            elif header.type == -1:
                err = int_struct.unpack_from(buf, offset)[0]
                offset += int_struct.size
                out.append(EXCEPTIONS[err]())
            else:
                raise ValueError(f"unexpected multiRead answer type {header.type}")
            header, offset = MultiHeader.deserialize(buf, offset)
        if len(out) != len(self.paths):
            raise ValueError(f"multiRead answered {len(out)} of {len(self.paths)} reads")
        return out


def supported(client) -> bool:
    return hasattr(client, "_call") and hasattr(client, "handler")


def multi_read_async(client, paths: list[str]):
    """Send one multiRead of ``paths`` (relative to the client's chroot); returns kazoo's async
    result, whose value is one answer per path."""
    chroot = client.chroot or ""
    result = client.handler.async_result()
    client._call(MultiRead([chroot + p for p in paths]), result)
    return result
