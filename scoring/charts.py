"""Charts for the reports, drawn by matplotlib with a CJK font from Debian."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from scoring.report import Report, UnitReport

CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)
CARD_COLOURS = {"red": "#d62728", "yellow": "#f2c12e", None: "#4e79a7"}


class FontMissing(RuntimeError):
    pass


def use_cjk_font() -> str:
    """Register the first CJK font found and make it the default; its family name."""
    for path in CJK_FONTS:
        if Path(path).exists():
            font_manager.fontManager.addfont(path)
            name = font_manager.FontProperties(fname=path).get_name()
            plt.rcParams["font.family"] = [name, "DejaVu Sans"]
            plt.rcParams["axes.unicode_minus"] = False
            plt.rcParams["pdf.fonttype"] = 42  # embed TrueType, text stays searchable
            return name
    raise FontMissing("no CJK font installed: apt-get install fonts-wqy-microhei "
                      "(charts would show boxes instead of Chinese)")


def ranked_in(report: Report, group: str) -> list[UnitReport]:
    return [u for u in report.units if u.info.group == group and u.rank is not None]


def _nothing(ax: Axes, text: str) -> None:
    """An empty chart says why instead of drawing bare axes (−0.05…0.05)."""
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, color="#5b6b7a",
            transform=ax.transAxes)


def draw_composite(ax: Axes, report: Report, group: str) -> None:
    ranked = ranked_in(report, group)
    ax.set_title(f"{report.period.label} {group} 综合得分（红：红牌 黄：黄牌）")
    if not ranked:
        _nothing(ax, f"本期{group}尚无单位达到排名所需的回访样本"
                     f"（每单位至少 {report.rules.min_sample} 件）")
        return
    names = [u.info.name for u in ranked][::-1]
    values = [u.rates.composite or 0.0 for u in ranked][::-1]
    colours = [CARD_COLOURS.get(u.card, CARD_COLOURS[None]) for u in ranked][::-1]
    bars = ax.barh(names, values, color=colours)
    for bar, value in zip(bars, values, strict=True):
        ax.text(bar.get_width() + 0.3, bar.get_y() + bar.get_height() / 2, f"{value:.2f}",
                va="center", fontsize=8)
    low = min(values, default=0)
    ax.set_xlim(max(0, low - 10), 100)
    ax.set_xlabel("综合得分")


def composite_chart(report: Report, group: str) -> Figure:
    use_cjk_font()
    ranked = ranked_in(report, group)
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.35 * len(ranked) + 1)))
    draw_composite(ax, report, group)
    fig.tight_layout()
    return fig


def draw_trend(ax: Axes, report: Report, group: str) -> None:
    points = report.trends.get(group, [])
    labels = [str(p["period"]) for p in points]
    ax.set_title(f"{group} 解决率与满意率趋势（近{len(points)}期）")
    series = {key: [None if p[key] is None else 100 * float(p[key])  # type: ignore[arg-type]
                    for p in points] for key in ("resolution_rate", "satisfaction_rate")}
    if not any(v is not None for values in series.values() for v in values):
        _nothing(ax, "近几期尚无回访数据，暂无趋势")
        return
    for key, label in (("resolution_rate", "解决率"), ("satisfaction_rate", "满意率")):
        ax.plot(labels, [v if v is not None else float("nan") for v in series[key]],
                marker="o", label=label)
    ax.set_ylim(0, 100)
    ax.set_ylabel("%")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)


def trend_chart(report: Report, group: str) -> Figure:
    use_cjk_font()
    fig, ax = plt.subplots(figsize=(8, 3))
    draw_trend(ax, report, group)
    fig.tight_layout()
    return fig


def png_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()
