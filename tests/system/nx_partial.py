"""nx-27017 with ``partialFilterExpression`` honoured, for the tests' MongoDB wire server.

nx-27017 0.8.1 drops an index's ``partialFilterExpression``: the app's dedupe arbiter (unique
``(public_original, sha256)`` only where ``public_original`` is true, ``storage/mongo/store.py``)
became unique over every record, and a private copy of public bytes was refused. Here such an
index is made as the SQLite partial index it stands for (equality, ``$exists: true`` and ``$type``
filters: what the app uses); everything else goes to nx-27017 unchanged. Run as a script (``mongo_wire.nx_command``).
"""

from __future__ import annotations

import json
from typing import Any

from neosqlite.collection.json_path_utils import parse_json_path
from neosqlite.sql_utils import quote_identifier, quote_table_name
from nx_27017.handler import NeoSQLiteHandler
from nx_27017.nx_27017 import main

_handle_command = NeoSQLiteHandler.handle_command


def _extract(field: str) -> str:
    return f"json_extract(data, '{parse_json_path(field)}')"


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + json.dumps(value)[1:-1].replace("'", "''") + "'" if isinstance(value, str) else "NULL"


# MongoDB $type names -> SQLite json_type() answers.
_JSON_TYPES = {"string": "'text'", "bool": "'true','false'", "int": "'integer'", "double": "'real'",
               "number": "'integer','real'", "object": "'object'", "array": "'array'"}


def _condition(field: str, value: Any) -> str:
    """One field of a partial filter: an equality, ``$exists: true`` or ``$type``."""
    if isinstance(value, dict):
        if set(value) == {"$exists"} and value["$exists"]:
            return f"{_extract(field)} IS NOT NULL"
        if set(value) == {"$type"} and value["$type"] in _JSON_TYPES:
            return f"json_type(data, '{parse_json_path(field)}') IN ({_JSON_TYPES[value['$type']]})"
        raise ValueError(f"nx_partial: unsupported partial filter {field}: {value!r}")
    return f"{_extract(field)} = {_literal(value)}"


def _create_partial(handler: NeoSQLiteHandler, db_name: str, collection: str, spec: dict[str, Any]) -> None:
    coll = handler.get_database(db_name)[collection]
    coll.find_one({})  # makes the collection's table if it does not exist yet
    keys = list(spec["key"].items()) if isinstance(spec["key"], dict) else list(spec["key"])
    columns = ", ".join(_extract(name) for name, _direction in keys)
    where = " AND ".join(_condition(name, value) for name, value in spec["partialFilterExpression"].items())
    name = f"idx_{collection}_{spec.get('name') or '_'.join(k for k, _ in keys)}"
    coll.db.execute(f"CREATE {'UNIQUE ' if spec.get('unique') else ''}INDEX IF NOT EXISTS "
                    f"{quote_identifier(name)} ON {quote_table_name(collection)}({columns}) WHERE {where}")


def handle_command(self: NeoSQLiteHandler, msg: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    sections = msg.get("sections") or []
    for i, (kind, doc) in enumerate(sections):
        if kind != "body" or not isinstance(doc, dict) or "createIndexes" not in doc:
            continue
        indexes = doc.get("indexes") or []
        partial = [spec for spec in indexes if spec.get("partialFilterExpression")]
        if not partial:
            continue
        for spec in partial:
            _create_partial(self, doc.get("$db", "test"), doc["createIndexes"], spec)
        rest = [spec for spec in indexes if not spec.get("partialFilterExpression")]
        if not rest:
            return msg["request_id"], {"ok": 1, "createdCollectionAutomatically": False,
                                       "indexesCreated": [{"name": spec.get("name")} for spec in partial]}
        sections[i] = (kind, {**doc, "indexes": rest})
    return _handle_command(self, msg)


NeoSQLiteHandler.handle_command = handle_command  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
