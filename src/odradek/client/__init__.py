"""Odradek's own Kafka client: connections, and (issue 6) producer, consumer and admin APIs.

The broker uses the same connection code to talk to other brokers (follower fetches).
"""
