"""What a report says when its period has too little to rank: early in a month, an empty
period, a new unit. The page, the PDF and the HTML say it in words instead of drawing
empty charts."""

from __future__ import annotations

from scoring.report import Report


def thin_note(report: Report) -> str | None:
    """None when some unit is ranked; else why nothing is."""
    if any(u.rank is not None for u in report.units):
        return None
    evaluated = max((u.counts.evaluated for u in report.units), default=0)
    if evaluated == 0:
        return (f"{report.period.label} 尚无回访结果（已回访 0 件），暂无排名和图表；"
                "回访结果写入后即可查看。")
    return (f"{report.period.label} 回访样本尚少：已回访 {evaluated} 件，还没有单位达到排名所需的 "
            f"{report.rules.min_sample} 件，暂不排名。")


def definition_lines(terms: dict[str, str], texts: dict[str, str]) -> list[tuple[str, str]]:
    """(term, text) of each definition, the text without the term it may start with."""
    out = []
    for key, full in texts.items():
        term = terms.get(key, key)
        text = full
        for lead in (f"{term} = ", f"{term}：", f"{term}:"):
            if full.startswith(lead):
                text = full[len(lead):]
                break
        out.append((term, text))
    return out
