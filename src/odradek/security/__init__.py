"""Security: listeners, TLS contexts and principals, SASL mechanisms as sans-IO state machines,
SCRAM credentials, JAAS option parsing, OAUTHBEARER token validation, and the ACL authorizer.

Everything here is pure: no sockets and no asyncio. The server (``server/``) drives the SASL state
machines with the bytes a connection received, builds its listeners' TLS contexts from here, and
asks the authorizer before each operation; the client (``client/``) uses the client side of the
same mechanisms.
"""
