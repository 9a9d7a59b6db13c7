from __future__ import annotations

import pytest

from prompts.catalog import REQUIRED, PromptError, load_catalog

TICKET = {"hotline": "12345政务服务便民热线", "city": "示例市", "date": "十一月三日",
          "summary": "小区加装电梯", "unit": "东湖区", "count": "两", "ordinal": "一"}


def test_default_catalog_is_complete_and_checks_clean() -> None:
    catalog = load_catalog()
    assert set(catalog.prompts) >= REQUIRED
    assert catalog.check(20, TICKET) == []


def test_greeting_names_the_date_and_subject() -> None:
    text = load_catalog()["greeting"].text(TICKET)
    assert text.startswith("您好，这里是示例市幺二三四五政务服务便民热线。")
    assert "您在十一月三日反映的关于小区加装电梯的问题" in text


def test_multi_ticket_variant() -> None:
    catalog = load_catalog()
    assert "您有两件诉求已经办结" in catalog["greeting_multi"].text(TICKET)
    assert catalog["ticket_intro"].text({**TICKET, "ordinal": "二"}).startswith("第二件")


def test_fixed_and_per_ticket_prompts() -> None:
    catalog = load_catalog()
    assert catalog["ask_satisfied"].fixed and catalog["thanks"].fixed
    assert not catalog["greeting"].fixed and not catalog["ticket_intro"].fixed
    assert "满意请按一，基本满意请按二" in catalog["ask_satisfied"].text({})  # menus: 按一


def test_operator_override_and_its_problems() -> None:
    catalog = load_catalog({"thanks": "谢谢{name}，再见。", "ask_resolved": "{summary}" * 40})
    problems = {p.prompt: p.message for p in catalog.check(20, TICKET)}
    assert problems["thanks"] == "unknown field {name}"
    assert "over the 20 s limit" in problems["ask_resolved"]


def test_missing_field_names_the_prompt() -> None:
    with pytest.raises(PromptError, match=r"prompt greeting: field \{date\} is missing"):
        load_catalog()["greeting"].text({k: v for k, v in TICKET.items() if k != "date"})


def test_text_that_says_nothing_names_the_prompt() -> None:
    catalog = load_catalog({"thanks": "{summary}"})
    with pytest.raises(PromptError, match="prompt thanks: nothing to say"):
        catalog["thanks"].text({**TICKET, "summary": "（）"})


def test_missing_prompt_is_reported() -> None:
    catalog = load_catalog()
    del catalog.prompts["thanks"]
    assert [str(p) for p in catalog.check(20, TICKET)] == ["thanks: missing from the catalog"]
