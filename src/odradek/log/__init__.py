"""Storage of one partition: segments, offset and time indexes, recovery, checkpoints.

Owns files on disk. Imports nothing from asyncio or the network.
"""
