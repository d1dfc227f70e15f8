"""Sans-IO Kafka protocol: frames, headers, API messages, record batches, error codes.

Owns the bytes on the wire. Imports nothing from asyncio or the network.
"""
