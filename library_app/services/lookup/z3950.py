"""A small Z39.50 client: Index Data's YAZ toolkit (Debian ``libyaz5``) through its ZOOM C API.

There is no maintained Python Z39.50 package; YAZ is what the large open library systems use.
Only what an ISBN lookup needs: connect (with an optional account), one PQF search, fetch the
first records as ISO 2709 bytes. Every call is bounded by ZOOM's ``timeout`` option (whole
seconds); the caller bounds the whole lookup more tightly with its own deadline. A connection is
used by one thread only (ZOOM is thread-safe that way); ctypes lets go of the GIL during the calls.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import threading
from dataclasses import dataclass

ZOOM_ERROR_CONNECT = 10000
ZOOM_ERROR_TIMEOUT = 10007

_lib: ctypes.CDLL | None = None
_lib_error = ""
_lock = threading.Lock()


class Z3950Error(Exception):
    """A Z39.50 failure; ``timeout`` when the server did not answer in time."""

    def __init__(self, message: str, code: int = 0, timeout: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.timeout = timeout


def _load() -> ctypes.CDLL:
    global _lib, _lib_error
    with _lock:
        if _lib is not None:
            return _lib
        if _lib_error:
            raise Z3950Error(_lib_error)
        path = ctypes.util.find_library("yaz") or "libyaz.so.5"
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            _lib_error = "服务器上没有安装 YAZ（Debian 软件包 libyaz5），无法连接 Z39.50。"
            raise Z3950Error(_lib_error) from None
        p, c, i, s = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_size_t
        sigs = {
            "ZOOM_options_create": ([], p),
            "ZOOM_options_set": ([p, c, c], None),
            "ZOOM_options_destroy": ([p], None),
            "ZOOM_connection_create": ([p], p),
            "ZOOM_connection_connect": ([p, c, i], None),
            "ZOOM_connection_error": ([p, ctypes.POINTER(c), ctypes.POINTER(c)], i),
            "ZOOM_connection_search_pqf": ([p, c], p),
            "ZOOM_connection_destroy": ([p], None),
            "ZOOM_resultset_size": ([p], s),
            "ZOOM_resultset_record": ([p, s], p),
            "ZOOM_resultset_destroy": ([p], None),
            "ZOOM_record_get": ([p, c, ctypes.POINTER(i)], ctypes.c_void_p),
        }
        for name, (args, res) in sigs.items():
            fn = getattr(lib, name)
            fn.argtypes = args
            fn.restype = res
        _lib = lib
        return lib


def available() -> bool:
    try:
        _load()
    except Z3950Error:
        return False
    return True


def _quote(term: str) -> str:
    return '"' + term.replace("\\", "").replace('"', "") + '"'


def isbn_query(forms: list[str]) -> str:
    """PQF: any of the forms in the ISBN index (Bib-1 use 7), each as a phrase."""
    terms = [f"@attr 1=7 @attr 4=1 {_quote(f)}" for f in forms]
    query = terms[-1]
    for term in reversed(terms[:-1]):
        query = f"@or {term} {query}"
    return query


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    database: str
    syntax: str = "unimarc"   # unimarc or marc21 (ZOOM: "unimarc" / "usmarc")
    user: str = ""
    password: str = ""


def search(target: Target, query: str, timeout: float, limit: int = 5) -> list[bytes]:
    """The first ``limit`` records found, each as the server sent it (ISO 2709 bytes)."""
    lib = _load()
    opts = lib.ZOOM_options_create()
    settings = {
        "databaseName": target.database,
        "preferredRecordSyntax": "unimarc" if target.syntax == "unimarc" else "usmarc",
        "elementSetName": "F",
        "timeout": str(max(1, math.ceil(timeout))),
        "count": str(limit),
        "implementationName": "library_app",
    }
    if target.user:
        settings["user"] = target.user
    if target.password:
        settings["password"] = target.password
    for key, value in settings.items():
        lib.ZOOM_options_set(opts, key.encode(), value.encode("utf-8"))
    conn = lib.ZOOM_connection_create(opts)
    rs = None
    try:
        lib.ZOOM_connection_connect(conn, target.host.encode("utf-8"), int(target.port))
        _check(lib, conn)
        rs = lib.ZOOM_connection_search_pqf(conn, query.encode("utf-8"))
        _check(lib, conn)
        size = min(int(lib.ZOOM_resultset_size(rs)), limit)
        out: list[bytes] = []
        for pos in range(size):
            rec = lib.ZOOM_resultset_record(rs, pos)
            _check(lib, conn)
            if not rec:
                continue
            length = ctypes.c_int(0)
            ptr = lib.ZOOM_record_get(rec, b"raw", ctypes.byref(length))
            if ptr and length.value > 0:
                out.append(ctypes.string_at(ptr, length.value))
        return out
    finally:
        if rs:
            lib.ZOOM_resultset_destroy(rs)
        lib.ZOOM_connection_destroy(conn)
        lib.ZOOM_options_destroy(opts)


def _check(lib: ctypes.CDLL, conn: int) -> None:
    msg = ctypes.c_char_p()
    add = ctypes.c_char_p()
    code = lib.ZOOM_connection_error(conn, ctypes.byref(msg), ctypes.byref(add))
    if code:
        text = (msg.value or b"").decode("utf-8", "replace")
        extra = (add.value or b"").decode("utf-8", "replace")
        raise Z3950Error(f"{text} {extra}".strip(), code=code, timeout=code == ZOOM_ERROR_TIMEOUT)
