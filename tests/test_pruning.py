import optuna
import pytest
from optuna.trial import TrialState, create_trial

from ranksearch.pruning import MarginPruner


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
