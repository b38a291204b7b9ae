"""Copy a whole library database to another one (the SQLite → PostgreSQL move).

The target gets the schema from the same Alembic migrations, then every table is copied in
foreign-key order inside one target transaction (all or nothing), read from one snapshot of
the source. Row counts are compared table by table afterwards, and PostgreSQL sequences are set
past the highest copied id so that new rows do not collide with copied ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Integer, Table, func, insert, inspect, select, text
from sqlalchemy.engine import Connection, Engine, make_url

from library_app.db import make_engine, upgrade
from library_app.models import Base

BATCH = 1000
ALEMBIC_TABLE = "alembic_version"


class CopyError(RuntimeError):
    """The copy cannot start or did not verify; the message is for people (Chinese)."""


@dataclass(frozen=True)
class TableCount:
    table: str
    source: int
    target: int

    @property
    def ok(self) -> bool:
        return self.source == self.target


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _revision(conn: Connection) -> str | None:
    from alembic.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _head() -> str | None:
    from alembic.script import ScriptDirectory

    from library_app.db import alembic_config

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def tables() -> list[Table]:
    """Every table of the schema, parents before children."""
    return list(Base.metadata.sorted_tables)


def count_rows(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _check_source(conn: Connection) -> None:
    names = set(inspect(conn).get_table_names())
    expected = {t.name for t in tables()}
    if ALEMBIC_TABLE not in names or not expected <= names:
        raise CopyError("源数据库不是本系统的数据库，或还没有初始化（请先运行 init-db）。")
    extra = names - expected - {ALEMBIC_TABLE}
    if extra:
        raise CopyError("源数据库里有本系统不认识的表：" + "、".join(sorted(extra)))
    revision, head = _revision(conn), _head()
    if revision != head:
        raise CopyError(
            f"源数据库的结构版本是 {revision}，当前程序需要 {head}："
            "请先对源数据库运行 flask --app library_app init-db 升级，再复制。"
        )


def _empty_target(conn: Connection, replace: bool) -> None:
    filled = [t.name for t in tables() if count_rows(conn, t)]
    if not filled:
        return
    if not replace:
        raise CopyError(
            "目标数据库已经有数据（" + "、".join(filled) + "）。为避免覆盖，已停止；"
            "确定要清空目标库再复制，请加 --replace。"
        )
    if conn.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables())
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in reversed(tables()):
            conn.execute(table.delete())


def reset_sequences(conn: Connection) -> list[str]:
    """Set each PostgreSQL id sequence past the highest id in its table."""
    done = []
    for table in tables():
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or not isinstance(pk[0].type, Integer) or pk[0].autoincrement is False:
            continue
        column = pk[0].name
        seq = conn.execute(
            text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column}
        ).scalar()
        if not seq:
            continue
        conn.execute(
            text(
                f'SELECT setval(:seq, COALESCE((SELECT MAX("{column}") FROM "{table.name}"), 0) + 1, false)'
            ),
            {"seq": seq},
        )
        done.append(table.name)
    return done


def _copy_table(src: Connection, dst: Connection, table: Table) -> int:
    order = list(table.primary_key.columns)
    result = src.execute(select(table).order_by(*order))
    copied = 0
    while rows := result.fetchmany(BATCH):
        dst.execute(insert(table), [dict(row._mapping) for row in rows])
        copied += len(rows)
    return copied


def copy_database(
    source_url: str,
    target_url: str,
    replace: bool = False,
    progress: Callable[[str, int], None] | None = None,
) -> list[TableCount]:
    """Copy every table from ``source_url`` into ``target_url`` and verify the counts."""
    if make_url(source_url) == make_url(target_url):
        raise CopyError("源数据库和目标数据库是同一个。")
    source = make_engine(source_url)
    target: Engine | None = None
    try:
        with source.connect() as src:
            _check_source(src)
        # The target's schema comes from the same migrations as every other installation.
        try:
            upgrade(target_url)
        except Exception as exc:  # noqa: BLE001 - any connection or permission problem
            raise CopyError(f"无法连接或初始化目标数据库 {safe_url(target_url)}：{exc}") from exc
        target = make_engine(target_url)
        counts: dict[str, int] = {}
        if source.dialect.name == "postgresql":
            source_conn = source.connect().execution_options(isolation_level="REPEATABLE READ")
        else:
            source_conn = source.connect()
        with source_conn as src, src.begin(), target.begin() as dst:
            # One read transaction = one snapshot of the source (SQLite WAL and PostgreSQL alike).
            _empty_target(dst, replace)
            for table in tables():
                # a table the database keeps itself (loan_days) is filled by the target's
                # triggers as its sources are copied; its count is checked all the same
                kept = table.info.get("kept_by_triggers", False)
                counts[table.name] = count_rows(src, table) if kept else _copy_table(src, dst, table)
                if progress:
                    progress(table.name, counts[table.name])
            if dst.dialect.name == "postgresql":
                reset_sequences(dst)
        with target.connect() as dst:
            result = [TableCount(t.name, counts[t.name], count_rows(dst, t)) for t in tables()]
        bad = [c for c in result if not c.ok]
        if bad:
            detail = "；".join(f"{c.table} 源 {c.source} 行、目标 {c.target} 行" for c in bad)
            raise CopyError("复制后行数不一致：" + detail)
        return result
    finally:
        source.dispose()
        if target is not None:
            target.dispose()
