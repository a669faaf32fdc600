"""The SQLite backend (the embedded default): every concern's table in one database file, used
through one connection on one thread (``store.SQLiteStore.run``). WAL lets processes share it."""
