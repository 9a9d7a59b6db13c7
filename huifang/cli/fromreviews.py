"""`--from-reviews` for `huifang asr-eval` and `huifang asr-tune`: the reviewed turns of
this deployment's calls as the corpus (`huifang.evaluation.reviews`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import SQLAlchemyError

from huifang.cli.app import App, fail, out
from huifang.evaluation.corpus import Item
from huifang.evaluation.metrics import Row, _right
from huifang.evaluation.reviews import HOW, ReviewCorpus, review_corpus

JUDGMENTS = tuple(HOW)  # spot_check, corrected, confirmed


def _judged(_: click.Context, __: click.Parameter, text: str) -> frozenset[str]:
    kinds = frozenset(k.strip() for k in text.split(",") if k.strip())
    if not kinds or kinds - set(JUDGMENTS):
        raise click.BadParameter(f"{text!r}: judgments are {', '.join(JUDGMENTS)}")
    return kinds


def reviews_options(what: str) -> Callable[[Any], Any]:
    """--from-reviews (`what` it does then), --since and --judged, for both commands."""
    def add(function: Any) -> Any:
        for option in reversed((
                click.option("--from-reviews", "from_reviews", is_flag=True, help=what),
                click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]),
                             help="With --from-reviews: only calls made on or after this "
                                  "date."),
                click.option("--judged", default=",".join(JUDGMENTS), show_default=True,
                             callback=_judged,
                             help="With --from-reviews: which judgments label turns. A "
                                  "spot check is blind; a confirmation is the machine's own "
                                  "answer endorsed, so `--judged spot_check` is the unbiased "
                                  "figure."))):
            function = option(function)
        return function
    return add


def since_needs_reviews(since: datetime | None, from_reviews: bool) -> None:
    if since is not None and not from_reviews:
        raise click.BadParameter("--since needs --from-reviews", param_hint="--since")


@contextmanager
def reviewed_items(app: App, since: datetime | None, split: str, every: int = 1,
                   judged: frozenset[str] = frozenset(JUDGMENTS)
                   ) -> Iterator[tuple[ReviewCorpus, list[Item]]]:
    """The reviewed turns (their clips exist only inside the block) and the part asked
    for; fails with what was found when there is nothing to decode."""
    recordings = Path(app.settings.campaign.recordings_dir)
    with ExitStack() as stack:
        try:
            corpus = stack.enter_context(review_corpus(app.engine(), recordings, since))
        except SQLAlchemyError as exc:
            fail(f"the database cannot be read: {type(exc).__name__}: "
                 f"{str(exc).splitlines()[0]}")
        except OSError as exc:
            fail(f"the reviewed turns cannot be cut into a temporary folder: {exc}")
        out.print(corpus.summary(), highlight=False)
        items = [i for i in corpus.items if i.voice in judged
                 and split in ("all", i.split)]
        items = items[::max(1, every)]
        if not items:
            when = f" since {since:%Y-%m-%d}" if since else ""
            part = "" if split == "all" else f" in the {split} part"
            fail(f"no reviewed turn with its audio{when}{part}: a turn is labelled once a "
                 "person confirms, corrects or spot-checks its call, and only calls made "
                 "since offsets are kept (migration 0013) carry its audio")
        yield corpus, items


def reviews_record(corpus: ReviewCorpus, since: datetime | None,
                   measured: list[tuple[Item, Row]] | None = None) -> dict[str, Any]:
    """What the reviewed corpus held, for the JSON report (counts only, no numbers), and
    with `measured` the turns right by judgment (a spot check's figure is the unbiased
    one)."""
    parts = {split: sum(1 for i in corpus.items if i.split == split)
             for split in ("tune", "heldout")}
    record: dict[str, Any] = {"since": since.date().isoformat() if since else None,
                              "turns": len(corpus.items), "judged": dict(corpus.judged),
                              "skipped": dict(corpus.skipped), "parts": parts}
    if measured is not None:
        by: dict[str, dict[str, Any]] = {}
        for item, row in measured:
            figures = by.setdefault(item.voice, {"turns": 0, "right": 0})
            figures["turns"] += 1
            figures["right"] += _right(row)
        for figures in by.values():
            figures["accuracy"] = round(figures["right"] / figures["turns"], 3)
        record["measured_by_judgment"] = by
    return record


def print_by_judgment(record: dict[str, Any]) -> None:
    for how, f in sorted(record.get("measured_by_judgment", {}).items()):
        out.print(f"  {HOW.get(how, how)}: {f['right']} of {f['turns']} turns right "
                  f"({100 * f['accuracy']:.1f}%)", highlight=False)
