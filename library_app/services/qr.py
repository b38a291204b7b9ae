"""QR images for labels and cards (qrcode + Pillow), as PNG or SVG bytes."""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_M


def _qr(content: str) -> qrcode.QRCode:
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=10, border=2)
    qr.add_data(content)
    qr.make(fit=True)
    return qr


def qr_matrix(content: str) -> list[list[bool]]:
    """The QR symbol's modules (True = dark), quiet zone included, as the images draw them."""
    return [[bool(v) for v in row] for row in _qr(content).get_matrix()]


def qr_png(content: str, box_size: int = 10) -> bytes:
    qr = _qr(content)
    qr.box_size = box_size
    buf = io.BytesIO()
    qr.make_image(fill_color="black", back_color="white").save(buf, format="PNG")
    return buf.getvalue()


def qr_svg(content: str) -> bytes:
    """A scalable path-based SVG (prints crisp at any millimetre size)."""
    img = _qr(content).make_image(image_factory=qrcode.image.svg.SvgPathImage)
    buf = io.BytesIO()
    img.save(buf)
    return buf.getvalue()
