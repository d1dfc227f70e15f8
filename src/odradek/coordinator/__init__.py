"""The group coordinator (classic protocol) and committed offsets.

State machines driven by calls and an injected clock: no asyncio, no sockets, no files. What must be
made durable comes back to the caller as records for the internal topic ``__consumer_offsets``; the
server appends them and replays that topic to rebuild this state when the broker starts.
"""
