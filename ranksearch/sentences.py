"""The verdict in words: the sentences ``ranksearch run`` prints and the report and summary.json carry."""

from __future__ import annotations

from ranksearch.labels import acc, duration, epochs, points
from ranksearch.verdict_parts import CLOSE_POINTS, Cost, Dominance, Noise, Unbeaten, Verdict


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _dominance_sentence(d: Dominance) -> str:
    head = f"{_capital(d.label)} ({d.trainable_params:,} parameters, val {acc(d.val_accuracy)})"
    if d.whole_front:
        return (f"{head} is no larger than the smallest candidate on the front and at least as accurate as every "
                f"candidate: take {d.label}; the search found nothing better.")
    n = len(d.members)
    members = f"{n} front member{'s' if n != 1 else ''}"
    if d.high is None:
        return (f"{head} is at least as accurate as every candidate with {d.low:,} parameters or more ({members}): "
                f"no candidate that size is worth taking over {d.label}.")
    return (f"{head} is at least as accurate as every candidate between {d.low:,} and {d.high:,} parameters "
            f"({members}): below {d.high + 1:,} parameters, take {d.label} unless you need fewer than {d.low:,}.")


def _unbeaten_sentence(u: Unbeaten) -> str:
    b = u.baseline
    seeds = f" ({acc(b.val_range[0])}-{acc(b.val_range[1])} over {len(b.val_accuracy_seeds)} seeds)" if b.val_range else ""
    head = f"The search did not beat {b.name} ({b.trainable_params:,} parameters, val {acc(b.val_accuracy)}{seeds}) at its size"
    if u.best_no_larger is None:
        return f"{head}: no candidate is that small."
    noise = ", level within seed noise" if u.within_noise else ""
    return (f"{head}: the most accurate candidate no larger, {u.best_no_larger.brief()}, is "
            f"{points(u.val_points)} under it in validation accuracy{noise}.")


def _span(c) -> str:
    if c.val_range is None:
        return f"{acc(c.val_accuracy)} (one seed)"
    return f"{acc(c.val_range[0])}-{acc(c.val_range[1])} ({len(c.val_accuracy_seeds)} seeds)"


def _noise_sentence(n: Noise) -> str:
    first, second = n.first, n.second
    if not n.level:
        ahead, behind = (first, second) if first.val_accuracy > second.val_accuracy else (second, first)
        return f"{_capital(ahead.name)} is ahead of {behind.name} beyond seed noise: validation {_span(ahead)} against {_span(behind)}."
    if first.val_range is not None and second.val_range is not None:
        (a_lo, a_hi), (b_lo, b_hi) = first.val_range, second.val_range
        return (f"{_capital(first.name)} and {second.name} are level within seed noise: their validation accuracies over "
                f"{len(first.val_accuracy_seeds)} and {len(second.val_accuracy_seeds)} seeds range {acc(a_lo)}-{acc(a_hi)} "
                f"and {acc(b_lo)}-{acc(b_hi)}, which overlap.")
    single, seeded = (first, second) if first.val_range is None else (second, first)
    return (f"{_capital(single.name)} and {seeded.name} are level within seed noise: the validation accuracy of "
            f"{single.name}, {acc(single.val_accuracy)} from one seed, lies within {seeded.name}'s "
            f"{acc(seeded.val_range[0])}-{acc(seeded.val_range[1])} over {len(seeded.val_accuracy_seeds)} seeds.")


def _cost_sentence(c: Cost) -> str:
    wall = f"wall time {duration(c.wall_seconds)}" if c.wall_seconds else "wall time not recorded (the study predates it)"
    parts = [f"Cost: {wall}; training {duration(c.training_seconds)} summed over {c.candidates_finished} candidates and the "
             f"baselines ({duration(c.baseline_seconds)})"]
    finished = "" if c.candidates_finished == c.budget else f"; {c.candidates_finished} of {c.budget} candidates finished"
    parts.append(f"{c.epochs_trained:,g} of the budget's {c.epochs_budget:,} candidate-epochs trained "
                 f"({c.budget} candidates x {epochs(c.epochs_per_candidate)}{finished})")
    if c.pruned:
        saved = f", about {duration(c.seconds_saved)}" if c.seconds_saved is not None else ""
        parts.append(f"pruning stopped {c.pruned} candidate{'s' if c.pruned != 1 else ''} early and saved "
                     f"{epochs(c.epochs_saved)}{saved}")
    else:
        parts.append("nothing was pruned")
    if c.seconds_per_candidate is not None:
        parts.append(f"{c.seconds_per_candidate:.1f} s per complete candidate ({c.seconds_per_epoch:.2f} s per epoch)")
    if c.confirmation_seconds:
        parts.append(f"training the named networks again with more seeds: {duration(c.confirmation_seconds)}, "
                     f"{100 * c.confirmation_share:.0f} % of the search's training time")
    return "; ".join(parts) + "."


def sentences(v: Verdict, conv_present: bool = True) -> list[str]:
    out: list[str] = []
    if v.take is None:
        return ["No candidate or baseline has finished yet: nothing to choose from.", _cost_sentence(v.cost)]
    for d in v.dominance:
        if d.whole_front:
            out.append(_dominance_sentence(d))
    if v.take_reason == "knee":
        out.append(f"Take {v.take.brief()}: the knee of the front of candidates and baselines; past it, each doubling "
                   f"of parameters buys less accuracy than the front's average.")
    else:
        out.append(f"Take {v.take.brief()}: the most accurate network (the front of candidates and baselines has no knee).")
    if v.most_accurate is not None and v.most_accurate.key != v.take.key:
        out.append(f"For the most accuracy, take {v.most_accurate.brief()}.")
    out += [_noise_sentence(n) for n in v.noise]
    for b in v.budgets:
        lead = f"Within {b.fraction * 100:.0f} % of {v.conv_name}'s parameters ({b.max_params:,})"
        if b.best is None:
            out.append(f"{lead}: nothing was trained; the smallest option is {v.options[0].brief()}.")
        elif b.best.role == "candidate" or b.best_candidate is None:
            out.append(f"{lead}: {b.best.brief()}.")
        else:
            out.append(f"{lead}: {b.best.brief()}; the best candidate there is {b.best_candidate.brief()}.")
    for d in v.dominance:
        if not d.whole_front:
            out.append(_dominance_sentence(d))
    said = {d.label for d in v.dominance}
    top = v.most_accurate.key if v.most_accurate else None
    out += [_unbeaten_sentence(u) for u in v.unbeaten if u.baseline.name not in said and u.baseline.key != top]
    s = v.saving
    if s is not None:
        cand, conv = s.candidate, s.conv
        if s.times_fewer >= 1.005:
            size = (f"has {s.times_fewer:.2f}x fewer parameters than {v.conv_name} ({conv.trainable_params:,}, "
                    f"val {acc(conv.val_accuracy)}, test {acc(conv.test_accuracy)}), {s.percent_fewer:.1f} % fewer")
        elif s.times_fewer > 1:  # "1.00x fewer" says nothing
            size = (f"has {s.percent_fewer:.1f} % fewer parameters than {v.conv_name} ({conv.trainable_params:,}, "
                    f"val {acc(conv.val_accuracy)}, test {acc(conv.test_accuracy)})")
        else:
            size = (f"is no smaller than {v.conv_name} ({conv.trainable_params:,}, val {acc(conv.val_accuracy)}, "
                    f"test {acc(conv.test_accuracy)})")

        def diff(p: float | None, what: str) -> str:
            if p is None:
                return f"{what} n/a"
            return f"{points(p)} {'more' if p > 0 else 'less'} {what}" if p != 0 else f"the same {what}"
        out.append(f"The most accurate candidate, {cand.brief()}, {size}, with "
                   f"{diff(s.val_points, 'validation accuracy')} and {diff(s.test_points, 'test accuracy')}.")
    if conv_present:
        if v.close_to_conv is not None:
            c = v.close_to_conv
            ratio = v.saving.conv.trainable_params / c.trainable_params if v.saving else None
            more = (f": {ratio:.2f}x fewer parameters" if ratio and ratio >= 1.005 else
                    f": {100 * (1 - 1 / ratio):.1f} % fewer parameters" if ratio and ratio > 1 else "")
            out.append(f"The smallest candidate within {CLOSE_POINTS:g} point of {v.conv_name}'s validation accuracy "
                       f"is {c.brief()}{more}.")
        elif v.saving is not None:
            out.append(f"No candidate comes within {CLOSE_POINTS:g} point of {v.conv_name}'s validation accuracy "
                       f"({acc(v.saving.conv.val_accuracy)}).")
    if v.curve_savings and len(v.baseline_curve) > 1:
        out.append(_curve_sentence(v))
    if v.test_gap is not None:
        out.append(f"Test accuracy (reported, never used to choose) is within {v.test_gap:.2f} points of validation on "
                   f"every front member (largest gap: trial {v.test_gap_number}).")
    out.append(_cost_sentence(v.cost))
    return out


def _curve_sentence(v: Verdict) -> str:
    """What the search bought against what a user has without it, at equal validation accuracy."""
    names = ", ".join(b.name.removeprefix("the ") for b in v.baseline_curve)
    best = v.best_curve_saving
    top = max((b.val_accuracy for b in v.baseline_curve), default=None)
    past = [c.candidate for c in v.curve_savings if top is not None and c.candidate.val_accuracy > top]
    if best is None and past:
        p = max(past, key=lambda c: c.val_accuracy)
        return (f"Against the curve of what you have without the search ({names}), no saving can be read at equal "
                f"validation accuracy: {p.name} (val {acc(p.val_accuracy)}){f' and {len(past) - 1} more' if len(past) > 1 else ''} "
                f"of the front {'are' if len(past) > 1 else 'is'} more accurate than every network on it, and no front "
                "member within its range is more accurate than it at its size.")
    if best is None:
        return (f"Against the curve of what you have without the search ({names}), no candidate on the front is more "
                f"accurate than that curve at its size: at equal validation accuracy the search saved no parameters.")
    c = best.candidate
    around = " and ".join(n.removeprefix("the ") for n in best.between)
    read = f"read between {around}, log-interpolated" if len(best.between) > 1 else f"{around}, as accurate"
    return (f"What the search bought: at the validation accuracy of {c.name} ({c.trainable_params:,} parameters, val "
            f"{acc(c.val_accuracy)}), the curve of what you have without the search ({names}) needs about "
            f"{best.baseline_params:,} parameters ({read}): {best.times_fewer:.2f}x "
            f"more, {best.percent_fewer:.0f} % saved.")


def latency_sentence(take: str, runtime: str, threads: float | None, single: float, batched: float | None, batch: int,
                     eager: tuple[float | None, float | None] | None = None) -> str:
    """Which runtime the latency a search minimised was measured in, and the take's latency there
    (``eager``: the same network's PyTorch eager figures, when the runtime is another)."""
    with_threads = f" with {threads:g} thread{'s' if threads != 1 else ''}" if threads else ""
    at_batch = f" and {batched:.4f} ms per image at batch {batch}" if batched is not None else ""
    beside = ""
    if eager is not None and eager[0] is not None:
        eager_batch = f" and {eager[1]:.4f}" if eager[1] is not None else ""
        beside = f" (PyTorch eager: {eager[0]:.3f}{eager_batch} ms)"
    return (f"Latency, which this search minimised, was measured in {runtime}{with_threads} (medians of repeats): "
            f"{take} runs in {single:.3f} ms at batch 1{at_batch}{beside}; the report draws the front by latency "
            f"in each runtime measured.")
