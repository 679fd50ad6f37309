"""Printed letters: a rendered message's letter layout as a PDF (WeasyPrint), and what else a letter carries.

The PDF is made from the stage's own HTML template (see `MessageRenderer.render(letter=True)`), so the letter and
the e-mail say the same thing. Nothing is fetched while rendering: the logo and the QR code come as data URIs,
and any other address in the HTML is refused, so a value from the ledger can never make the renderer go online.
"""

from __future__ import annotations

import base64
import logging
import mimetypes
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

PDF = "application/pdf"
LOGO_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}
LOGO_LIMIT = 512 * 1024

# WeasyPrint reports every CSS property it does not know as a warning; a letter is not the place for those.
logging.getLogger("weasyprint").setLevel(logging.ERROR)
logging.getLogger("fontTools").setLevel(logging.ERROR)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    media_type: str = PDF


class LetterError(Exception):
    """The letter could not be made (a broken template or logo): nothing was sent."""


def letter_pdf(html: str) -> bytes:
    """The letter as PDF bytes (A4)."""
    from weasyprint import HTML  # imported on first use: it loads Pango, which most commands never need
    from weasyprint.urls import URLFetcher

    offline = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    try:
        return bytes(HTML(string=html, url_fetcher=offline).write_pdf(font_config=_fonts()))
    except BaseException as exc:  # WeasyPrint raises what its parsers raise, and a BaseException for a refused URL
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise LetterError(f"the letter could not be rendered as PDF: {type(exc).__name__}: {exc}") from None


@lru_cache(maxsize=1)
def _fonts() -> Any:
    """The fonts WeasyPrint has found, kept for the process: finding them again costs about a tenth of a letter."""
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


@lru_cache(maxsize=64)
def logo_data_uri(path: str) -> str:
    """The sender's logo as a data URI (PNG, JPEG or SVG, at most 512 KiB)."""
    file = Path(path)
    media_type = LOGO_TYPES.get(file.suffix.lower()) or mimetypes.guess_type(file.name)[0]
    if media_type not in LOGO_TYPES.values():
        raise LetterError(f"company.logo: {path}: not a PNG, JPEG or SVG file")
    try:
        content = file.read_bytes()
    except OSError as exc:
        raise LetterError(f"company.logo: {path}: cannot read: {exc.strerror}") from exc
    if len(content) > LOGO_LIMIT:
        raise LetterError(f"company.logo: {path}: {len(content)} bytes, more than {LOGO_LIMIT}")
    return f"data:{media_type};base64,{base64.b64encode(content).decode()}"


def letter_filename(language: str, stage: str, reference: str) -> str:
    word = "brief" if language == "nl" else "letter"
    return f"{word}-{stage}-{reference}.pdf"
