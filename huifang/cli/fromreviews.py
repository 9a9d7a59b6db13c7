"""`--from-reviews` for `huifang asr-eval` and `huifang asr-tune`: the reviewed turns of
this deployment's calls as the corpus (`huifang.evaluation.reviews`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from huifang.cli.app import App, fail, out
from huifang.evaluation.corpus import Item
from huifang.evaluation.reviews import ReviewCorpus, review_corpus


@contextmanager
def reviewed_items(app: App, since: datetime | None, split: str, every: int = 1
                   ) -> Iterator[tuple[ReviewCorpus, list[Item]]]:
    """The reviewed turns (their clips exist only inside the block) and the part asked
    for; fails with what was found when there is nothing to decode."""
    recordings = Path(app.settings.campaign.recordings_dir)
    with review_corpus(app.engine(), recordings, since) as corpus:
        out.print(corpus.summary(), highlight=False)
        items = corpus.items if split == "all" else [i for i in corpus.items
                                                     if i.split == split]
        items = items[::max(1, every)]
        if not items:
            when = f" since {since:%Y-%m-%d}" if since else ""
            part = "" if split == "all" else f" in the {split} part"
            fail(f"no reviewed turn with its audio{when}{part}: a turn is labelled once a "
                 "person confirms, corrects or spot-checks its call, and only calls made "
                 "since offsets are kept (migration 0013) carry its audio")
        yield corpus, items


def reviews_record(corpus: ReviewCorpus, since: datetime | None) -> dict[str, Any]:
    """What the reviewed corpus held, for the JSON report (counts only, no numbers)."""
    parts = {split: sum(1 for i in corpus.items if i.split == split)
             for split in ("tune", "heldout")}
    return {"since": since.date().isoformat() if since else None,
            "turns": len(corpus.items), "judged": dict(corpus.judged),
            "skipped": dict(corpus.skipped), "parts": parts}
