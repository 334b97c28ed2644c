import pytest

from ranksearch.results import Row, hypervolume, pareto_front


def row(n, params, val, test):
    return Row(number=n, state="COMPLETE", role="candidate", family="light", trainable_params=params, keras_params=params,
               flops=params, val_accuracy=val, test_accuracy=test, val_curve=[val], seconds=1.0, spec={"layers": {}})


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
