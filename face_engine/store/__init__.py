"""The store, the source of truth: narrow interfaces per concern (``interfaces.py``), their
LMDB (``lmdb/``) and PostgreSQL (``postgres/``) implementations, and ``factory.py``, which
opens the configured one."""
