import re

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from ranksearch.pruners.margin import MarginPruner


def finished(params: int, curve: list[float]):
    return create_trial(
        values=[curve[-1], params],
        user_attrs={"trainable_params": params, "val_curve": curve},
        state=TrialState.COMPLETE,
    )


@pytest.fixture
def study():
    s = optuna.create_study(directions=["maximize", "minimize"])
    for params, curve in [(1000, [0.5, 0.7, 0.8]), (2000, [0.55, 0.75, 0.85]), (4000, [0.6, 0.8, 0.9]),
                          (8000, [0.6, 0.82, 0.91]), (16000, [0.62, 0.85, 0.93])]:
        s.add_trial(finished(params, curve))
    return s


def running(study, params: int, curve: list[float]):
    trial = study.ask()
    trial.set_user_attr("trainable_params", params)
    trial.set_user_attr("val_curve", curve)
    return trial


def test_prunes_a_trial_dominated_at_epoch_t(study):
    # 5000 parameters, but at epoch 2 it trails the 4000-parameter network by 0.1.
    assert MarginPruner().prune(study, running(study, 5000, [0.55, 0.70]))


def test_keeps_a_trial_close_to_smaller_networks(study):
    assert not MarginPruner(margin=0.02).prune(study, running(study, 5000, [0.55, 0.79]))


def test_never_prunes_a_trial_with_fewer_parameters_than_every_finished_one(study):
    assert not MarginPruner().prune(study, running(study, 500, [0.1, 0.1]))


def test_waits_for_warmup_and_enough_finished_trials(study):
    assert not MarginPruner(warmup_epochs=1).prune(study, running(study, 5000, [0.1]))
    assert not MarginPruner(min_finished=6).prune(study, running(study, 5000, [0.1, 0.1]))
    assert MarginPruner(min_finished=5).prune(study, running(study, 5000, [0.1, 0.1]))


def test_compares_at_the_same_epoch_not_the_final_one(study):
    # At epoch 1 the 4000-parameter network had 0.6: 0.59 is within the margin, although its final 0.9 is far ahead.
    assert not MarginPruner(warmup_epochs=0).prune(study, running(study, 5000, [0.59]))


def test_pruned_trial_is_marked_pruned_in_a_multi_objective_study(study):
    def objective(trial):
        trial.set_user_attr("trainable_params", 5000)
        trial.set_user_attr("val_curve", [0.3, 0.4])
        if MarginPruner().prune(study, trial):
            raise optuna.TrialPruned()
        return 0.4, 5000

    study.optimize(objective, n_trials=1)
    assert study.trials[-1].state == TrialState.PRUNED


# -- Pareto successive halving (moasha) -------------------------------------------------------
from ranksearch.pruners import PRUNERS, make_pruner  # noqa: E402
from ranksearch.pruners.fronts import nondominated_fronts, rung_order, spread_order  # noqa: E402
from ranksearch.pruners.moasha import ParetoSuccessiveHalving  # noqa: E402


def test_nondominated_fronts_by_hand():
    # (params, accuracy): a and b trade off, c is dominated by b, d by c.
    points = [(100, 0.5), (200, 0.8), (300, 0.7), (400, 0.6)]
    assert nondominated_fronts(points) == [0, 0, 1, 2]
    assert nondominated_fronts([(1, 0.5), (1, 0.5)]) == [0, 0]  # equal points share a front
    # With epsilon 0.15, b no longer dominates c (0.1 apart), but still dominates d (0.2 apart).
    assert nondominated_fronts(points, epsilon=0.15) == [0, 0, 0, 1]


def test_rungs_are_geometric():
    sha = ParetoSuccessiveHalving(eta=3, grace=1)
    assert [e for e in range(1, 30) if sha.is_rung(e)] == [1, 3, 9, 27]


@pytest.fixture
def rung_study():
    """Nine finished candidates whose epoch-1 accuracy grows with their size: one front."""
    s = optuna.create_study(directions=["maximize", "minimize"])
    for i in range(9):
        params = 1000 * (i + 1)
        s.add_trial(finished(params, [0.3 + 0.05 * i, 0.5 + 0.04 * i, 0.6 + 0.03 * i]))
    return s


def test_moasha_prunes_a_candidate_dominated_at_a_rung(rung_study):
    # 5,500 parameters at the epoch-1 accuracy of the 1,000-parameter network: five smaller networks dominate it.
    assert ParetoSuccessiveHalving().prune(rung_study, running(rung_study, 5500, [0.30]))


def test_moasha_keeps_a_candidate_on_the_first_front_while_ties_all_go_on(rung_study):
    assert not ParetoSuccessiveHalving(tie_break_from=None).prune(rung_study, running(rung_study, 5500, [0.60]))


def test_spread_order_takes_the_smallest_then_the_far_end_then_the_middle():
    points = [(4000, 0.5), (16000, 0.7), (1000, 0.3), (8000, 0.6), (2000, 0.4)]
    order = spread_order(points)
    assert [points[i][0] for i in order[:3]] == [1000, 16000, 4000]
    assert sorted(order) == list(range(5))


def test_rung_order_puts_every_first_front_member_before_a_dominated_one():
    points = [(5000, 0.2), (1000, 0.5), (9000, 0.9), (3000, 0.6)]  # (5000, 0.2) is dominated, and far from the rest
    assert rung_order(points) == [1, 2, 3, 0]


def test_moasha_breaks_ties_on_a_crowded_first_front_once_enough_reached_the_rung(rung_study):
    # (3500, 0.41) is on the first front with all nine, between 3,000 and 4,000 parameters: ten at the
    # rung keep three places, taken by the smallest (1,000), the far end (9,000) and the middle (4,000).
    crowded = running(rung_study, 3500, [0.41])
    assert ParetoSuccessiveHalving(margin=None, tie_break_from=10).prune(rung_study, crowded)
    assert not ParetoSuccessiveHalving(margin=None).prune(rung_study, crowded)  # ten, under the default 12: ties all go on
    assert not ParetoSuccessiveHalving(margin=None, tie_break_from=None).prune(rung_study, crowded)


def test_moasha_never_prunes_a_candidate_smaller_than_every_other_at_its_rung(rung_study):
    assert not ParetoSuccessiveHalving().prune(rung_study, running(rung_study, 500, [0.01]))


def test_moasha_halves_only_at_rungs(rung_study):
    sha = ParetoSuccessiveHalving(margin=None)
    assert not sha.prune(rung_study, running(rung_study, 5500, [0.30, 0.31]))  # epoch 2
    assert sha.prune(rung_study, running(rung_study, 5500, [0.30, 0.31, 0.32]))  # epoch 3


def test_moasha_applies_the_margin_between_rungs(rung_study):
    # Epoch 2 is no rung, but networks with fewer parameters were 0.2 more accurate at epoch 2.
    assert ParetoSuccessiveHalving().prune(rung_study, running(rung_study, 5500, [0.30, 0.31]))
    assert not ParetoSuccessiveHalving().prune(rung_study, running(rung_study, 5500, [0.30, 0.62]))


def test_moasha_ignores_differences_within_epsilon(rung_study):
    # At epoch 1 the 5,000-parameter network had 0.50: 0.48 is within epsilon 0.03 of it, so nothing dominates.
    candidate = running(rung_study, 5500, [0.48])
    assert not ParetoSuccessiveHalving(epsilon=0.03, margin=None, tie_break_from=None).prune(rung_study, candidate)
    assert ParetoSuccessiveHalving(epsilon=0.0, margin=None, tie_break_from=None).prune(rung_study, candidate)


def test_moasha_lets_the_first_candidates_through():
    s = optuna.create_study(directions=["maximize", "minimize"])
    s.add_trial(finished(1000, [0.9, 0.95]))
    # Only two candidates have reached epoch 1: fewer than eta = 3, so nobody is pruned yet.
    assert not ParetoSuccessiveHalving().prune(s, running(s, 5000, [0.1]))


def test_moasha_keeps_the_top_third():
    s = optuna.create_study(directions=["maximize", "minimize"])
    for params, acc in [(1000, 0.5), (3000, 0.7), (1500, 0.4), (2500, 0.5), (2000, 0.45)]:
        s.add_trial(finished(params, [acc]))  # front 0: 1000 and 3000; the rest are dominated by 1000
    # A 6th at 3,500 parameters and 0.65 is dominated by (3000, 0.7): two of six are in better fronts.
    assert ParetoSuccessiveHalving(eta=3, epsilon=0, margin=None).prune(s, running(s, 3500, [0.65]))  # top third: 2 places, 2 ahead
    assert not ParetoSuccessiveHalving(eta=2, epsilon=0, margin=None).prune(s, running(s, 3500, [0.65]))  # top half: 3 places, 2 ahead


def test_pruners_by_name_with_settings():
    assert set(PRUNERS.names()) == {"moasha", "margin", "none"}
    assert isinstance(make_pruner("moasha"), ParetoSuccessiveHalving)
    pruner = make_pruner("moasha:eta=2,epsilon=0.01,tie_break_from=none,margin=none")
    assert (pruner.eta, pruner.epsilon, pruner.tie_break_from, pruner.margin) == (2, 0.01, None, None)
    assert pruner.rungs(10) == [0, 0.3333, 0.6667, 1.3333, 2.6667, 5.3333]


@pytest.mark.parametrize("text,words", [
    ("median", "pruner must be one of margin, moasha, none"),
    ("moasha:etaa=3", "pruner moasha has no setting 'etaa'"),
    ("moasha:eta", "has no setting 'eta' (write key=value)"),
    ("moasha:eta=three", "pruner moasha: eta must be an integer, got 'three'"),
    ("moasha:eta=1", "eta must be >= 2"),
    ("margin:margin=2", "margin between 0 and 1"),
    ("none:eta=3", "pruner none has no setting 'eta'"),
])
def test_a_bad_pruner_setting_is_one_line_naming_it(text, words):
    from ranksearch.pruners import check_pruner

    with pytest.raises(ValueError, match=re.escape(words)):
        check_pruner(text)


@pytest.fixture
def baseline_study():
    """No candidate yet; the separable baseline (2,000 parameters) trained first, as a search trains it."""
    s = optuna.create_study(directions=["maximize", "minimize"])
    s.set_user_attr("baseline:separable", {"family": "separable", "trainable_params": 2000, "val_curve": [0.5, 0.6, 0.7]})
    s.set_user_attr("baseline:separable summary", "2,000 trainable parameters, val 0.7000")  # not a record: skipped
    return s


def test_moasha_never_stops_the_best_third_even_when_a_baseline_dominates_them(baseline_study):
    # The first candidate at a rung is the best third of it: it goes on, so the front is never empty.
    assert not ParetoSuccessiveHalving().prune(baseline_study, running(baseline_study, 5000, [0.40]))
    # A second one, behind the first and dominated by the baseline, is stopped by the baseline.
    assert ParetoSuccessiveHalving().prune(baseline_study, running(baseline_study, 6000, [0.30]))


def test_moasha_lets_a_first_candidate_through_that_no_baseline_dominates(baseline_study):
    assert not ParetoSuccessiveHalving().prune(baseline_study, running(baseline_study, 5000, [0.48]))  # within epsilon
    assert not ParetoSuccessiveHalving().prune(baseline_study, running(baseline_study, 1500, [0.10]))  # smaller


def test_moasha_compares_with_baselines_only_at_rungs(baseline_study):
    sha = ParetoSuccessiveHalving(margin=None)
    baseline_study.add_trial(finished(4000, [0.55, 0.60, 0.65]))  # the best at epoch 3, ahead of the next
    assert not sha.prune(baseline_study, running(baseline_study, 5000, [0.55, 0.40]))  # epoch 2: no rung
    assert sha.prune(baseline_study, running(baseline_study, 5000, [0.55, 0.40, 0.50]))  # epoch 3: a rung


def test_moasha_stops_a_network_at_chance_whatever_its_size():
    s = optuna.create_study(directions=["maximize", "minimize"])
    s.add_trial(finished(5000, [0.6]))
    tiny = running(s, 10, [0.11])
    tiny.set_user_attr("spec", {"num_classes": 10})
    assert ParetoSuccessiveHalving().prune(s, tiny)  # 10 classes: 0.11 is within 2 points of chance
    assert not ParetoSuccessiveHalving(chance_margin=None).prune(s, tiny)
    alive = running(s, 10, [0.13])
    alive.set_user_attr("spec", {"num_classes": 10})
    assert not ParetoSuccessiveHalving().prune(s, alive)
    alone = optuna.create_study(directions=["maximize", "minimize"])
    first = running(alone, 10, [0.11])
    first.set_user_attr("spec", {"num_classes": 10})
    assert not ParetoSuccessiveHalving().prune(alone, first)  # nothing did better at its rung: the front keeps it


def test_moasha_judges_an_inherited_network_before_its_first_step():
    s = optuna.create_study(directions=["maximize", "minimize"])
    for i in range(5):  # five candidates at 0: their kept energy and accuracy growing with size
        s.add_trial(create_trial(values=[0.5, 1000 * (i + 1)], state=TrialState.COMPLETE, user_attrs={
            "trainable_params": 1000 * (i + 1), "val_curve": [0.5], "val_checks": {check_key(0): 0.3 + 0.1 * i},
            "energy_kept": 0.5 + 0.1 * i}))

    def late(energy, accuracy):
        t = s.ask()
        for key, value in {"trainable_params": 4500, "val_curve": [], "val_checks": {check_key(0): accuracy},
                           "energy_kept": energy}.items():
            t.set_user_attr(key, value)
        return t

    assert ParetoSuccessiveHalving().prune(s, late(0.5, 0.9))  # by energy (the default): behind four smaller networks
    assert not ParetoSuccessiveHalving().prune(s, late(0.95, 0.3))  # keeps more of the parent than any smaller one
    assert ParetoSuccessiveHalving(zero_signal="accuracy").prune(s, late(0.95, 0.3))
    assert not ParetoSuccessiveHalving(zero_rung=False).prune(s, late(0.5, 0.3))
    assert not ParetoSuccessiveHalving().prune(s, running(s, 4500, []))  # nothing measured yet: no judgement


def test_moasha_without_baselines_lets_the_first_candidates_through(baseline_study):
    assert not ParetoSuccessiveHalving(baselines=False).prune(baseline_study, running(baseline_study, 5000, [0.40]))


def test_moasha_ignores_a_network_measured_as_given():
    s = optuna.create_study(directions=["maximize", "minimize"])
    s.set_user_attr("baseline:given", {"family": "given", "trainable_params": 1000, "val_curve": [0.9]})
    assert not ParetoSuccessiveHalving().prune(s, running(s, 5000, [0.40]))


# -- a first rung within the first epoch -------------------------------------------------------
from ranksearch.curves import accuracy_at, check_key, last_accuracy, progress  # noqa: E402


def test_the_default_rungs_are_at_0_then_a_third_of_an_epoch():
    sha = ParetoSuccessiveHalving()
    assert sha.rungs(10) == [0, 0.3333, 1, 3, 9]
    assert sha.checks(10) == (0, 0.3333)
    assert ParetoSuccessiveHalving(grace=1, zero_rung=False).checks(10) == ()
    assert ParetoSuccessiveHalving(grace=0.5, zero_rung=False).checks(10) == (0.5, 1.5, 4.5)
    assert MarginPruner().checks(10) == () and make_pruner("none").checks(10) == ()


def test_progress_and_accuracy_at_read_checks_and_the_curve():
    curve, checks = [0.5, 0.6], {check_key(1 / 3): 0.2}
    assert progress(curve, checks) == 2 and progress([], checks) == 0.3333 and progress([], {}) == 0
    assert accuracy_at(curve, checks, 1 / 3) == 0.2 and accuracy_at(curve, checks, 2) == 0.6
    assert accuracy_at(curve, checks, 3) is None and accuracy_at(curve, checks, 2 / 3) is None
    assert last_accuracy(curve, checks) == 0.6 and last_accuracy([], checks) == 0.2 and last_accuracy([], {}) is None


def checked(params: int, at_third: float, curve: list[float] | None = None, state=TrialState.COMPLETE):
    curve = curve or [at_third + 0.2, at_third + 0.3]
    return create_trial(values=[curve[-1], params] if state == TrialState.COMPLETE else None, state=state,
                        user_attrs={"trainable_params": params, "val_curve": curve,
                                    "val_checks": {check_key(1 / 3): at_third}})


def at_a_third(study, params: int, acc: float):
    trial = study.ask()
    trial.set_user_attr("trainable_params", params)
    trial.set_user_attr("val_curve", [])
    trial.set_user_attr("val_checks", {check_key(1 / 3): acc})
    return trial


@pytest.fixture
def third_study():
    """Nine candidates checked at a third of an epoch, accuracy growing with size: one front."""
    s = optuna.create_study(directions=["maximize", "minimize"])
    for i in range(9):
        s.add_trial(checked(1000 * (i + 1), 0.2 + 0.05 * i))
    return s


def test_moasha_prunes_at_the_check_a_candidate_dominated_there(third_study):
    # 5,500 parameters with the 1,000-parameter network's accuracy at a third of an epoch.
    assert ParetoSuccessiveHalving().prune(third_study, at_a_third(third_study, 5500, 0.20))
    # The same candidate is not judged there by a pruner whose first rung is epoch 1.
    assert not ParetoSuccessiveHalving(grace=1).prune(third_study, at_a_third(third_study, 5500, 0.20))


def test_moasha_lets_the_smallest_and_the_best_through_at_the_check(third_study):
    assert not ParetoSuccessiveHalving().prune(third_study, at_a_third(third_study, 500, 0.05))
    assert not ParetoSuccessiveHalving().prune(third_study, at_a_third(third_study, 9500, 0.9))


def test_a_baseline_dominating_a_candidate_at_the_check_stops_it():
    def second_candidate(pruner, acc):
        s = optuna.create_study(directions=["maximize", "minimize"])
        s.set_user_attr("baseline:separable", {"family": "separable", "trainable_params": 3000, "val_curve": [0.5, 0.6],
                                               "val_checks": {check_key(1 / 3): 0.4}})
        s.add_trial(checked(3500, 0.45))  # the first candidate there: ahead of the second
        return pruner.prune(s, at_a_third(s, 4000, acc))

    assert second_candidate(ParetoSuccessiveHalving(), 0.30)
    assert not second_candidate(ParetoSuccessiveHalving(), 0.39)  # within epsilon of the baseline
    assert not second_candidate(ParetoSuccessiveHalving(baselines=False), 0.30)


def test_candidates_without_checks_do_not_count_at_the_check():
    # Six finished candidates trained before checks existed (curves only): the seventh, at its check,
    # is among fewer than eta candidates there, so only a baseline could stop it.
    s = optuna.create_study(directions=["maximize", "minimize"])
    for i in range(6):
        s.add_trial(finished(1000 * (i + 1), [0.5, 0.6]))
    assert not ParetoSuccessiveHalving().prune(s, at_a_third(s, 7000, 0.01))


def test_margin_pruner_judges_whole_epochs_only(study):
    trial = running(study, 5000, [0.1, 0.1])
    assert MarginPruner().prune(study, trial)
    trial.set_user_attr("val_checks", {check_key(2.5): 0.1})
    assert not MarginPruner().prune(study, trial)
