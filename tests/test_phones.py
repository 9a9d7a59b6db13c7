from __future__ import annotations

import logging
import re

import pytest

from huifang.logs import PhoneMaskingFilter
from store.enums import PhoneKind
from store.phones import PhoneError, mask_phone, mask_phones_in_text, normalize_phone

# Every spelling the importer reads, with what it reads: the masking in logs is tested
# against this same list (tests/test_logs.py), so a spelling added here is masked there.
ACCEPTED = [
    ("13812345678", "+8613812345678", PhoneKind.MOBILE),
    ("138 1234 5678", "+8613812345678", PhoneKind.MOBILE),
    ("138-1234-5678", "+8613812345678", PhoneKind.MOBILE),
    ("138.1234.5678", "+8613812345678", PhoneKind.MOBILE),
    ("138 - 1234 - 5678", "+8613812345678", PhoneKind.MOBILE),
    ("+86 138 1234 5678", "+8613812345678", PhoneKind.MOBILE),
    ("+86(138)12345678", "+8613812345678", PhoneKind.MOBILE),
    ("8613812345678", "+8613812345678", PhoneKind.MOBILE),
    ("008613812345678", "+8613812345678", PhoneKind.MOBILE),
    ("008614500019995", "+8614500019995", PhoneKind.MOBILE),
    ("１３８１２３４５６７８", "+8613812345678", PhoneKind.MOBILE),
    # what spreadsheets and hand-typed cells hold: no-break and thin spaces, a line break
    # inside the cell, runs of separators, the country code spaced out
    ("138\u00a01234\u00a05678", "+8613812345678", PhoneKind.MOBILE),
    ("138\u20091234\u20095678", "+8613812345678", PhoneKind.MOBILE),
    ("138\r\n1234 5678", "+8613812345678", PhoneKind.MOBILE),
    ("138    1234    5678", "+8613812345678", PhoneKind.MOBILE),
    ("138 -- 1234 -- 5678", "+8613812345678", PhoneKind.MOBILE),
    ("0 0 8 6 138 1234 5678", "+8613812345678", PhoneKind.MOBILE),
    ("8 6 138 1234 5678", "+8613812345678", PhoneKind.MOBILE),
    ("14500001234", "+8614500001234", PhoneKind.MOBILE),
    ("0731-84561234", "+8673184561234", PhoneKind.FIXED),
    ("(0731)84561234", "+8673184561234", PhoneKind.FIXED),
    ("（0731）8456 1234", "+8673184561234", PhoneKind.FIXED),
    ("0731—84561234", "+8673184561234", PhoneKind.FIXED),
    ("(0731)  -  8456\u00a01234", "+8673184561234", PhoneKind.FIXED),
    ("+86 731 8456 1234", "+8673184561234", PhoneKind.FIXED),
    ("010-12345678", "+861012345678", PhoneKind.FIXED),
    ("(010)1234-5678", "+861012345678", PhoneKind.FIXED),
    ("0086-10-12345678", "+861012345678", PhoneKind.FIXED),
    ("02012345678", "+862012345678", PhoneKind.FIXED),
]


@pytest.mark.parametrize(("raw", "e164", "kind"), ACCEPTED)
def test_normalize(raw: str, e164: str, kind: PhoneKind) -> None:
    phone = normalize_phone(raw)
    assert (phone.e164, phone.kind) == (e164, kind)


@pytest.mark.parametrize("raw", ["", "12345", "95588", "1381234567", "138123456789",
                                 "14800000000", "abc", "+1 212 555 0100", "0731-888"])
def test_invalid(raw: str) -> None:
    with pytest.raises(PhoneError):
        normalize_phone(raw)


def test_local_number_takes_default_area_code() -> None:
    assert normalize_phone("84561234", "0731").e164 == "+8673184561234"
    with pytest.raises(PhoneError):
        normalize_phone("84561234")


def test_errors_never_carry_the_full_number() -> None:
    with pytest.raises(PhoneError) as info:
        normalize_phone("+1 212 555 0100")
    assert "2125550100" not in str(info.value).replace(" ", "")


@pytest.mark.parametrize(("value", "masked"), [
    ("13812345678", "138****5678"), ("+8613812345678", "138****5678"),
    ("008614500019995", "145****9995"), ("１３８１２３４５６７８", "138****5678"),
    ("+8673184561234", "0731-****1234"), ("+861012345678", "010-****5678"), ("12", "**"),
])
def test_mask(value: str, masked: str) -> None:
    assert mask_phone(value) == masked


def test_mask_in_text_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    text = "呼叫 13812345678 和 0731-84561234 失败, 工单 GD20261103000001"
    assert mask_phones_in_text(text) == \
        "呼叫 138****5678 和 0731-****1234 失败, 工单 GD20261103000001"
    logger = logging.getLogger("test.mask")
    record = logger.makeRecord("x", logging.INFO, __file__, 1, "dial %s", ("13812345678",),
                               None)
    PhoneMaskingFilter().filter(record)
    assert record.getMessage() == "dial 138****5678"


def revealed(text: str, e164: str) -> list[str]:
    """The runs of four digits of the number that `text` shows and its mask does not."""
    national = "0" + e164[3:] if not e164.startswith("+861") or len(e164) != 14 else e164[3:]
    shown = re.sub(r"[^\d*]", "", mask_phone(e164))
    flat = re.sub(r"[^\d*]", "", text)
    windows = {national[i:i + 4] for i in range(len(national) - 3)}
    return sorted(w for w in windows if w in flat and w not in shown)


@pytest.mark.parametrize(("raw", "e164", "kind"), ACCEPTED)
def test_every_accepted_spelling_is_masked_in_text(raw: str, e164: str, kind: PhoneKind) -> None:
    for text in (raw, f"呼叫{raw}失败", f"dial {raw}, then {raw}.", f"tel:{raw};x"):
        masked = mask_phones_in_text(text)
        assert revealed(masked, e164) == [], masked
        assert mask_phone(e164) in masked


@pytest.mark.parametrize("text", [
    "2026-12-02 01:23:45", "127.0.0.1:5060", "rtp ports 20000-20999", "工单 GD20261103000001",
    "duration 12.345678 s", "0.30000000000000004",
    "dropped 15 more SIP datagrams in 60 s: 3 damaged, 12 foreign_source",
    "ports 20000 - 20998 - 21000", "keys 1 2 3 4 5 6 7 8 9 10 11"])
def test_what_is_not_a_number_stays(text: str) -> None:
    assert mask_phones_in_text(text) == text


def test_long_runs_of_separators_cost_one_pass() -> None:
    """Any run of separators may stand inside a number, so a run that backtracked would be
    scanned again from each of its characters: 100,000 spaces before a digit took about
    two minutes that way; one pass takes milliseconds."""
    import time

    for text in (" " * 100_000 + "1", "8" + " " * 100_000 + "6", ("0" + " " * 1000) * 100):
        started = time.perf_counter()
        assert mask_phones_in_text(text) == text
        assert time.perf_counter() - started < 5.0
