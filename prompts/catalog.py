"""The prompt catalog: ids mapped to Chinese templates with named fields.

Rendering a prompt fills the fields, normalises the text for speech and fails with an
error that names the prompt (a field missing from the ticket, text that says nothing).
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from prompts.normalize import SpeechTextError, normalize, syllables

CATALOG = Path(__file__).parent / "catalog.toml"
FIELDS = frozenset({"hotline", "city", "date", "summary", "unit", "count", "ordinal"})
REQUIRED = frozenset({
    "greeting", "greeting_multi", "ticket_intro", "ask_resolved", "ask_satisfied",
    "no_input_resolved", "no_input_satisfied", "no_match_resolved", "no_match_satisfied",
    "keys_only_resolved", "keys_only_satisfied", "ask_reason", "thanks", "wrong_person",
    "call_later", "confirm_resolved", "confirm_unresolved", "confirm_satisfied",
    "confirm_basic_satisfied", "confirm_unsatisfied"})
SECONDS_PER_SYLLABLE = 0.22  # estimate for `check` before anything is rendered


class PromptError(ValueError):
    """A prompt cannot be rendered; the message names it."""


@dataclass(frozen=True)
class Prompt:
    id: str
    template: str

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(name for _, name, _, _ in string.Formatter().parse(self.template)
                         if name)

    @property
    def fixed(self) -> bool:
        return not (self.fields - {"hotline", "city"})

    def text(self, values: Mapping[str, object]) -> str:
        missing = sorted(self.fields - set(values))
        if missing:
            raise PromptError(f"prompt {self.id}: field {{{missing[0]}}} is missing "
                              f"from the ticket")
        try:
            return normalize(self.template.format_map(dict(values)))
        except SpeechTextError as exc:
            raise PromptError(f"prompt {self.id}: {exc}") from exc


@dataclass(frozen=True)
class Problem:
    prompt: str
    message: str

    def __str__(self) -> str:
        return f"{self.prompt}: {self.message}"


class Catalog:
    def __init__(self, prompts: Mapping[str, Prompt]) -> None:
        self.prompts = dict(prompts)

    def __getitem__(self, prompt_id: str) -> Prompt:
        try:
            return self.prompts[prompt_id]
        except KeyError:
            raise PromptError(f"no prompt {prompt_id!r} in the catalog") from None

    def check(self, max_seconds: float, sample: Mapping[str, object]) -> list[Problem]:
        """Unknown fields, missing ids, and prompts estimated longer than max_seconds."""
        problems = [Problem(pid, "missing from the catalog")
                    for pid in sorted(REQUIRED - set(self.prompts))]
        for prompt in self.prompts.values():
            unknown = sorted(prompt.fields - FIELDS)
            if unknown:
                problems.append(Problem(prompt.id, f"unknown field {{{unknown[0]}}}"))
                continue
            try:
                text = prompt.text(sample)
            except (PromptError, ValueError) as exc:
                problems.append(Problem(prompt.id, str(exc)))
                continue
            seconds = estimate_seconds(text)
            if seconds > max_seconds:
                problems.append(Problem(prompt.id, f"about {seconds:.0f} s with a typical "
                                        f"ticket, over the {max_seconds:g} s limit"))
        return problems


def estimate_seconds(text: str) -> float:
    pauses = sum(1 for ch in text if ch in "，。")
    return syllables(text) * SECONDS_PER_SYLLABLE + pauses * 0.25


def load_catalog(overrides: Mapping[str, str] | None = None,
                 path: Path = CATALOG) -> Catalog:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    texts = {pid: str(entry["text"]) for pid, entry in data.items()}
    texts.update(overrides or {})
    return Catalog({pid: Prompt(pid, text) for pid, text in texts.items()})
