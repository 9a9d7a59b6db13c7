"""Logging for the command line: one format, phone numbers masked in every record."""

from __future__ import annotations

import logging

from store.phones import mask_phones_in_text


class PhoneMaskingFilter(logging.Filter):
    """Masks anything that looks like a phone number in the final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_phones_in_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(PhoneMaskingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if level != "DEBUG":
        # Routine chatter of libraries (schema checks, font subsetting) is not news.
        for name in ("alembic", "fontTools", "matplotlib", "PIL"):
            logging.getLogger(name).setLevel(logging.WARNING)
