"""Canary routing: a configured share of /predict requests goes to the candidate version."""

from __future__ import annotations

import random
from collections.abc import Callable

from ..errors import InvalidInput

__all__ = ["CanaryRouter"]


class CanaryRouter:
    """Chooses, request by request, whether the canary answers; ``percent`` of them on average."""

    def __init__(self, percent: float, *, rand: Callable[[], float] = random.random) -> None:
        if not 0 <= percent <= 100:
            raise InvalidInput(f"the canary share must be between 0 and 100 percent, not {percent}")
        self.percent = percent
        self._threshold = percent / 100
        self._rand = rand

    def use_canary(self) -> bool:
        return self._threshold > 0 and self._rand() < self._threshold
