"""The web console: ``odradek console``, a separate process that shows and operates any
Kafka-compatible cluster through Odradek's own client (:mod:`odradek.client`), never by reaching
into a broker.

- :mod:`.app` routes, authentication, CSRF, read-only mode, error pages, logs
- :mod:`.httpd` a small HTTP/1.1 server on asyncio (standard library only)
- :mod:`.service` what the console asks of a cluster (admin, scans, produce, lag sampling)
- :mod:`.views` the pages as HTML; :mod:`.markup` escapes everything interpolated
- :mod:`.decode` record bytes as text, JSON or hex; :mod:`.parsing` form and URL input
- :mod:`.security` password file and CSRF tokens; :mod:`.cli` the command
- ``static/`` the stylesheet and the small script the pages load (no build step, no CDN)
"""
