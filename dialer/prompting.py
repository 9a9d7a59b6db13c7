"""The audio a call will play, prepared before it is dialled (blocking: TTS and files;
run it off the reactor). Fixed prompts are loaded once; the greeting and the ticket
introductions are rendered per call from the ticket's fields, through the prompt cache."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date

import numpy as np

from dialer.callsession import Prompts
from prompts.render import PromptRenderer, RenderedPrompt
from store.callbacks import TicketDetails


class CallPrompts:
    def __init__(self, renderer: PromptRenderer,
                 on_source: Callable[[str], None] = lambda _: None) -> None:
        self.renderer = renderer
        self.on_source = on_source
        self._fixed: dict[tuple[str, int | None], bytes] | None = None
        self._lock = threading.Lock()

    def _pcm(self, rendered: RenderedPrompt) -> bytes:
        self.on_source(rendered.source)
        samples = self.renderer.cache.load(rendered.audio)
        return bytes(np.asarray(samples).astype("<i2").tobytes())

    def fixed(self) -> dict[tuple[str, int | None], bytes]:
        with self._lock:
            if self._fixed is None:
                self._fixed = {(r.prompt_id, None): self._pcm(r)
                               for r in self.renderer.render_fixed()}
            return self._fixed

    def prepare(self, tickets: list[TicketDetails], today: date) -> Prompts:
        """Every prompt the call may play; PromptError if one cannot be rendered."""
        prompts = dict(self.fixed())
        fields = [self.renderer.ticket_fields(
            received_at=t.received_at, summary=t.summary, category=t.category, unit=t.unit,
            today=today, count=len(tickets), ordinal=i + 1) for i, t in enumerate(tickets)]
        if len(tickets) == 1:
            prompts[("greeting", 0)] = self._pcm(self.renderer.render("greeting", fields[0]))
        else:
            prompts[("greeting_multi", None)] = self._pcm(
                self.renderer.render("greeting_multi", fields[0]))
            for i, values in enumerate(fields):
                prompts[("ticket_intro", i)] = self._pcm(
                    self.renderer.render("ticket_intro", values))
        return prompts
