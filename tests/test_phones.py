from __future__ import annotations

import logging

import pytest

from console.logs import PhoneMaskingFilter
from store.enums import PhoneKind
from store.phones import PhoneError, mask_phone, mask_phones_in_text, normalize_phone


@pytest.mark.parametrize(("raw", "e164", "kind"), [
    ("13812345678", "+8613812345678", PhoneKind.MOBILE),
    ("138 1234 5678", "+8613812345678", PhoneKind.MOBILE),
    ("138-1234-5678", "+8613812345678", PhoneKind.MOBILE),
    ("+86 138 1234 5678", "+8613812345678", PhoneKind.MOBILE),
    ("8613812345678", "+8613812345678", PhoneKind.MOBILE),
    ("008613812345678", "+8613812345678", PhoneKind.MOBILE),
    ("14500001234", "+8614500001234", PhoneKind.MOBILE),
    ("0731-84561234", "+8673184561234", PhoneKind.FIXED),
    ("(0731)84561234", "+8673184561234", PhoneKind.FIXED),
    ("（0731）8456 1234", "+8673184561234", PhoneKind.FIXED),
    ("010-12345678", "+861012345678", PhoneKind.FIXED),
    ("02012345678", "+862012345678", PhoneKind.FIXED),
])
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
