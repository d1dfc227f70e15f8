"""Partition state on a broker: leadership, ISR, high watermark, and who waits for what.

A state machine driven by calls (append, read, follower positions) and an injected clock; it
imports nothing from asyncio or the network. Waiters register plain callbacks that fire when the
high watermark or the log end moves; the server turns them into asyncio wake-ups.
"""
