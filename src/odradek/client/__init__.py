"""Odradek's own Kafka client: producer, consumer and admin APIs (asyncio first), and connections.

The broker uses the same connection code to talk to other brokers (follower fetches). The client
works against any Kafka-compatible broker. ::

    from odradek.client import Producer, Consumer, Admin, NewTopic, TopicPartition, KafkaError

Synchronous wrappers for scripts live in :mod:`odradek.client.sync`.
"""

from ..protocol.errors import ErrorCode, KafkaError
from .acls import AclBinding, AclFilter, ScramCredentialInfo
from .admin import Admin, ClusterDescription, ConfigEntry, GroupDescription, GroupListing, LogDirDescription, MemberDescription, NewTopic, PartitionOffsets, ReplicaLogInfo
from .assignors import Assignor, CooperativeStickyAssignor, RangeAssignor, RoundRobinAssignor
from .cluster import DEFAULT_BOOTSTRAP, Cluster, bootstrap_from_env
from .consumer import CommitFailed, Consumer, ConsumerRebalanceListener
from .errors import AuthenticationFailed, BrokerUnreachable, RequestTimedOut, TlsHandshakeFailed, is_retriable
from .murmur2 import murmur2, partition_for_key
from .producer import CODECS, Producer
from .security import SecurityConfig
from .types import (
    EARLIEST,
    LATEST,
    BrokerInfo,
    ConsumerRecord,
    OffsetAndMetadata,
    OffsetAndTimestamp,
    PartitionInfo,
    RecordMetadata,
    TopicInfo,
    TopicPartition,
)

__all__ = [
    "Admin", "Producer", "Consumer", "ConsumerRebalanceListener", "CommitFailed",
    "NewTopic", "ConfigEntry", "GroupListing", "GroupDescription", "MemberDescription", "ClusterDescription", "PartitionOffsets", "LogDirDescription", "ReplicaLogInfo",
    "Assignor", "RangeAssignor", "RoundRobinAssignor", "CooperativeStickyAssignor",
    "Cluster", "DEFAULT_BOOTSTRAP", "bootstrap_from_env",
    "KafkaError", "ErrorCode", "BrokerUnreachable", "RequestTimedOut", "is_retriable",
    "AuthenticationFailed", "TlsHandshakeFailed", "SecurityConfig", "AclBinding", "AclFilter", "ScramCredentialInfo",
    "murmur2", "partition_for_key", "CODECS",
    "TopicPartition", "RecordMetadata", "ConsumerRecord", "OffsetAndMetadata", "OffsetAndTimestamp",
    "BrokerInfo", "PartitionInfo", "TopicInfo", "EARLIEST", "LATEST",
]
