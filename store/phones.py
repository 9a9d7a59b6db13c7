"""Citizen phone numbers: normalise, validate and mask.

Numbers are stored in E.164 (+8613812345678) so that one citizen's tickets are found
together however the export wrote them (138-1234-5678, +86 138..., 0731-8456 1234).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberType

from store.enums import PhoneKind

_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
_FIXED_TYPES = {PhoneNumberType.FIXED_LINE}
_NOISE = re.compile(r"[\s\-()（）.—－]")
# The library's own pattern of valid CN mobile numbers, for a fast path that skips the
# full parse of the commonest case (an 11-digit mobile): same answer, a tenth of the time.
def _cn_mobile_pattern() -> re.Pattern[str]:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    assert metadata is not None and metadata.mobile is not None
    pattern = metadata.mobile.national_number_pattern
    assert isinstance(pattern, str)
    return re.compile(pattern)


_CN_MOBILE = _cn_mobile_pattern()
_ELEVEN = re.compile(r"(?:\+?86)?(1\d{10})")


class PhoneError(ValueError):
    """The text is not a valid mainland mobile or fixed-line number."""


@dataclass(frozen=True, slots=True)
class Phone:
    e164: str
    kind: PhoneKind

    @property
    def masked(self) -> str:
        return mask_phone(self.e164)


@lru_cache(maxsize=65536)
def normalize_phone(raw: str, default_area_code: str = "") -> Phone:
    """Parse a mainland number as exports write it. Raises PhoneError with the reason.

    `default_area_code` (e.g. "0731") is put before a bare 7- or 8-digit local number.
    """
    text = _NOISE.sub("", raw.strip())
    if not text:
        raise PhoneError("empty phone number")
    eleven = _ELEVEN.fullmatch(text)
    if eleven and _CN_MOBILE.fullmatch(eleven.group(1)):
        return Phone(e164="+86" + eleven.group(1), kind=PhoneKind.MOBILE)
    if text.startswith("0086"):
        text = "+86" + text[4:]
    elif text.startswith("86") and len(text) == 13 and text[2] == "1":
        text = "+" + text
    if not text.lstrip("+").isdigit():
        raise PhoneError(f"not a phone number: {mask_phone(raw)}")
    if default_area_code and not text.startswith(("+", "0", "1")) and len(text) in (7, 8):
        text = default_area_code + text
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException as exc:
        raise PhoneError(f"unparseable phone number {mask_phone(raw)}: {exc}") from exc
    if number.country_code != 86:
        raise PhoneError(f"not a mainland China number: {mask_phone(raw)}")
    if not phonenumbers.is_valid_number(number):
        raise PhoneError(f"invalid mainland number {mask_phone(raw)}")
    kind_code = phonenumbers.number_type(number)
    if kind_code in _MOBILE_TYPES:
        kind = PhoneKind.MOBILE
    elif kind_code in _FIXED_TYPES:
        kind = PhoneKind.FIXED
    else:
        raise PhoneError(f"not a mobile or fixed-line number: {mask_phone(raw)}")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return Phone(e164=e164, kind=kind)


def _ascii_digits(value: str) -> str:
    """The digits of a text, full-width ones (１３８) as ASCII."""
    return "".join(str(int(ch)) for ch in value if ch.isdecimal())


def mask_phone(value: str) -> str:
    """138****5678 for a mobile; keep the area code and last four digits of a fixed line.
    Any spelling the importer reads (0086, +86, 86, brackets, dots, full-width digits)."""
    digits = _ascii_digits(value)
    if digits.startswith("0086"):
        digits = digits[2:]
    if digits.startswith("86") and len(digits) in (12, 13):
        digits = digits[2:]
        if not (len(digits) == 11 and digits.startswith("1")):
            digits = "0" + digits  # a fixed line: E.164 drops the trunk prefix
    if len(digits) == 11 and digits.startswith("1"):
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) >= 9 and digits.startswith("0"):
        area = 3 if digits[1] in "12" else 4
        return f"{digits[:area]}-****{digits[-4:]}"
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]


# Phone numbers in free text, spelled every way the importer reads them: digits with any
# run of the importer's own separators (`_NOISE`: any white space, no-break and thin spaces
# and line breaks too, dashes, dots, brackets, full-width ones) between any two, 0086 /
# +86 / 86 before them. The same class, so that a spelling the importer reads cannot slip
# past the mask. Used by the logging filter so that a number never reaches a log unmasked.
# A bare 7- or 8-digit local number (read with a default area code) is left alone: in free
# text it cannot be told from a date, a count or a port. The runs are possessive (`*+`):
# a separator is never a digit, so giving one back cannot help a match, and a long run of
# spaces costs one pass, not one per character of it. No run stands before the first
# character of a match either: there, every start inside a run would scan it again.
_SEP = rf"{_NOISE.pattern}*+"
_MOBILE = rf"[1１]{_SEP}[3-9３-９](?:{_SEP}\d){{9}}"
_FIXED = rf"[0０]{_SEP}[1-9１-９](?:{_SEP}\d){{8,10}}"  # area code with its 0, then the number
_E164_FIXED = rf"[1-9１-９](?:{_SEP}\d){{8,10}}"  # after 86 the trunk 0 is dropped
_COUNTRY = rf"(?:(?:[+＋]|[0０]{_SEP}[0０]){_SEP})?[8８]{_SEP}[6６]{_SEP}"
PHONE_IN_TEXT = re.compile(
    rf"(?<!\d)(?:{_COUNTRY}(?:{_MOBILE}|{_E164_FIXED})|[(（]?(?:{_MOBILE}|{_FIXED}))(?!\d)")


def mask_phones_in_text(text: str) -> str:
    return PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), text)
