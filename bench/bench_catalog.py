"""Catalog benchmark (run by hand): title search over 20,000 titles, and a 240-label sheet.

    .venv/bin/python bench/bench_catalog.py [--titles 20000] [--runs 30] [--write]

Builds a fresh SQLite database in a temporary folder (migrated like production), fills it with
generated Chinese titles (pinyin keys made by the app's own function) and two copies each, then:
- times ``services.catalog_search.search_titles`` (count + one page, as the title list does) for a mix
  of queries: Chinese words, author, ISBN, full pinyin, initials, two words, no match, browse;
- times the same through the app (GET /titles?q=… HTML page, GET /api/v1/titles?q=…);
- times GET /labels/sheet for 240 labels (3×8 → 10 A4 pages) with the QR cache cold and warm.
``--write`` replaces the "## Catalog" section of bench/RESULTS.md with the figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDS = ("小熊 月亮 妈妈 爸爸 朋友 森林 兔子 恐龙 星星 大海 故事 秘密 冒险 好饿 毛毛虫 爷爷 奶奶 "
         "办法 花园 小猪 狐狸 大象 长颈鹿 彩虹 雨伞 火车 飞机 城堡 公主 魔法 勇敢 快乐 晚安 猜猜 "
         "为什么 十万个 科学 宇宙 地球 动物 植物 身体 数学 汉字 成语 古诗 童话 寓言 历险记 日记 "
         "蚂蚁 蝴蝶 小鸟 鲸鱼 企鹅 熊猫 老虎 狮子 小猫 小狗 种子 春天 夏天 秋天 冬天 下雪 "
         "我 你 他 的 和 在 有 多 爱 是 一个 一定 不要 想要 去 看 找 家").split()
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = "小明华丽文军平志芳燕敏静秀英杰涛超勇艳娟霞刚桂兰玉萍红梅"
CATEGORIES = ("绘本", "桥梁书", "科普", "文学", "历史", "艺术", "漫画")
AGES = ("0-3", "3-6", "6-9", "9-12", "12+")


def make_isbn(rng: random.Random) -> str:
    from stdnum import ean

    body = "9787" + "".join(rng.choice("0123456789") for _ in range(8))
    return body + ean.calc_check_digit(body)


def build_database(path: Path, n_titles: int, seed: int = 7) -> dict[str, str]:
    """Migrate an empty SQLite file and fill it; returns a few known values to search for."""
    from library_app.db import upgrade
    from library_app.domain.codes import make_code
    from library_app.domain.text import pinyin_keys

    url = "sqlite:///" + str(path)
    upgrade(url)
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO points (code, name, address, active) VALUES ('P01', '三灶镇故事会点', '', 1)")
    conn.execute("INSERT INTO points (code, name, address, active) VALUES ('P02', '红旗镇故事会点', '', 1)")
    conn.execute("INSERT INTO users (username, display_name, password_hash, role, active, created_at) "
                 "VALUES ('bench', 'bench', 'x', 'librarian', 1, ?)", (now,))
    known: dict[str, str] = {}
    titles = []
    seen_isbn: set[str] = set()
    for i in range(1, n_titles + 1):
        title = "".join(rng.sample(WORDS, rng.randint(2, 4)))
        if i == n_titles // 2:
            title = "猜猜我有多爱你"
        author = rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, rng.randint(1, 2)))
        isbn = make_isbn(rng) if rng.random() < 0.7 else None
        while isbn in seen_isbn:
            isbn = make_isbn(rng)
        if isbn:
            seen_isbn.add(isbn)
        full, initials = pinyin_keys(title)
        titles.append((i, isbn, title, author, "", None, rng.choice(CATEGORIES), rng.choice(AGES), "",
                       full, initials, now, now))
        if i == n_titles // 3:
            known["author"] = author
            known["isbn"] = isbn or make_isbn(rng)
    conn.executemany(
        "INSERT INTO titles (id, isbn, title, author, publisher, year, category, age_band, notes, "
        "search_pinyin, search_initials, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        titles)
    copies = []
    n = 0
    for t in titles:
        for _ in range(2):
            n += 1
            copies.append((make_code("copy", n), t[0], 1, 1, "available", "purchase", "", now))
    conn.executemany(
        "INSERT INTO copies (code, title_id, home_point_id, current_point_id, status, source, notes, "
        "created_at) VALUES (?,?,?,?,?,?,?,?)", copies)
    conn.commit()
    conn.close()
    known["last_copy"] = make_code("copy", n)
    known["first_label"] = make_code("copy", n - 239)
    return known


def timed(fn, runs: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    fn()  # warm-up (statement cache, pages in the OS cache)
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {"mean": statistics.fmean(samples), "p50": samples[len(samples) // 2],
            "p95": samples[min(len(samples) - 1, int(len(samples) * 0.95))], "max": samples[-1]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--titles", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-catalog-"))
    db_path = tmp / "bench.sqlite3"
    t0 = time.perf_counter()
    known = build_database(db_path, args.titles)
    build_s = time.perf_counter() - t0
    print(f"built {args.titles} titles, {2 * args.titles} copies in {build_s:.1f} s ({db_path})")

    os.environ["LIBRARY_INSTANCE_PATH"] = str(tmp / "instance")
    from library_app import create_app
    from library_app.db import session_factory
    from library_app.services import catalog_search, labels

    app = create_app({"DATABASE_URL": "sqlite:///" + str(db_path), "SECRET_KEY": "bench",
                      "RATELIMIT_ENABLED": False, "PUBLIC_BASE_URL": "http://192.168.1.20:5000"})
    queries = [
        ("Chinese words 毛毛虫", "毛毛虫"),
        ("exact title 猜猜我有多爱你", "猜猜我有多爱你"),
        ("author", known["author"]),
        ("ISBN-13 with hyphens", known["isbn"][:3] + "-" + known["isbn"][3:]),
        ("full pinyin caicai", "caicai"),
        ("initials ccwydan", "ccwydan"),
        ("short initials xx", "xx"),
        ("two words 小熊 月亮", "小熊 月亮"),
        ("no match", "没有这本书zzz"),
        ("browse (no query)", ""),
    ]
    results: list[tuple[str, int, dict[str, float]]] = []
    with app.app_context():
        db = session_factory(False)()
        for label, q in queries:
            page = catalog_search.search_titles(db, q)
            stats = timed(lambda q=q: catalog_search.search_titles(db, q), args.runs)
            results.append((label, page.total, stats))
            print(f"search {label:32s} hits={page.total:6d}  mean {stats['mean']:6.1f} ms  "
                  f"p50 {stats['p50']:6.1f}  p95 {stats['p95']:6.1f}")
        db.close()

    client = app.test_client()
    with app.app_context(), session_factory()() as db:
        from sqlalchemy import select

        from library_app.models import User
        user_id = db.scalar(select(User.id).where(User.username == "bench"))
    from tests.builders import sign_in_client

    sign_in_client(app, client, user_id)

    def get(url: str) -> None:
        r = client.get(url)
        assert r.status_code == 200, (url, r.status_code)

    http = [
        ("GET /titles?q=ccwydan (HTML)", "/titles?q=ccwydan"),
        ("GET /titles?q=小熊 (HTML)", "/titles?q=%E5%B0%8F%E7%86%8A"),
        ("GET /api/v1/titles?q=maomaochong", "/api/v1/titles?q=maomaochong"),
        ("GET /titles (browse, HTML)", "/titles"),
    ]
    http_results = []
    for label, url in http:
        stats = timed(lambda url=url: get(url), args.runs)
        http_results.append((label, stats))
        print(f"http   {label:32s} mean {stats['mean']:6.1f} ms  p50 {stats['p50']:6.1f}  p95 {stats['p95']:6.1f}")

    sheet_url = (f"/labels/sheet?mode=range&code_from={known['first_label']}"
                 f"&code_to={known['last_copy']}&layout=3x8")
    r = client.get(sheet_url)
    html = r.get_data(as_text=True)
    n_labels = len(re.findall(r'class="label" data-code=', html))
    assert n_labels == 240, n_labels
    cold = []
    for _ in range(5):
        labels.qr_path.cache_clear()
        t = time.perf_counter()
        get(sheet_url)
        cold.append((time.perf_counter() - t) * 1000)
    warm = timed(lambda: get(sheet_url), 10)
    cold.sort()
    pages = html.count('class="sheet ')
    print(f"labels 240-label sheet, QR cache cold: best {cold[0]:.0f} ms, median {cold[2]:.0f} ms; "
          f"warm: mean {warm['mean']:.0f} ms ({len(html) // 1024} KiB of HTML, "
          f"{pages} A4 pages)")

    if args.write:
        write_results(args, build_s, results, http_results, cold, warm, len(html))


def write_results(args, build_s, results, http_results, cold, warm, html_bytes) -> None:  # type: ignore[no-untyped-def]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "## Catalog",
        "",
        f"`bench/bench_catalog.py --titles {args.titles} --runs {args.runs}` on "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M')} UTC, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}; load average {load:.1f} on 2 cores (other engineers' "
        "tests running: figures are noisy, an idle machine does better).",
        "",
        f"Database: {args.titles:,} generated Chinese titles (70 % with ISBN), {2 * args.titles:,} copies; "
        f"built in {build_s:.1f} s.",
        "",
        "Title search (`services.catalog_search.search_titles`: count + first page of 20, as the title list "
        "runs it). Target: under 50 ms per query.",
        "",
        "| query | hits | mean ms | p50 ms | p95 ms |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, hits, s in results:
        lines.append(f"| {label} | {hits} | {s['mean']:.1f} | {s['p50']:.1f} | {s['p95']:.1f} |")
    lines += ["", "Through the app (test client, session login, whole request):", "",
              "| request | mean ms | p50 ms | p95 ms |", "| --- | ---: | ---: | ---: |"]
    for label, s in http_results:
        lines.append(f"| {label} | {s['mean']:.1f} | {s['p50']:.1f} | {s['p95']:.1f} |")
    lines += [
        "",
        "240-label sheet (GET /labels/sheet, 3×8 on A4 = 10 pages, QR as inline SVG, URL content). "
        "Target: under 1 s.",
        "",
        f"- QR cache cold (first print of these copies): best {cold[0]:.0f} ms, median {cold[2]:.0f} ms",
        f"- QR cache warm (the same sheet again): mean {warm['mean']:.0f} ms, p95 {warm['p95']:.0f} ms",
        f"- {html_bytes // 1024} KiB of HTML",
        "",
    ]
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    section = "\n".join(lines)
    pattern = re.compile(r"^## Catalog\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
