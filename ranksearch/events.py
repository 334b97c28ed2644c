"""What a training process tells whoever shows it: events as plain dicts, and the trainer's callbacks that send them.

Kinds: ``step`` (within an epoch, at most once a second), ``epoch``, ``check`` (a validation
within an epoch), ``baseline`` (one trained), ``trial`` (one finished), ``line`` (a message),
``error`` and ``done`` (a job's end). The search never prints: it sends events to an ``emit``
callable; ``ranksearch.monitor`` turns them into progress and result files.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

from ranksearch import signals
from ranksearch.curves import check_key

Emit = Callable[[dict[str, Any]], None]
STEP_EVENT_SECONDS = 1.0


def trainer_callbacks(emit: Emit, job: int, who: str, params: int, epochs: int, checks: Sequence[float],
                      curve: list[float], checked: dict[str, float],
                      after_point: Callable[[float], None] | None = None) -> dict[str, Any]:
    """The trainer's keyword callbacks: progress events, ``curve`` and ``checked`` filled in, then
    ``after_point(epochs trained)`` (where a pruner may stop the training)."""
    last = [0.0]

    def on_step(epoch: int, step: int, steps: int) -> None:
        signals.check()
        now = time.monotonic()
        if now - last[0] >= STEP_EVENT_SECONDS or step == steps:
            last[0] = now
            with signals.deferred():
                emit({"kind": "step", "job": job, "who": who, "params": params, "epoch": epoch, "epochs": epochs,
                      "step": step, "steps": steps, "val": curve[-1] if curve else None})

    def on_epoch(epoch: int, acc: float) -> None:
        curve.append(acc)
        with signals.deferred():  # storage writes and events are never cut in half
            emit({"kind": "epoch", "job": job, "who": who, "params": params, "epoch": epoch, "epochs": epochs, "val": acc})
            if after_point is not None:
                after_point(float(epoch))

    def on_check(at: float, acc: float) -> None:
        checked[check_key(at)] = acc
        with signals.deferred():
            emit({"kind": "check", "job": job, "who": who, "params": params, "at": at, "epochs": epochs, "val": acc})
            if after_point is not None:
                after_point(at)

    return {"on_step": on_step, "on_epoch": on_epoch, "on_check": on_check, "checks": tuple(checks)}
