"""One card as a PNG a guardian can keep on a phone (Pillow).

Chinese text (organisation, 借阅证, the child's name, the point) is drawn with a CJK font: the one
set in ``CJK_FONT_PATH``, else one found on the machine (fontconfig, then known paths). A text the
font cannot draw is left off, never drawn as empty boxes; the code and the QR are always there.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .qr import qr_png

KNOWN_FONTS = [
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simhei.ttf",
]
# CR80 at 12 px/mm (≈ 300 dpi): 85.6 × 54 mm
WIDTH, HEIGHT = 1027, 648
NOT_A_GLYPH = "\U0010fffd"  # a private-use code point no font draws: its glyph is .notdef


def _fontconfig_cjk() -> str | None:
    if shutil.which("fc-match") is None:
        return None
    try:
        out = subprocess.run(["fc-match", "-f", "%{file}", ":lang=zh-cn"], capture_output=True,
                             text=True, timeout=5, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


@lru_cache(maxsize=8)
def find_cjk_font(configured: str = "") -> str | None:
    """A font file that draws Chinese, or None."""
    candidates = [configured] if configured else []
    found = _fontconfig_cjk()
    if found:
        candidates.append(found)
    candidates += KNOWN_FONTS
    for path in candidates:
        if path and Path(path).is_file() and can_draw(path, "借阅证"):
            return path
    return None


def _load(path: str | None, size: int) -> ImageFont.FreeTypeFont | None:
    if not path:
        return None
    try:
        return ImageFont.truetype(path, size)
    except OSError:
        return None


def _glyph(font: ImageFont.FreeTypeFont, char: str) -> bytes:
    mask = font.getmask(char)
    return bytes(mask) + repr(mask.size).encode()


def can_draw(path: str | None, text: str) -> bool:
    """True when every visible character of ``text`` has a real glyph in the font at ``path``."""
    font = _load(path, 24)
    if font is None:
        return False
    missing = _glyph(font, NOT_A_GLYPH)
    return all(_glyph(font, ch) != missing for ch in text if not ch.isspace())


def _latin(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size)


def card_png(*, code: str, qr_text: str, name: str, point: str, org_name: str,
             font_path: str | None, point_code: str = "") -> bytes:
    """The card: band with organisation and 借阅证, the name, the point, the QR and the code."""
    img = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(img)
    band = 120
    draw.rounded_rectangle((0, 0, WIDTH - 1, HEIGHT - 1), radius=36, outline="#0f766e", width=6)
    draw.rectangle((3, 3, WIDTH - 4, band), fill="#0f766e")

    def text(xy: tuple[int, int], value: str, size: int, fill: str, bold: bool = False) -> bool:
        if not value or not can_draw(font_path, value):
            return False  # left off rather than drawn as boxes
        font = _load(font_path, size)
        if font is None:
            return False
        draw.text(xy, value, font=font, fill=fill, stroke_width=1 if bold else 0, stroke_fill=fill)
        return True

    text((44, 30), org_name[:16], 48, "white", bold=True)
    text((WIDTH - 210, 30), "借阅证", 52, "white", bold=True)
    text((44, band + 70), name[:8], 96, "#1d2330", bold=True)
    if not text((44, band + 220), point[:14], 40, "#475467") and point_code:
        draw.text((44, band + 220), point_code, font=_latin(40), fill="#475467")

    qr = Image.open(io.BytesIO(qr_png(qr_text, box_size=10))).convert("RGB")
    side = 360
    qr = qr.resize((side, side), Image.Resampling.NEAREST)
    img.paste(qr, (WIDTH - side - 40, band + 40))
    code_font = _load(font_path, 44) or _latin(44)
    draw.text((44, HEIGHT - 110), code, font=code_font, fill="#1d2330")
    small = _load(font_path, 30) or _latin(30)
    box = draw.textbbox((0, 0), code, font=small)
    draw.text((WIDTH - 40 - side // 2 - (box[2] - box[0]) // 2, band + 40 + side + 6), code,
              font=small, fill="#1d2330")
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
