"""The deployment's own callers as a corpus: every turn a person confirmed, corrected or
spot-checked (`store.review_labels`), its audio cut from the call's recording and
labelled with the person's answer.

The clips are written as mono 8 kHz WAVs with a `labels.tsv` into a private folder that
`review_corpus` removes on leaving; they are telephone audio already, so they are decoded
as they are (no simulated channel). Each caller's turns fall in one part of the split
(`tune` or `heldout`, by a hash of the number that never leaves the store), so the
thresholds `huifang asr-tune --from-reviews` chooses are measured on callers it did not
hear. The report names a clip by how it was judged and its turn id, never by a number.
"""

from __future__ import annotations

import functools
import logging
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy import Engine

from huifang.evaluation.callers import HELDOUT, TUNE
from huifang.evaluation.corpus import Item, write_labels
from huifang.reasons import OutsideRecordings, RecordingError, citizen_slice, read_recording
from ivr.intents import Intent, Question
from prompts.audio import write_wav
from store.review_labels import ReviewedTurn, reviewed_turns

log = logging.getLogger(__name__)
HELDOUT_OF = 3  # one caller in three is held out
HOW = {"spot_check": "抽检", "corrected": "修正", "confirmed": "确认"}


@dataclass
class ReviewCorpus:
    items: list[Item] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    judged: Counter[str] = field(default_factory=Counter)  # by how: spot_check ...

    def summary(self) -> str:
        how = "，".join(f"{HOW.get(k, k)} {n}" for k, n in sorted(self.judged.items()))
        said = f"人工复核的回答 {len(self.items)} 段" + (f"（{how}）" if how else "")
        if self.skipped:
            said += "；未用 " + "，".join(f"{SKIPPED.get(k, k)} {n}"
                                         for k, n in sorted(self.skipped.items()))
        return said


SKIPPED = {"ambiguous": "多段未听清、无法对应", "answered_by_key": "按键作答",
           "unknown_answer": "人工未给出答案", "no_span": "录音时段未记录（旧通话）",
           "recording_deleted": "录音已按保留期删除", "no_recording": "无录音",
           "recording_unreadable": "录音无法读取", "outside_root": "录音不在录音目录内"}


def split_of(turn: ReviewedTurn) -> str:
    return HELDOUT if turn.caller % HELDOUT_OF == 0 else TUNE


@contextmanager
def review_corpus(engine: Engine, recordings: Path, since: datetime | None = None
                  ) -> Iterator[ReviewCorpus]:
    """The reviewed turns as corpus items, their clips in a private temporary folder
    that is removed when the block ends."""
    folder = Path(tempfile.mkdtemp(prefix="huifang-reviews-"))  # mode 0700
    try:
        yield build(engine, recordings, folder, since)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def build(engine: Engine, recordings: Path, folder: Path, since: datetime | None = None
          ) -> ReviewCorpus:
    found = reviewed_turns(engine, since)
    corpus = ReviewCorpus(skipped=Counter(found.skipped))

    @functools.lru_cache(maxsize=1)  # turns come by attempt: one recording in memory
    def recording_of(path: str) -> bytes:
        return read_recording(path, recordings)

    for turn in found.turns:
        try:
            pcm = citizen_slice(recording_of(turn.recording), turn.from_s, turn.to_s)
        except RecordingError as exc:
            log.warning("turn %s of attempt %s: %s", turn.turn_id, turn.attempt_id, exc)
            corpus.skipped["outside_root" if isinstance(exc, OutsideRecordings)
                           else "recording_unreadable"] += 1
            continue
        clip = folder / f"turn-{turn.turn_id}.wav"
        write_wav(clip, np.frombuffer(pcm, dtype="<i2"))
        corpus.items.append(Item(clip, Question(turn.question), Intent(turn.label),
                                 "answer", True, f"{HOW[turn.how]} #{turn.turn_id}",
                                 split_of(turn), turn.how))
        corpus.judged[turn.how] += 1
    write_labels(folder, corpus.items)
    return corpus
