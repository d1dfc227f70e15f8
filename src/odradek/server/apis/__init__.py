"""API handlers, one module per family. Importing this package registers them with the router."""

from . import acls, admin, cluster, fetch, groups, metadata, offsets, produce, producers, replicas, sasl, txn, users, versions  # noqa: F401
