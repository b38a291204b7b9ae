"""Memory and time of the upload bombs of issue 13 item 3, each read in a fresh subprocess.

    python bench/bench_bombs.py [--limit-mb 3000]

For each case: the file's size, the answer (rows read, or the refusal), seconds, and the peak
resident memory of the subprocess above its baseline (ru_maxrss after importing the app's
modules, before reading). ``--limit-mb`` caps each subprocess's address space (RLIMIT_AS) so
that a case that would exhaust the machine fails with MemoryError instead.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CASES = ["xlsx_xfd8000", "xlsx_xfd1048576", "logo_webp_6000", "logo_png_6000"]

CHILD = r'''
import io, json, resource, sys, time, warnings
warnings.simplefilter("ignore")
case = sys.argv[1]
from pathlib import Path
from library_app.services import catalog_import, import_files
from library_app.admin import logo
data = Path(sys.argv[2]).read_bytes()
import gc; gc.collect()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.monotonic()
try:
    if case.startswith("xlsx"):
        table = import_files.read_table(data, "xlsx")
        answer = f"read {len(table)} rows x {max(len(r) for r in table)} columns"
    else:
        from flask import Flask
        with Flask("x").app_context():
            png = logo.checked_logo(data, 2 * 2**20)
        answer = f"accepted ({len(png)} bytes of PNG)"
except MemoryError:
    answer = "MemoryError"
except Exception as exc:
    answer = f"refused: {type(exc).__name__}: {getattr(exc, 'message', exc)}"
seconds = time.monotonic() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"case": case, "bytes": len(data), "answer": answer, "seconds": round(seconds, 2),
                  "extra_mb": round((peak - base) / 1024, 1)}, ensure_ascii=False))
'''


def build(case: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from PIL import Image

    out = io.BytesIO()
    if case.startswith("xlsx"):
        wb = Workbook()
        ws = wb.active
        ws.append(["书名", "作者"])
        ws.append(["猜猜我有多爱你", "山姆"])
        ws["XFD8000" if case.endswith("8000") else "XFD1048576"].font = Font(bold=True)
        wb.save(out)
    else:
        webp = "webp" in case
        Image.new("L" if webp else "1", (6000, 6000), 255).save(out, format="WEBP" if webp else "PNG")
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit-mb", type=int, default=3000)
    parser.add_argument("--app", default=str(Path(__file__).resolve().parent.parent),
                        help="checkout whose library_app to measure (default: this one)")
    args = parser.parse_args()
    for case in CASES:
        limit = args.limit_mb * 2**20
        pre = f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))\n"
        with tempfile.NamedTemporaryFile(suffix=".bin") as tmp:
            tmp.write(build(case))
            tmp.flush()
            out = subprocess.run([sys.executable, "-c", pre + CHILD, case, tmp.name], cwd=args.app,
                                 capture_output=True, text=True, timeout=600)
        line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else json.dumps(
            {"case": case, "answer": "crashed: " + out.stderr.strip().splitlines()[-1][:200]})
        row = json.loads(line)
        print(f"{row['case']:<18} {row.get('bytes', '-'):>8} B  {row.get('seconds', '-'):>6} s  "
              f"+{row.get('extra_mb', '-'):>7} MB  {row['answer']}")


if __name__ == "__main__":
    main()
