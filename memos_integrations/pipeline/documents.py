"""Knowledge-base documents: bytes of a .txt / .md / .pdf / .docx / .html file -> plain text ->
chunks ready to embed (MemOS cloud ``add/knowledgebase-file``).

Parsing uses well-kept libraries: ``pypdf`` (PDF text layer), ``python-docx`` (paragraphs and
tables), ``beautifulsoup4`` (HTML text without scripts and styles). Markdown and plain text are
decoded as UTF-8 (BOM and GB18030 tolerated).

Example::

    >>> chunk_text("First paragraph.\\n\\nSecond paragraph.", max_chars=20)
    ['First paragraph.', 'Second paragraph.']
"""

from __future__ import annotations

import io
import re
from pathlib import PurePath

from memos_integrations.errors import InvalidRequestError

#: File types a knowledge base accepts (by extension) and the MIME types that mean the same.
SUPPORTED_EXTENSIONS = (".txt", ".md", ".markdown", ".pdf", ".docx", ".html", ".htm")
_MIME_EXTENSIONS = {
    "text/plain": ".txt", "text/markdown": ".md", "application/pdf": ".pdf", "text/html": ".html",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}
DEFAULT_CHUNK_CHARS = 800


def file_kind(filename: str, content_type: str | None = None) -> str:
    """The extension that decides how a file is parsed (``.txt`` ... ``.html``).

    Raises:
        InvalidRequestError: neither the name nor the MIME type is a supported document type.
    """
    suffix = PurePath(filename or "").suffix.lower()
    if suffix in SUPPORTED_EXTENSIONS:
        return ".html" if suffix == ".htm" else (".md" if suffix == ".markdown" else suffix)
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime in _MIME_EXTENSIONS:
        return _MIME_EXTENSIONS[mime]
    raise InvalidRequestError(
        f"file '{filename}': unsupported type; send one of {', '.join(SUPPORTED_EXTENSIONS)}")


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")


def parse_document(filename: str, data: bytes, content_type: str | None = None) -> str:
    """The text of a document.

    Raises:
        InvalidRequestError: an unsupported type, or a file its parser cannot read.
    """
    kind = file_kind(filename, content_type)
    try:
        if kind in (".txt", ".md"):
            return _decode(data)
        if kind == ".html":
            from bs4 import BeautifulSoup

            soup = BeautifulSoup(_decode(data), "html.parser")
            for tag in soup(["script", "style", "noscript"]):
                tag.decompose()
            return soup.get_text("\n")
        if kind == ".pdf":
            from pypdf import PdfReader

            reader = PdfReader(io.BytesIO(data))
            return "\n\n".join(page.extract_text() or "" for page in reader.pages)
        from docx import Document

        document = Document(io.BytesIO(data))
        parts = [p.text for p in document.paragraphs]
        for table in document.tables:
            for row in table.rows:
                parts.append(" | ".join(cell.text for cell in row.cells))
        return "\n\n".join(parts)
    except InvalidRequestError:
        raise
    except Exception as exc:
        raise InvalidRequestError(f"file '{filename}' could not be read as {kind}: {exc}") from exc


def chunk_text(text: str, max_chars: int = DEFAULT_CHUNK_CHARS) -> list[str]:
    """Paragraph-aware chunks of at most ``max_chars`` characters (long paragraphs are split at
    sentence ends, then hard-cut); blank chunks are dropped."""
    paragraphs = [re.sub(r"[ \t]+", " ", p).strip() for p in re.split(r"\n\s*\n", text.replace("\r", ""))]
    pieces: list[str] = []
    for paragraph in paragraphs:
        if not paragraph:
            continue
        if len(paragraph) <= max_chars:
            pieces.append(paragraph)
            continue
        sentences = re.split(r"(?<=[.!?。！？；;])\s*", paragraph)
        for sentence in sentences:
            while len(sentence) > max_chars:
                pieces.append(sentence[:max_chars])
                sentence = sentence[max_chars:]
            if sentence.strip():
                pieces.append(sentence.strip())
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + 1 + len(piece) <= max_chars and "\n" not in piece:
            joined = f"{chunks[-1]}\n{piece}"
            if len(joined) <= max_chars:
                chunks[-1] = joined
                continue
        chunks.append(piece)
    return chunks


__all__ = ["DEFAULT_CHUNK_CHARS", "SUPPORTED_EXTENSIONS", "chunk_text", "file_kind", "parse_document"]
