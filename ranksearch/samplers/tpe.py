"""``tpe``: Optuna's multivariate TPE, set up for per-layer families and ranks."""

from __future__ import annotations

import warnings

import optuna

from ranksearch.samplers import SAMPLERS


@SAMPLERS.register("tpe")
def tpe(seed: int | None, n_startup_trials: int = 10, multivariate: bool = True, constant_liar: bool = True) -> optuna.samplers.BaseSampler:
    """Optuna's TPE sampler.

    A layer's rank exists only for the family it chose (``group``), so TPE models each such
    group jointly when ``multivariate``.

    Args:
        n_startup_trials: random proposals before TPE models the trials.
        multivariate: model the parameters jointly rather than one by one.
        constant_liar: processes sampling while others train do not all propose the same point.
    """
    if n_startup_trials < 0:
        raise ValueError("n_startup_trials must be >= 0")
    with warnings.catch_warnings():  # group and constant_liar are marked experimental; we rely on them knowingly
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials, multivariate=multivariate,
                                          group=multivariate, constant_liar=constant_liar)
