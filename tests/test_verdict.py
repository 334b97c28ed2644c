"""The verdict's rules on hand-made rows, and its numbers against the committed study's trials.csv."""

import csv
import json
from pathlib import Path

import pytest

from conftest import make_row
from lightlayers import reference_spec
from ranksearch.config import DataConfig, SearchConfig, make_recipe
from ranksearch.labels import duration, layers_label, parent_name, reference_name
from ranksearch.results import Tables, pareto_front
from ranksearch.verdict import knee, verdict

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "studies" / "fashion-mnist-light"


def cfg(budget=10, epochs=5, space="light"):
    return SearchConfig(data=DataConfig("fashion-mnist"), recipe=make_recipe("fast", "fashion-mnist", epochs), family=space,
                        budget=budget, study_name="hand-made", start="scratch")


def cand(number, params, val, test=None, state="COMPLETE", epochs=5, seconds=10.0, rank=2):
    curve = [0.5] * (epochs - 1) + [val if val is not None else 0.6]
    test = (val - 0.005 if test is None and val is not None else test) if state == "COMPLETE" else None
    return make_row(number, params, val, test, state=state, curve=curve, seconds=seconds, keras=params + 224,
                    flops=10 * params, spec=reference_spec("fashion-mnist", "light", rank).to_dict())


def base(family, params, val, test=None, seconds=8.0):
    return make_row(None, params, val, val - 0.002 if test is None else test, role="baseline", family=family,
                    curve=[0.5] * 4 + [val], seconds=seconds, keras=params + 224, flops=10 * params,
                    spec=reference_spec("fashion-mnist", family.partition("@")[0]).to_dict())


def tables(cands, bases, wall=0.0):
    front = pareto_front([c for c in cands if c.state == "COMPLETE"])
    for r in front:
        r.on_front = True
    conv = next((b for b in bases if b.family == "conv"), None)
    return Tables(cands, bases, front, conv.trainable_params if conv else 1, 0.0, [], wall)


# The shape of the committed Fashion-MNIST study: a separable baseline above most of the front.
def fashion_like():
    cands = [
        cand(30, 2341, 0.8020), cand(29, 4012, 0.8333), cand(3, 7654, 0.8592), cand(6, 11776, 0.8745, test=0.8720),
        cand(7, 5000, 0.8100), cand(8, 6000, None, state="PRUNED", epochs=2),
    ]
    return tables(cands, [base("conv", 18594, 0.8873, 0.8871), base("separable", 3387, 0.8595, 0.8549)])


def test_a_baseline_above_part_of_the_front_is_said_with_its_range():
    v = verdict(fashion_like(), cfg())
    sep = next(d for d in v.dominance if d.baseline == "separable")
    assert (sep.low, sep.high, sorted(sep.members), sep.whole_front) == (3387, 11775, [3, 29], False)
    text = " ".join(v.sentences)
    assert ("The SeparableConv2d baseline (3,387 parameters, val 0.8595) is at least as accurate as every candidate "
            "between 3,387 and 11,775 parameters (2 front members): below 11,776 parameters, take the SeparableConv2d baseline") in text
    assert not any(d.baseline == "conv" for d in v.dominance)  # nothing on the front is larger than Conv2d


def test_the_knee_of_candidates_and_baselines_is_taken():
    v = verdict(fashion_like(), cfg())
    assert [o.key for o in v.options] == ["trial 30", "baseline separable", "trial 6", "baseline conv"]
    assert v.take_reason == "knee" and v.take.key == "baseline separable" and v.knee == v.take
    assert v.most_accurate.key == "baseline conv"
    assert v.sentences[0].startswith("Take the SeparableConv2d baseline (3,387 parameters, val 0.8595, test 0.8549)")


def test_knee_rule_on_a_plain_front():
    rows = [cand(1, 1000, 0.70), cand(2, 2000, 0.85), cand(3, 4000, 0.86), cand(4, 10000, 0.88)]
    assert knee(rows).number == 2
    assert knee(rows[:2]) is None  # fewer than 3 points: no knee
    convex = [cand(1, 1000, 0.70), cand(2, 5000, 0.71), cand(3, 10000, 0.88)]
    assert knee(convex) is None  # nothing above the chord
    v = verdict(tables(convex, []), cfg())
    assert v.take_reason == "most accurate" and v.take.number == 3 and "has no knee" in v.sentences[0]


def test_a_baseline_that_beats_the_whole_front_is_said_first():
    t = tables([cand(1, 5000, 0.80), cand(2, 9000, 0.84)], [base("conv", 18594, 0.90), base("separable", 3387, 0.86)])
    v = verdict(t, cfg())
    sep = next(d for d in v.dominance if d.baseline == "separable")
    assert sep.whole_front and sep.high is None
    assert v.sentences[0].startswith("The SeparableConv2d baseline (3,387 parameters, val 0.8600) is no larger than the "
                                     "smallest candidate on the front and at least as accurate as every candidate")


def test_a_baseline_above_every_larger_candidate():
    t = tables([cand(1, 2000, 0.70), cand(2, 5000, 0.80), cand(3, 9000, 0.84)], [base("separable", 3387, 0.86)])
    sep = verdict(t, cfg()).dominance[0]
    assert (sorted(sep.members), sep.low, sep.high, sep.whole_front) == ([2, 3], 3387, None, False)
    assert ("is at least as accurate as every candidate with 3,387 parameters or more (2 front members): no candidate "
            "that size is worth taking over the SeparableConv2d baseline.") in " ".join(verdict(t, cfg()).sentences)


def test_a_baseline_between_candidates_that_none_no_larger_matches_is_said_as_not_beaten():
    # The separable network dominates no candidate (every larger one is more accurate), yet none no larger matches it.
    t = tables([cand(1, 3164, 0.6692), cand(2, 3934, 0.7697), cand(3, 18546, 0.8457)],
               [base("conv", 18594, 0.8443), base("separable", 3387, 0.7583), base("conv@0.5", 4838, 0.7600)])
    v = verdict(t, cfg())
    assert v.dominance == []
    # conv@0.5 is not listed: trial 2 is smaller and more accurate; Conv2d is not: trial 3 is.
    assert [(u.baseline.key, u.best_no_larger.key) for u in v.unbeaten] == [("baseline separable", "trial 1")]
    assert v.unbeaten[0].val_points == pytest.approx(100 * (0.6692 - 0.7583))
    assert ("The search did not beat the SeparableConv2d baseline (3,387 parameters, val 0.7583) at its size: the most "
            "accurate candidate no larger, trial 1 (3,164 parameters, val 0.6692, test 0.6642), is 8.91 points under it "
            "in validation accuracy.") in v.sentences


def test_a_baseline_not_beaten_only_within_seed_noise_is_said_so():
    sep = base("separable", 3387, 0.7600)
    sep.seeds = [(0, 0.7600, 0.75), (1, 0.7550, 0.75), (2, 0.7620, 0.75)]  # mean 0.7590, range 0.7550-0.7620
    t = tables([cand(1, 3336, 0.7580), cand(2, 3934, 0.7697), cand(3, 18546, 0.8457)], [base("conv", 18594, 0.8443), sep])
    u = next(u for u in verdict(t, cfg()).unbeaten if u.baseline.family == "separable")
    assert u.best_no_larger.number == 1 and u.within_noise
    said = next(s for s in verdict(t, cfg()).sentences if s.startswith("The search did not beat the SeparableConv2d"))
    assert "(3,387 parameters, val 0.7590 (0.7550-0.7620 over 3 seeds)) at its size" in said  # its mean, labelled
    assert said.endswith("0.10 points under it in validation accuracy, level within seed noise.")
    sep.seeds = [(0, 0.7600, 0.75), (1, 0.7650, 0.75), (2, 0.7700, 0.75)]  # 0.7600-0.7700: trial 1's 0.7580 is below
    u = next(u for u in verdict(t, cfg()).unbeaten if u.baseline.family == "separable")
    assert not u.within_noise


def test_a_network_the_most_accurate_one_matches_at_its_size_is_not_said_as_not_beaten():
    # The parent, before its fine-tune, is the Conv2d baseline's network and less accurate: "did not beat the parent"
    # would repeat what the most accurate network already says.
    parent = make_row(0, 18594, 0.8910, 0.8890, role="parent", family="parent", curve=[0.5] * 4 + [0.8910],
                      spec=reference_spec("fashion-mnist", "conv").to_dict())
    t = tables([cand(1, 3164, 0.6692), cand(2, 8000, 0.8400), cand(3, 17786, 0.8708)],
               [parent, base("conv", 18594, 0.8928), base("separable", 3387, 0.7583)])
    v = verdict(t, cfg())
    assert {u.baseline.key for u in v.unbeaten} == {"baseline conv", "baseline separable"}
    assert not any("did not beat the parent" in s for s in v.sentences)
    t = tables([cand(1, 3164, 0.6692), cand(3, 17786, 0.8708)], [parent, base("separable", 3387, 0.7583)])
    assert "parent" in {u.baseline.key for u in verdict(t, cfg()).unbeaten}  # the most accurate of all: kept


def test_what_dominance_or_the_saving_already_says_is_not_repeated_and_a_baseline_below_every_candidate_is_said():
    v = verdict(fashion_like(), cfg())
    assert {u.baseline.key: u.best_no_larger.number for u in v.unbeaten} == {"baseline separable": 30, "baseline conv": 6}
    text = " ".join(v.sentences)
    assert "The search did not beat" not in text  # the separable one's dominance and the saving against conv say it
    t = tables([cand(1, 5000, 0.80), cand(2, 9000, 0.84)], [base("conv", 18594, 0.90), base("separable", 3387, 0.70)])
    assert ("The search did not beat the SeparableConv2d baseline (3,387 parameters, val 0.7000) at its size: no candidate "
            "is that small.") in verdict(t, cfg()).sentences


def test_budgets_name_the_best_option_and_the_best_candidate():
    v = verdict(fashion_like(), cfg())
    by = {round(b.fraction, 2): b for b in v.budgets}
    assert by[0.1].max_params == 1859 and by[0.1].best is None and by[0.1].best_candidate is None
    assert by[0.25].max_params == 4648 and by[0.25].best.key == "baseline separable" and by[0.25].best_candidate.number == 29
    assert by[0.5].best.key == "baseline separable" and by[0.5].best_candidate.number == 3
    text = " ".join(v.sentences)
    assert "Within 10 % of the Conv2d baseline's parameters (1,859): nothing was trained; the smallest option is trial 30" in text
    assert "the best candidate there is trial 3 (7,654 parameters, val 0.8592, test 0.8542)" in text


def test_saving_against_conv_in_parameters_and_points():
    v = verdict(fashion_like(), cfg())
    s = v.saving
    assert s.candidate.number == 6
    assert s.times_fewer == pytest.approx(18594 / 11776) and s.percent_fewer == pytest.approx(100 * (1 - 11776 / 18594))
    assert s.val_points == pytest.approx(100 * (0.8745 - 0.8873)) and s.test_points == pytest.approx(100 * (0.8720 - 0.8871))
    text = " ".join(v.sentences)
    assert ("The most accurate candidate, trial 6 (11,776 parameters, val 0.8745, test 0.8720), has 1.58x fewer parameters "
            "than the Conv2d baseline (18,594, val 0.8873, test 0.8871), 36.7 % fewer, with 1.28 points less validation "
            "accuracy and 1.51 points less test accuracy.") in text
    assert "No candidate comes within 1 point of the Conv2d baseline's validation accuracy (0.8873)." in text


def test_a_candidate_barely_smaller_than_conv_is_said_in_percent():
    v = verdict(tables([cand(10, 18562, 0.8900, test=0.8890)], [base("conv", 18594, 0.8873, 0.8871)]), cfg())
    text = " ".join(v.sentences)
    assert "trial 10 (18,562 parameters, val 0.8900, test 0.8890), has 0.2 % fewer parameters than the Conv2d" in text
    assert "1.00x" not in text


def test_the_smallest_candidate_close_to_conv():
    t = tables([cand(1, 3000, 0.80), cand(2, 6000, 0.880), cand(3, 9000, 0.885)], [base("conv", 18594, 0.8873)])
    v = verdict(t, cfg())
    assert v.close_to_conv.number == 2
    assert "The smallest candidate within 1 point of the Conv2d baseline's validation accuracy is trial 2 (6,000 parameters" in \
        " ".join(v.sentences)


def test_cost_counts_epochs_pruning_and_wall_time():
    cands = [cand(i, 1000 * (i + 1), 0.8 + i / 100, seconds=10.0) for i in range(3)]
    cands += [cand(3, 2500, None, state="PRUNED", epochs=2, seconds=4.0), cand(4, 3500, None, state="PRUNED", epochs=1, seconds=2.0)]
    v = verdict(tables(cands, [base("conv", 18594, 0.90, seconds=8.0)]), cfg(budget=5, epochs=5))
    c = v.cost
    assert (c.epochs_trained, c.epochs_budget, c.epochs_saved, c.pruned, c.complete) == (18, 25, 7, 2, 3)
    assert c.seconds_per_candidate == pytest.approx(10.0) and c.seconds_per_epoch == pytest.approx(2.0)
    assert c.seconds_saved == pytest.approx(14.0) and c.training_seconds == pytest.approx(44.0) and c.wall_seconds is None
    assert "wall time not recorded" in v.sentences[-1]
    assert "18 of the budget's 25 candidate-epochs trained (5 candidates x 5 epochs)" in v.sentences[-1]
    assert "pruning stopped 2 candidates early and saved 7 epochs, about 14 s" in v.sentences[-1]
    v = verdict(tables(cands, [], wall=807.0), cfg(budget=5, epochs=5))
    assert v.cost.wall_seconds == 807.0 and "wall time 13 min 27 s" in v.sentences[-1]


def test_json_and_terminal_forms():
    v = verdict(fashion_like(), cfg())
    d = json.loads(json.dumps(v.to_dict()))
    assert d["take"]["trainable_params"] == 3387 and d["sentences"] == v.sentences
    lines = v.lines()
    assert lines[0] == "Verdict for hand-made (fashion-mnist):" and lines[1].startswith("  - Take ")
    assert all(len(line) <= 100 for line in lines)


def test_nothing_finished():
    v = verdict(tables([], []), cfg())
    assert v.take is None and v.sentences[0].startswith("No candidate or baseline has finished")


def test_layer_labels_come_from_the_family_registry():
    spec = reference_spec("fashion-mnist", "light", 3).to_dict()
    assert layers_label(spec) == "light k=3 3 3 3 3 3; head light k=8"
    assert layers_label(reference_spec("fashion-mnist", "separable").to_dict()) == "separable; head linear"
    spec["layers"]["block1.conv1"] = {"family": "conv"}
    spec["layers"]["block2.conv2"] = {"family": "decef", "rank": 2}
    spec["layers"]["head"] = {"family": "linear"}
    assert layers_label(spec) == "conv, light k=3, light k=3, decef r=2, light k=3, light k=3; head linear"


def test_duration():
    assert [duration(s) for s in (45, 807, 7500)] == ["45 s", "13 min 27 s", "2 h 05 min"]


def test_the_committed_studys_verdict_matches_its_trials_csv():
    from ranksearch.results import study_tables
    from ranksearch.storage import open_run

    run = open_run(STUDY)
    v = verdict(study_tables(run.study, run.config), run.config)
    with open(STUDY / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    key = {(r["role"], r["family"] if r["role"] == "baseline" else r["number"]): r for r in rows}

    def csv_row(choice):
        return key[("baseline", choice.family)] if choice.role == "baseline" else key[("candidate", str(choice.number))]

    for choice in [v.take, v.most_accurate, *v.options, v.saving.candidate, v.saving.conv,
                   *(c for b in v.budgets for c in (b.best, b.best_candidate) if c)]:
        r = csv_row(choice)
        assert choice.trainable_params == int(r["trainable_params"]) and choice.flops == int(r["flops"])
        assert choice.val_accuracy == float(r["val_accuracy"]) and choice.test_accuracy == float(r["test_accuracy"])
        assert round(choice.seconds, 2) == float(r["seconds"])
        assert f"val {float(r['val_accuracy']):.4f}, test {float(r['test_accuracy']):.4f}" in choice.brief()
    assert v.take.key == "baseline separable"
    sep = next(d for d in v.dominance if d.baseline == "separable")
    assert (sep.low, sep.high) == (3387, 11775)
    front = {r["number"] for r in rows if r["on_front"] == "True"}
    assert {str(n) for n in sep.members} <= front
    cands = [r for r in rows if r["role"] == "candidate"]
    assert v.cost.epochs_trained == sum(int(r["epochs_run"]) for r in cands) == 227
    assert v.cost.epochs_budget == 250 and v.cost.epochs_saved == 23
    assert v.cost.pruned == sum(r["state"] == "PRUNED" for r in cands) == 8
    assert v.cost.wall_seconds is None
    summary = json.loads((STUDY / "summary.json").read_text())
    assert summary["sentences"] == v.sentences  # the committed summary.json is this verdict


def test_what_the_search_bought_against_the_baselines_curve_at_equal_accuracy():
    # A thinner Conv2d at 4,000 parameters reaches 0.80, at 10,000 0.86: a candidate with 4,000
    # parameters at 0.83 would need 10 ** ((log10 4000 + log10 10000) / 2) = 6,325 along that curve.
    bases = [base("conv", 18594, 0.8873), base("conv@0.5", 4000, 0.80), base("conv@0.75", 10000, 0.86)]
    v = verdict(tables([cand(1, 4000, 0.83), cand(2, 3000, 0.70)], bases), cfg())
    assert [c.name for c in v.baseline_curve] == ["the Conv2d x0.5 baseline", "the Conv2d x0.75 baseline", "the Conv2d baseline"]
    best = v.best_curve_saving
    assert best.candidate.number == 1 and best.baseline_params == 6325 and best.times_fewer == pytest.approx(1.581, abs=1e-3)
    assert best.between == ["the Conv2d x0.5 baseline", "the Conv2d x0.75 baseline"]
    assert next(c for c in v.curve_savings if c.candidate.number == 2).baseline_params is None  # below the curve's start
    assert any("about 6,325 parameters" in s and "1.58x more" in s for s in v.sentences)
    # A front the curve beats everywhere buys nothing, and the verdict says so.
    lost = verdict(tables([cand(1, 9000, 0.81)], bases), cfg())
    assert lost.best_curve_saving is None and any("saved no parameters" in s for s in lost.sentences)
    # A candidate exactly as accurate as one curve point is read off that point, not "between" it alone.
    level = verdict(tables([cand(1, 5000, 0.86)], bases), cfg())
    assert level.best_curve_saving.between == ["the Conv2d x0.75 baseline"]
    assert any("10,000 parameters (Conv2d x0.75 baseline, as accurate): 2.00x more" in s for s in level.sentences)


def test_a_front_more_accurate_than_every_baseline_is_not_said_to_have_bought_nothing():
    # Weak baselines (a short recipe): every candidate is past the curve's most accurate point, so no
    # size on the curve matches them; the verdict must not say that no candidate beats the curve.
    bases = [base("separable", 3387, 0.46), base("conv", 18594, 0.57)]
    v = verdict(tables([cand(1, 4482, 0.78), cand(2, 8706, 0.887)], bases), cfg())
    assert v.best_curve_saving is None
    text = " ".join(v.sentences)
    assert "saved no parameters" not in text
    assert "no saving can be read at equal validation accuracy: trial 2 (val 0.8870) and 1 more of the front are more " \
           "accurate than every network on it" in text


def test_without_a_conv_baseline_the_budgets_and_the_saving_are_measured_against_the_parent():
    parent = make_row(None, 18594, 0.88, 0.879, role="parent", family="parent", curve=[0.5] * 4 + [0.88],
                      spec=reference_spec("fashion-mnist", "conv").to_dict())
    v = verdict(tables([cand(1, 4482, 0.85), cand(2, 8706, 0.87)], [parent, base("separable", 3387, 0.84)]), cfg())
    assert [b.max_params for b in v.budgets] == [1859, 4648, 9297]
    assert v.saving.conv.trainable_params == 18594 and v.saving.candidate.number == 2
    assert any(s.startswith("Within 25 % of the parent") for s in v.sentences)


def test_confirmed_networks_are_judged_on_their_mean_and_level_within_seed_noise_is_said():
    # The separable baseline and trial 6, each trained with three seeds: their validation ranges overlap.
    sep = base("separable", 3387, 0.8595)
    sep.seeds = [(0, 0.8595, 0.8549), (1, 0.8530, 0.8500), (2, 0.8610, 0.8560)]
    six = cand(6, 11776, 0.8745, test=0.8720)
    six.seeds = [(0, 0.8745, 0.8720), (1, 0.8560, 0.8570), (2, 0.8600, 0.8610)]
    v = verdict(tables([cand(3, 7654, 0.8592), six], [sep]), cfg())
    chosen = {c.key: c for c in v.options}
    assert chosen["trial 6"].val_accuracy == pytest.approx((0.8745 + 0.8560 + 0.8600) / 3)  # the mean, not seed 0's
    assert chosen["trial 6"].val_accuracy_seeds == [0.8745, 0.8560, 0.8600]
    # Level with the separable baseline (ranges overlap), and with trial 3, whose one seed lies within trial 6's range.
    assert v.take.key == "trial 6" and [(n.second.key, n.level) for n in v.noise] == [("baseline separable", True), ("trial 3", True)]
    assert ("Trial 6 and the SeparableConv2d baseline are level within seed noise: their validation accuracies over 3 "
            "and 3 seeds range 0.8560-0.8745 and 0.8530-0.8610, which overlap.") in v.sentences
    # Apart: one range above the other.
    six.seeds = [(0, 0.8745, 0.8720), (1, 0.8700, 0.8650), (2, 0.8720, 0.8700)]
    v = verdict(tables([cand(3, 7654, 0.8592), six], [sep]), cfg())
    assert any(n.level is False for n in v.noise)
    assert any("is ahead of" in s and "beyond seed noise" in s for s in v.sentences)


def test_a_network_of_one_seed_is_judged_against_a_confirmed_one_by_its_one_value():
    # The most accurate candidate, one seed, against the Conv2d baseline trained with three: level while its
    # value lies inside the Conv2d's range, ahead once it lies above it. Hand-made rows: the headline's shape.
    conv = base("conv", 76122, 0.8190)
    conv.seeds = [(0, 0.8190, 0.8056), (1, 0.8132, 0.8066), (2, 0.8126, 0.8042)]
    sep = base("separable", 13768, 0.7500)
    sep.seeds = [(0, 0.7500, 0.7376), (1, 0.7446, 0.7383), (2, 0.7474, 0.7398)]
    small = cand(5, 13717, 0.7456, test=0.7406)
    v = verdict(tables([small, cand(8, 69178, 0.8154, test=0.8040)], [conv, sep]), cfg())
    pairs = {frozenset((n.first.key, n.second.key)): n.level for n in v.noise}
    assert pairs[frozenset(("trial 8", "baseline conv"))] is True
    assert ("Trial 8 and the Conv2d baseline are level within seed noise: the validation accuracy of trial 8, 0.8154 "
            "from one seed, lies within the Conv2d baseline's 0.8126-0.8190 over 3 seeds.") in v.sentences
    assert v.take.key == "baseline separable"  # the knee; level with the smaller candidate its range covers
    assert pairs[frozenset(("trial 5", "baseline separable"))] is True
    v = verdict(tables([small, cand(8, 69178, 0.8250, test=0.8100)], [conv, sep]), cfg())
    assert {frozenset((n.first.key, n.second.key)): n.level for n in v.noise}[frozenset(("trial 8", "baseline conv"))] is False
    assert ("Trial 8 is ahead of the Conv2d baseline beyond seed noise: validation 0.8250 (one seed) against "
            "0.8126-0.8190 (3 seeds).") in v.sentences
    # Neither side confirmed: no claim about noise at all.
    v = verdict(tables([cand(8, 69178, 0.8154)], [base("conv", 76122, 0.8190)]), cfg())
    assert v.noise == []


def test_the_verdict_names_a_users_networks_and_the_parent_without_brackets():
    """A name is followed by "(N parameters, ...)" in the verdict: a bracket of its own would double it."""
    names = [reference_name(b, "SmallVGG") for b in ("conv", "separable", "given", "conv@0.5")]
    assert names == ["your SmallVGG", "your SmallVGG with every convolution separable", "your SmallVGG as given",
                     "the Conv2d x0.5 baseline"]
    assert parent_name("the dense network trained 5 epochs") == "the parent trained 5 epochs"
    assert parent_name("your network as given, not retrained", "resnet20") == "your resnet20 as given"
    assert parent_name("your network as given, not retrained") == "your network as given"
    assert not any("(" in n for n in names + [parent_name("")])
