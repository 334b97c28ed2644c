import pytest

from conftest import make_row
from ranksearch.results import hypervolume, pareto_front


def row(n, params, val, test):
    return make_row(n, params, val, test)


def test_front_uses_validation_accuracy_only():
    rows = [row(0, 100, 0.80, 0.99), row(1, 200, 0.85, 0.10), row(2, 300, 0.84, 0.99), row(3, 50, 0.5, 0.5)]
    assert [r.number for r in pareto_front(rows)] == [3, 0, 1]


def test_front_keeps_equal_points_and_drops_dominated_ones():
    rows = [row(0, 100, 0.8, 0), row(1, 100, 0.8, 0), row(2, 100, 0.7, 0), row(3, 150, 0.8, 0)]
    assert sorted(r.number for r in pareto_front(rows)) == [0, 1]


def test_hypervolume_grows_with_a_better_front():
    base = [row(0, 1000, 0.8, 0)]
    assert hypervolume(base, 10000) == pytest.approx(0.8 * 1.0)
    assert hypervolume(base + [row(1, 100, 0.5, 0)], 10000) > hypervolume(base, 10000)
    assert hypervolume(base + [row(1, 2000, 0.7, 0)], 10000) == hypervolume(base, 10000)



def test_hypervolume_of_a_front_by_hand():
    # log10 params 2 and 3 against the reference log10 10,000 = 4: (3-2)*0.5 + (4-3)*0.8.
    rows = [row(0, 100, 0.5, 0), row(1, 1000, 0.8, 0)]
    assert hypervolume(rows, 10000) == pytest.approx(0.5 + 0.8)


def test_a_candidate_stopped_at_a_check_counts_the_part_of_the_epoch_it_trained():
    import json

    from ranksearch.results import Tables, trials_frame

    stopped = make_row(1, 10, None, state="PRUNED", flops=1, curve=[], checks={"0.3333": 0.25})
    later = make_row(2, 20, None, state="PRUNED", flops=1, curve=[0.3], checks={"0.3333": 0.2})
    assert stopped.epochs_run == 0 and stopped.epochs_trained == 0.3333 and stopped.pruned_at_epoch == 0.3333
    assert stopped.last_val_accuracy == 0.25
    assert later.epochs_trained == 1 and later.last_val_accuracy == 0.3
    frame = trials_frame(Tables([stopped, later], [], [], 20, 0.0))
    assert frame.pruned_at_epoch.tolist() == [0.3333, 1.0] and frame.epochs_trained.tolist() == [0.3333, 1.0]
    assert json.loads(frame.val_checks[0]) == {"0.3333": 0.25}
    whole = trials_frame(Tables([later], [], [], 20, 0.0))
    assert str(whole.pruned_at_epoch.dtype) == "Int64" and whole.pruned_at_epoch.tolist() == [1]
