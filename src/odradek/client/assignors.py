"""Partition assignors: range, round-robin and cooperative-sticky, as Kafka's Java client defines them.

The group leader runs the assignor chosen by the coordinator (the first protocol, in the leader's
order of preference, that every member supports) over every member's subscription and the
partition counts of the subscribed topics. An assignor maps ``{member_id: Subscription}`` and
``{topic: partition_count}`` to ``{member_id: [TopicPartition, ...]}``.

- ``range``: per topic, members subscribed to it sorted by id; each gets a contiguous range,
  the first ``P % M`` one partition more (Java's RangeAssignor).
- ``roundrobin``: every subscribed partition, sorted by topic then partition, dealt to the sorted
  members in turn, skipping members not subscribed to the topic (Java's RoundRobinAssignor).
- ``cooperative-sticky``: balanced (member counts differ by at most one where subscriptions
  allow), keeping each member's owned partitions where balance allows, and *cooperative*: a
  partition that moves from one member to another is first left out of the new owner's
  assignment, so the old owner revokes it and rejoins, and it is handed over in the next
  rebalance (KIP-429). Members report their owned partitions and generation in the subscription.
"""

from __future__ import annotations

from collections.abc import Mapping

from .group_protocol import Subscription
from .types import TopicPartition

__all__ = ["Assignor", "RangeAssignor", "RoundRobinAssignor", "CooperativeStickyAssignor", "ASSIGNORS", "assignor"]

Assignments = dict[str, list[TopicPartition]]


class Assignor:
    name = ""
    #: "eager": members revoke everything before rejoining; "cooperative": only what moves.
    rebalance_protocol = "eager"

    def assign(self, partitions_per_topic: Mapping[str, int], subscriptions: Mapping[str, Subscription]) -> Assignments:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class RangeAssignor(Assignor):
    name = "range"

    def assign(self, partitions_per_topic: Mapping[str, int], subscriptions: Mapping[str, Subscription]) -> Assignments:
        out: Assignments = {m: [] for m in subscriptions}
        by_topic: dict[str, list[str]] = {}
        for m, sub in subscriptions.items():
            for t in set(sub.topics):
                by_topic.setdefault(t, []).append(m)
        for t in sorted(by_topic):
            n = partitions_per_topic.get(t, 0)
            if n <= 0:
                continue
            members = sorted(by_topic[t])
            per, extra = divmod(n, len(members))
            for i, m in enumerate(members):
                start = per * i + min(i, extra)
                length = per + (1 if i < extra else 0)
                out[m].extend(TopicPartition(t, p) for p in range(start, start + length))
        return out


class RoundRobinAssignor(Assignor):
    name = "roundrobin"

    def assign(self, partitions_per_topic: Mapping[str, int], subscriptions: Mapping[str, Subscription]) -> Assignments:
        out: Assignments = {m: [] for m in subscriptions}
        members = sorted(subscriptions)
        if not members:
            return out
        subscribed = {m: set(subscriptions[m].topics) for m in members}
        topics = sorted({t for s in subscribed.values() for t in s})
        i = 0
        for t in topics:
            for p in range(partitions_per_topic.get(t, 0)):
                for _ in range(len(members)):
                    m = members[i % len(members)]
                    i += 1
                    if t in subscribed[m]:
                        out[m].append(TopicPartition(t, p))
                        break
        return out


class CooperativeStickyAssignor(Assignor):
    name = "cooperative-sticky"
    rebalance_protocol = "cooperative"

    def assign(self, partitions_per_topic: Mapping[str, int], subscriptions: Mapping[str, Subscription]) -> Assignments:
        members = sorted(subscriptions)
        out: Assignments = {m: [] for m in members}
        if not members:
            return out
        subscribed = {m: set(subscriptions[m].topics) for m in members}
        all_tps = sorted(
            TopicPartition(t, p)
            for t in {t for s in subscribed.values() for t in s}
            for p in range(partitions_per_topic.get(t, 0))
        )
        valid = set(all_tps)
        # Previous owners: when two members claim a partition, the higher generation wins.
        previous: dict[TopicPartition, str] = {}
        claim_gen: dict[TopicPartition, int] = {}
        for m in members:
            sub = subscriptions[m]
            for tp in sub.owned_partitions:
                if tp in valid and tp.topic in subscribed[m] and sub.generation_id >= claim_gen.get(tp, -2):
                    previous[tp] = m
                    claim_gen[tp] = sub.generation_id
        eligible = {tp: [m for m in members if tp.topic in subscribed[m]] for tp in all_tps}
        # Quotas for balance: with identical subscriptions every member gets floor or ceil of P/M.
        total = len(all_tps)
        base, extra = divmod(total, len(members))
        quota = {m: base for m in members}
        # members keeping the most owned partitions get the extra slots
        by_owned = sorted(members, key=lambda m: (-sum(1 for o in previous.values() if o == m), m))
        for m in by_owned[:extra]:
            quota[m] += 1
        # 1. keep owned partitions up to quota
        unassigned: list[TopicPartition] = []
        for tp in all_tps:
            owner = previous.get(tp)
            if owner is not None and len(out[owner]) < quota[owner]:
                out[owner].append(tp)
            else:
                unassigned.append(tp)
        # 2. hand out the rest to the eligible member with the fewest partitions (below quota first)
        for tp in unassigned:
            cands = eligible[tp]
            if not cands:
                continue
            m = min(cands, key=lambda c: (len(out[c]) >= quota[c], len(out[c]), c))
            out[m].append(tp)
        # 3. cooperative: a partition changing owner is withheld until its old owner revokes it
        for m in members:
            out[m] = sorted(tp for tp in out[m] if previous.get(tp, m) == m)
        return out


ASSIGNORS: dict[str, type[Assignor]] = {
    "range": RangeAssignor,
    "roundrobin": RoundRobinAssignor,
    "round_robin": RoundRobinAssignor,
    "cooperative-sticky": CooperativeStickyAssignor,
    "cooperative_sticky": CooperativeStickyAssignor,
}


def assignor(spec: str | Assignor) -> Assignor:
    """An assignor instance from its name (``range``, ``roundrobin``, ``cooperative-sticky``)."""
    if isinstance(spec, Assignor):
        return spec
    try:
        return ASSIGNORS[spec.lower()]()
    except KeyError:
        raise ValueError(f"unknown assignor {spec!r}: use range, roundrobin or cooperative-sticky") from None
