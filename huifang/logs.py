"""Logging for the command line: one format, phone numbers masked in every record.

Twisted's own log (an unhandled error in a Deferred, `log.failure`, the legacy
`twisted.python.log`) is bridged to the stdlib logger "twisted", so its records pass the
same handler, and so the same masking, as everything else.
"""

from __future__ import annotations

import logging

from twisted.logger import ILogObserver, STDLibLogObserver, globalLogBeginner

from store.phones import mask_phones_in_text

# Formats a traceback exactly as the handler's formatter would (it uses the default
# formatException), so the filter can mask the text before the handler caches it.
_TRACEBACK_FORMATTER = logging.Formatter()

# What every LogRecord has; anything else on a record came from `extra=`.
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

# The observer that carries Twisted's events to stdlib logging, once per process.
_twisted_bridge: STDLibLogObserver | None = None


class PhoneMaskingFilter(logging.Filter):
    """Masks anything that looks like a phone number, however it is spelled (see
    `store.phones.PHONE_IN_TEXT`), in the message, the `extra` fields, the traceback and
    the stack of a record.

    Put it on a handler, not on a logger: a logger's filters see only the records logged
    on that very logger, a handler's see the records of every logger that reaches it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_phones_in_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        for name, value in vars(record).items():  # extra={...} fields a format may print
            if name not in _RECORD_FIELDS and isinstance(value, str):
                setattr(record, name, mask_phones_in_text(value))
        if record.exc_info and not record.exc_text:
            # Formatters print the cached exc_text when there is one, so the traceback
            # (whose last line repeats the exception's message) is masked once, here.
            record.exc_text = _TRACEBACK_FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_phones_in_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_phones_in_text(record.stack_info)
        return True


def setup_logging(level: str) -> None:
    """Configure the root logger and bridge Twisted's log to it. Safe to call again: the
    handler is replaced, not added, and Twisted is bridged only the first time."""
    handler = logging.StreamHandler()
    handler.addFilter(PhoneMaskingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Routine chatter of libraries (schema checks, font subsetting, ports opening and
    # closing, web access lines) is not news; their warnings and errors are.
    chatter = logging.NOTSET if level == "DEBUG" else logging.WARNING
    for name in ("alembic", "fontTools", "matplotlib", "PIL", "twisted"):
        logging.getLogger(name).setLevel(chatter)
    _bridge_twisted_log()


def _bridge_twisted_log() -> None:
    """Send Twisted's log events to the stdlib logger "twisted".

    Until logging begins, Twisted buffers its events and writes the critical ones (an
    unhandled error in a Deferred, with its traceback) straight to stderr, past every
    filter. `beginLoggingTo` ends that and replays the buffer to the bridge. It is meant
    to run once per process (a second call adds the observers again and warns), hence the
    module-level guard. Standard output and error are left alone: the handler writes to
    stderr, and redirecting it into the log would loop.
    """
    global _twisted_bridge  # noqa: PLW0603 - one bridge per process, like Twisted's beginner
    if _twisted_bridge is not None:
        return
    _twisted_bridge = STDLibLogObserver(name="twisted")
    # ILogObserver(...) checks at run time what zope's @implementer says and mypy cannot see.
    observer = ILogObserver(_twisted_bridge)
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
