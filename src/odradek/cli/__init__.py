"""The ``odradek`` command: serve a broker, and operator subcommands."""
