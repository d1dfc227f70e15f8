"""The control plane: cluster metadata (topics, partition assignments, leader/ISR state, configs).

:class:`~odradek.metadata.store.MetadataStore` is the interface; the embedded store keeps it in a
file in the data directory for a single node. Owns no sockets and no partition data.
"""
