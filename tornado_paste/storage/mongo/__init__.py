"""The MongoDB backend (production) through PyMongo's ``AsyncMongoClient``: one collection per
concern, unique indexes for dedupe and claims, a ``counters`` collection for integer ids."""
