"""The post store: every SQL statement of the product lives in this package.

- :mod:`radar.store.database`: the connection (SQLite by default, or PostgreSQL), the schema and its
  migrations, how times are stored;
- :mod:`radar.store.posts`: posts, predictions, collection checkpoints and runs
  (:class:`PostStore`, opened with :func:`open_store`);
- :mod:`radar.store.history`: the risk history, alerts and their deliveries, imported files.

Callers import from here; records cross the boundary as :mod:`nlp.types` records or this
package's frozen dataclasses.
"""

from radar.store.database import (
    DB_ENV,
    DEFAULT_DB_PATH,
    MIGRATIONS,
    SCHEMA_VERSION,
    Database,
    StoreError,
    StoreTarget,
    connect,
    describe_target,
    format_time,
    is_database_url,
    parse_stored_time,
    resolve_db_path,
    store_exists,
    store_label,
)
from radar.store.posts import (
    CheckpointRow,
    PostStore,
    RunRow,
    SaveCounts,
    StoreMissing,
    open_existing_store,
    open_store,
)

__all__ = ["DB_ENV", "DEFAULT_DB_PATH", "MIGRATIONS", "SCHEMA_VERSION", "CheckpointRow",
           "Database", "PostStore", "RunRow", "SaveCounts", "StoreError", "StoreMissing",
           "StoreTarget", "connect", "describe_target", "format_time", "is_database_url",
           "open_existing_store", "open_store", "parse_stored_time", "resolve_db_path",
           "store_exists", "store_label"]
