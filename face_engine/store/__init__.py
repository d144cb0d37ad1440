"""The store: LMDB is the source of truth for users and face vectors."""
