"""The command line's logging: phone numbers masked in messages, tracebacks and Twisted's
own log. setup_logging changes process-wide state (the root logger, Twisted's global log
beginner), so the tests that call it run in a fresh interpreter."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from io import StringIO

from huifang.logs import PhoneMaskingFilter

MOBILE, MASKED = "13812345678", "138****5678"


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60, check=False)


def masking_handler(stream: StringIO) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.addFilter(PhoneMaskingFilter())
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    return handler


def test_traceback_of_a_logged_exception_is_masked() -> None:
    stream = StringIO()
    logger = logging.getLogger("test.logs.exc")
    logger.propagate = False
    logger.addHandler(masking_handler(stream))
    try:
        try:
            raise RuntimeError("号码 " + MOBILE + " 拒接")
        except RuntimeError:
            logger.exception("呼叫失败")
        logger.warning("栈", stack_info=True, extra={"phone": MOBILE})
    finally:
        logger.handlers.clear()
    text = stream.getvalue()
    assert "Traceback (most recent call last)" in text
    assert f"RuntimeError: 号码 {MASKED} 拒接" in text
    assert MOBILE not in text


def test_exc_text_cached_before_the_filter_is_masked() -> None:
    record = logging.getLogger("test.logs.cached").makeRecord(
        "x", logging.ERROR, __file__, 1, "失败", (), None)
    record.exc_text = f"Traceback (most recent call last):\nValueError: {MOBILE}"
    PhoneMaskingFilter().filter(record)
    assert record.exc_text.endswith(f"ValueError: {MASKED}")


def test_filter_on_the_handler_masks_records_of_every_logger() -> None:
    stream = StringIO()
    parent = logging.getLogger("test.logs.parent")
    parent.propagate = False
    parent.addHandler(masking_handler(stream))
    try:
        logging.getLogger("test.logs.parent.child").warning("dial %s", MOBILE)
    finally:
        parent.handlers.clear()
    assert stream.getvalue() == f"test.logs.parent.child: dial {MASKED}\n"


UNHANDLED_DEFERRED = """
    import gc
    from twisted.internet import defer
    from huifang.logs import setup_logging

    for _ in range({times}):
        setup_logging("INFO")

    def dial() -> None:
        raise ValueError("呼叫 13812345678 失败")

    d = defer.maybeDeferred(dial)
    del d
    gc.collect()
"""


def test_unhandled_error_in_deferred_reaches_the_log_masked() -> None:
    result = run_python(UNHANDLED_DEFERRED.format(times=1))
    assert result.returncode == 0, result.stderr
    log = result.stderr
    assert "CRITICAL twisted: Unhandled error in Deferred" in log
    assert "Traceback (most recent call last)" in log
    assert f"ValueError: 呼叫 {MASKED} 失败" in log
    assert MOBILE not in log + result.stdout


def test_setting_up_twice_logs_each_event_once() -> None:
    result = run_python(UNHANDLED_DEFERRED.format(times=2))
    assert result.returncode == 0, result.stderr
    log = result.stderr
    assert log.count("Unhandled error in Deferred") == 1
    assert log.count(f"ValueError: 呼叫 {MASKED} 失败") == 1
    assert "selected twice" not in log  # Twisted's warning when logging begins again
    assert MOBILE not in log


def test_legacy_twisted_log_and_levels() -> None:
    result = run_python("""
        from twisted.python import log
        from huifang.logs import setup_logging

        setup_logging("INFO")
        log.msg("routine chatter 13812345678")
        try:
            1 / 0
        except ZeroDivisionError:
            log.err(None, "坐席 13812345678 出错")
    """)
    assert result.returncode == 0, result.stderr
    log = result.stderr
    assert "routine chatter" not in log  # Twisted's info lines wait for DEBUG
    assert f"CRITICAL twisted: 坐席 {MASKED} 出错" in log
    assert "ZeroDivisionError" in log
    assert MOBILE not in log


def test_every_spelling_the_importer_reads_is_masked_in_the_log() -> None:
    """For each spelling the importer's own tests accept, nothing of the number that its
    mask hides reaches the log: not in the message, its arguments, an `extra` field a
    format prints, nor a traceback."""
    from tests.test_phones import ACCEPTED, revealed

    stream = StringIO()
    handler = masking_handler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(who)s: %(message)s"))
    logger = logging.getLogger("test.logs.spellings")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for raw, e164, _ in ACCEPTED:
            start = stream.tell()
            logger.warning("呼叫 %s 失败", raw, extra={"who": raw})
            logger.warning(f"号码{raw}。", extra={"who": "-"})
            try:
                raise ValueError(f"bad number {raw}")
            except ValueError:
                logger.exception("import", extra={"who": "-"})
            written = stream.getvalue()[start:]
            assert revealed(written, e164) == [], written
    finally:
        logger.handlers.clear()
