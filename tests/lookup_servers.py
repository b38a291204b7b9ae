"""Servers the ISBN lookup tests start themselves (issue 19):

- Index Data's Zebra (Debian ``idzebra-2.0``), a real Z39.50 server, loaded with CNMARC records
  (UTF-8 and GB18030, leader/09 blank as UNIMARC has it) and MARC 21 records written here;
- a stand-in for Open Library's JSON API (``/isbn/{isbn}.json``, authors, works);
- a socket that accepts connections and never answers.

Missing Debian packages: skipped on a newcomer's machine, a failure in CI (tests.conftest.missing).
"""

from __future__ import annotations

import ctypes.util
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pymarc import Field, Record, Subfield

from tests.conftest import missing

# ------------------------------------------------------------------ the records

CAICAI = "9787533241780"      # stored in CNMARC hyphenated as printed: 978-7-5332-4178-0
CAOFANG = "9787505255555"     # stored as the old hyphenated ISBN-10: 7-5052-5555-X
GBK_BOOK = "9787530710555"    # in the GB18030 database: 7-5307-1055-9 → 978-7-5307-1055-5
GOODNIGHT = "9780064430173"   # MARC 21, bare 13 digits with a qualifier
OL_ONLY = "9780140328721"     # known only to the Open Library stand-in (Fantastic Mr Fox)
NOWHERE = "9780306406157"     # in no source


def _f(tag: str, ind: str, *subs: tuple[str, str]) -> Field:
    return Field(tag=tag, indicators=[ind[0], ind[1]], subfields=[Subfield(c, v) for c, v in subs])


def cnmarc_records() -> list[Record]:
    caicai = Record()
    caicai.add_field(Field(tag="001", data="CN0001"))
    caicai.add_field(_f("010", "  ", ("a", "978-7-5332-4178-0"), ("d", "CNY29.80")))
    caicai.add_field(_f("200", "1 ", ("a", "猜猜我有多爱你"), ("f", "(英)山姆·麦克布雷尼文"),
                        ("g", "(英)安妮塔·婕朗图 ; 梅子涵译")))
    caicai.add_field(_f("210", "  ", ("a", "济南"), ("c", "明天出版社"), ("d", "2013.5")))
    caicai.add_field(_f("215", "  ", ("a", "32页"), ("c", "彩图"), ("d", "26cm")))
    caicai.add_field(_f("330", "  ", ("a", "小兔子和大兔子比赛，看谁的爱更多。")))
    caicai.add_field(_f("690", "  ", ("a", "I561.85"), ("v", "5")))
    caicai.add_field(_f("701", " 0", ("a", "麦克布雷尼"), ("4", "著")))
    caicai.add_field(_f("702", " 0", ("a", "梅子涵"), ("4", "译")))
    caofang = Record()
    caofang.add_field(Field(tag="001", data="CN0002"))
    caofang.add_field(_f("010", "  ", ("a", "7-5052-5555-X"), ("d", "CNY12.00")))
    caofang.add_field(_f("200", "1 ", ("a", "草房子"), ("f", "曹文轩著")))
    caofang.add_field(_f("210", "  ", ("a", "南京"), ("c", "江苏少年儿童出版社"), ("d", "1997")))
    caofang.add_field(_f("215", "  ", ("a", "298页"), ("d", "20cm")))
    caofang.add_field(_f("330", "  ", ("a", "油麻地小学里桑桑的六年。")))
    caofang.add_field(_f("690", "  ", ("a", "I287.45"), ("v", "4")))
    caofang.add_field(_f("701", " 0", ("a", "曹文轩"), ("4", "著")))
    return [caicai, caofang]


def gbk_records() -> list[Record]:
    book = Record()
    book.add_field(Field(tag="001", data="GB0001"))
    book.add_field(_f("010", "  ", ("a", "7-5307-1055-9"), ("d", "CNY18.00")))
    book.add_field(_f("200", "1 ", ("a", "小猪唏哩呼噜"), ("f", "孙幼军著")))
    book.add_field(_f("210", "  ", ("a", "天津"), ("c", "新蕾出版社"), ("d", "2002")))
    book.add_field(_f("215", "  ", ("a", "156页")))
    book.add_field(_f("690", "  ", ("a", "I287.5")))
    book.add_field(_f("701", " 0", ("a", "孙幼军")))
    return [book]


def marc21_records() -> list[Record]:
    moon = Record()
    moon.leader = moon.leader[:6] + "am" + moon.leader[8:]
    moon.add_field(Field(tag="008", data="960101s1947    nyu           000 1 eng d"))
    moon.add_field(_f("020", "  ", ("a", "9780064430173 (pbk.)"), ("c", "$7.99")))
    moon.add_field(_f("100", "1 ", ("a", "Brown, Margaret Wise.")))
    moon.add_field(_f("245", "10", ("a", "Goodnight moon /"), ("c", "by Margaret Wise Brown ; pictures by Clement Hurd.")))
    moon.add_field(_f("264", " 1", ("a", "New York :"), ("b", "HarperCollins,"), ("c", "[1947]")))
    moon.add_field(_f("300", "  ", ("a", "32 pages :"), ("b", "color illustrations ;"), ("c", "26 cm")))
    moon.add_field(_f("520", "  ", ("a", "A little bunny says goodnight to everything in the great green room.")))
    moon.add_field(_f("700", "1 ", ("a", "Hurd, Clement,"), ("e", "illustrator.")))
    return [moon]


def iso2709(record: Record, encoding: str, leader09: str = " ") -> bytes:
    """ISO 2709 bytes in ``encoding`` (pymarc writes only UTF-8 or Latin-1)."""
    body = b""
    directory = b""
    for field in record.fields:
        data = field.as_marc(encoding=encoding)
        directory += f"{int(field.tag):03d}{len(data):04d}{len(body):05d}".encode("ascii")
        body += data
    directory += b"\x1e"
    body += b"\x1d"
    base = 24 + len(directory)
    leader = str(record.leader)
    leader = f"{base + len(body):05d}{leader[5:9]}{leader09}{leader[10:12]}{base:05d}{leader[17:]}"
    return leader.encode("ascii") + directory + body


# ------------------------------------------------------------------ Zebra

ABS_CNMARC = """name cnmarc
attset bib1.att
esetname F @
esetname B @
marc unimarc.mar
xpath disable
all any
melm 001    Local-number,Local-number:p
melm 010$a  ISBN:w
melm 200$a  title:w,title:p
melm 210$c  Publisher:w
melm 701$a  author:w
melm 702$a  author:w
"""

ABS_MARC21 = """name lmarc21
attset bib1.att
esetname F @
esetname B @
marc usmarc.mar
xpath disable
all any
melm 020$a  ISBN:w
melm 245$a  title:w,title:p
melm 100$a  author:w
"""


def _module_path() -> str:
    """Where Debian put Zebra's filter modules (the multiarch directory of this machine)."""
    found = sorted(str(p) for p in Path("/usr/lib").glob("*/idzebra-2.0/modules"))
    return ":".join(found + ["/usr/lib/idzebra-2.0/modules"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Zebra:
    """zebrasrv on a free port with databases ``cnmarc`` (UTF-8), ``cngbk`` (GB18030), ``marc21``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def _run(self, *args: str) -> None:
        subprocess.run(["zebraidx", "-c", "zebra.cfg", *args], cwd=self.root, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)

    def start(self) -> Zebra:
        r = self.root
        for d in ("reg", "shadow", "lock", "tmp", "cnmarc", "cngbk", "marc21"):
            (r / d).mkdir(parents=True, exist_ok=True)
        (r / "zebra.cfg").write_text(
            "profilePath: .:/usr/share/idzebra-2.0/tab\n"
            f"modulePath: {_module_path()}\n"
            "attset: bib1.att\nregister: ./reg:50M\nshadow: ./shadow:50M\nlockDir: ./lock\n"
            "keyTmpDir: ./tmp\n")
        (r / "cnmarc.abs").write_text(ABS_CNMARC)
        (r / "lmarc21.abs").write_text(ABS_MARC21)
        (r / "unimarc.mar").write_text("name unimarc\nreference UNIMARC\n")
        (r / "cnmarc" / "records.mrc").write_bytes(b"".join(iso2709(x, "utf-8") for x in cnmarc_records()))
        (r / "cngbk" / "records.mrc").write_bytes(b"".join(iso2709(x, "gb18030") for x in gbk_records()))
        (r / "marc21" / "records.mrc").write_bytes(
            b"".join(iso2709(x, "utf-8", leader09="a") for x in marc21_records()))
        self._run("-d", "cnmarc", "-t", "grs.marcxml.cnmarc", "update", "cnmarc")
        self._run("-d", "cngbk", "-t", "grs.marcxml.cnmarc", "update", "cngbk")
        self._run("-d", "marc21", "-t", "grs.marcxml.lmarc21", "update", "marc21")
        self._run("commit")
        for _ in range(5):
            self.port = _free_port()
            self.proc = subprocess.Popen(
                ["zebrasrv", "-c", "zebra.cfg", "-l", str(r / "zebrasrv.log"), f"tcp:127.0.0.1:{self.port}"],
                cwd=r, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(100):
                if self.proc.poll() is not None:
                    break
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                        return self
                except OSError:
                    time.sleep(0.05)
            self.stop()  # the port was taken in between: another one
        raise RuntimeError("zebrasrv did not start; see " + str(r / "zebrasrv.log"))

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
            self.proc = None

    def source(self, database: str, **extra: Any) -> dict[str, Any]:
        syntax = "marc21" if database == "marc21" else "unimarc"
        encoding = "gb18030" if database == "cngbk" else "utf-8"
        names = {"cnmarc": "测试联合目录", "cngbk": "测试GBK目录", "marc21": "测试MARC21目录"}
        return {"name": names[database], "type": "z3950", "host": "127.0.0.1", "port": self.port,
                "database": database, "syntax": syntax, "encoding": encoding, **extra}


def zebra_missing_reason() -> str:
    if not shutil.which("zebrasrv") or not shutil.which("zebraidx"):
        return "Zebra is not installed (apt-get install idzebra-2.0)"
    if not ctypes.util.find_library("yaz"):
        return "YAZ is not installed (apt-get install libyaz5)"
    return ""


def start_zebra(root: Path) -> Zebra:
    reason = zebra_missing_reason()
    if reason:
        missing(reason)
    return Zebra(root).start()


# ------------------------------------------------------------------ Open Library stand-in

OL_DOCS: dict[str, Any] = {
    f"/isbn/{GOODNIGHT}.json": {
        "title": "Goodnight Moon", "publishers": ["HarperFestival"], "publish_date": "January 1, 1991",
        "number_of_pages": 30, "isbn_13": [GOODNIGHT], "authors": [{"key": "/authors/OL2631291A"}],
        "works": [{"key": "/works/OL2191470W"}],
    },
    f"/isbn/{OL_ONLY}.json": {
        "title": "Fantastic Mr Fox", "publishers": ["Puffin"], "publish_date": "October 1, 1988",
        "number_of_pages": 96, "isbn_10": ["0140328726"], "isbn_13": [OL_ONLY],
        "works": [{"key": "/works/OL45804W"}],
    },
    "/authors/OL2631291A.json": {"name": "Margaret Wise Brown"},
    "/authors/OL34184A.json": {"name": "Roald Dahl"},
    "/works/OL2191470W.json": {"description": "In a great green room, tucked away in bed, is a little bunny."},
    "/works/OL45804W.json": {"authors": [{"author": {"key": "/authors/OL34184A"}}],
                             "description": {"type": "/type/text", "value": "Three farmers try to catch a fox."}},
}


class OpenLibraryStandIn:
    """A local HTTP server answering like openlibrary.org for the documents in ``OL_DOCS``."""

    def __init__(self, docs: dict[str, Any] | None = None, delay: float = 0.0) -> None:
        self.docs = OL_DOCS if docs is None else docs
        self.delay = delay
        self.requests: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                stand_in.requests.append(self.path)
                if stand_in.delay:
                    time.sleep(stand_in.delay)
                doc = stand_in.docs.get(self.path.split("?")[0])
                body = json.dumps(doc if doc is not None else {"error": "notfound"}).encode()
                self.send_response(200 if doc is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> OpenLibraryStandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def source(self, name: str = "Open Library（测试）") -> dict[str, Any]:
        return {"name": name, "type": "openlibrary", "url": self.url}


# ------------------------------------------------------------------ a server that never answers

class SilentServer:
    """Accepts every connection and never sends a byte (a Z39.50 or HTTP server that hangs)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.held: list[socket.socket] = []
        self.accepted = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            self.held.append(conn)

    def start(self) -> SilentServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        for conn in self.held:
            conn.close()
        self.sock.close()

    def z3950_source(self) -> dict[str, Any]:
        return {"name": "不回应的服务器", "type": "z3950", "host": "127.0.0.1", "port": self.port,
                "database": "silent", "syntax": "unimarc", "encoding": "utf-8"}

    def web_source(self) -> dict[str, Any]:
        return {"name": "不回应的网站", "type": "openlibrary", "url": f"http://127.0.0.1:{self.port}"}


def running(obj: Any) -> Iterator[Any]:
    try:
        yield obj
    finally:
        obj.stop()
