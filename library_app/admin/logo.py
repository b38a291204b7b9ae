"""The organisation's logo: checked by its content (not its name), stored in instance/.

An upload is accepted only if Pillow reads it as PNG, JPEG, WebP or GIF of sane dimensions; it
is then re-encoded as a PNG of at most 512 px, so what the app serves is always an image it
made itself (no SVG scripts, no metadata, no polyglot files).
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

from flask import current_app
from PIL import Image, UnidentifiedImageError

from library_app.domain.errors import RuleBroken

ALLOWED_FORMATS = {"PNG", "JPEG", "WEBP", "GIF"}
# Checked on the declared size (Image.open reads only the header), before anything is decoded.
# A logo needs 512 px; 4096 × 4096 leaves room for a photo of one and decodes in < 70 MB.
# (40 MP was allowed: a 64 KB WebP of 6000 × 6000 cost +0.6 GB.)
MAX_PIXELS = 4096 * 4096
MAX_SIDE = 512
# Pillow's own guard for every image this process opens: a warning beyond this, an error at
# twice it (its default, 89 MP, is far more than anything the app reads).
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class LogoRefused(RuleBroken):
    code = "logo_refused"
    message = "标志图片无法使用。"


def logo_path() -> Path:
    return Path(current_app.instance_path) / "uploads" / "logo.png"


def logo_version() -> int | None:
    """A number that changes when the logo does (for the URL); None when there is no logo."""
    try:
        return int(logo_path().stat().st_mtime)
    except OSError:
        return None


def checked_logo(data: bytes, max_bytes: int) -> bytes:
    """The PNG to store for an uploaded file's bytes, or LogoRefused with the reason."""
    if len(data) > max_bytes:
        raise LogoRefused(f"标志图片太大：最大 {max_bytes // 1024} KB。")
    if not data:
        raise LogoRefused("没有收到图片文件。")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                kind = probe.format
                width, height = probe.size
                if kind not in ALLOWED_FORMATS:
                    raise LogoRefused("只支持 PNG、JPEG、WebP 或 GIF 图片。")
                if width * height > MAX_PIXELS:
                    raise LogoRefused(f"图片尺寸太大（{width}×{height} 像素），请缩小到 "
                                      f"4096×4096 以内再上传（显示时只用 {MAX_SIDE} 像素）。")
                probe.verify()
            with Image.open(io.BytesIO(data)) as img:
                if img.size != (width, height):  # not the file that was checked
                    raise LogoRefused("这个文件不是可用的图片（按内容检查，不看文件名）。")
                img.seek(0)  # first frame of a GIF
                img.thumbnail((MAX_SIDE, MAX_SIDE))  # JPEG: decoded at a reduced scale (draft)
                rgba = img.convert("RGBA")
            out = io.BytesIO()
            rgba.save(out, format="PNG", optimize=True)
            return out.getvalue()
    except LogoRefused:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        # Pillow's own check on the declared size (Image.MAX_IMAGE_PIXELS), at Image.open
        raise LogoRefused("图片尺寸太大，请缩小到 4096×4096 像素以内再上传"
                          f"（显示时只用 {MAX_SIDE} 像素）。") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise LogoRefused("这个文件不是可用的图片（按内容检查，不看文件名）。") from exc


def save_logo(png: bytes) -> None:
    path = logo_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(png)
    os.replace(tmp, path)


def remove_logo() -> bool:
    try:
        logo_path().unlink()
    except FileNotFoundError:
        return False
    return True
