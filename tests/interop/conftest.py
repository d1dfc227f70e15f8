"""Interop suite setup: the client libraries are imported once here, quietly.

kafka-python 3 loads its protocol schemas at import time through a deprecated importlib API;
importing it first inside a test would put ~100 DeprecationWarnings in every report.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import kafka  # noqa: F401
        import kafka.admin  # noqa: F401
        import kafka.consumer  # noqa: F401
        import kafka.producer  # noqa: F401
    except ImportError:
        pass
    try:
        import aiokafka  # noqa: F401
        import aiokafka.admin  # noqa: F401
    except ImportError:
        pass
