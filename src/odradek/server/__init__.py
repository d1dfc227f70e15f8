"""The network side: the asyncio listener, connections, the request router, one module per API family.

The only package where sockets appear. Handlers translate requests into calls on the broker's
state (replication, log, metadata, coordinator) and results into responses.
"""
