import json

import pytest

from conftest import ranksearch
from test_models import PAPER_TABLE

pytestmark = pytest.mark.slow  # the command line in a subprocess for every case


@pytest.mark.parametrize("dataset,family,rank,expected", PAPER_TABLE[::3] + PAPER_TABLE[-6:])
def test_summary_json_matches_the_paper(dataset, family, rank, expected):
    args = ["summary", "--dataset", dataset, "--family", family, "--json"]
    if rank is not None:
        args += ["--rank", str(rank)]
    proc = ranksearch(*args)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["keras_params"] == expected
    assert out["trainable_params"] < expected
    assert out["flops"] == sum(layer["flops"] for layer in out["layers"])


def test_summary_table_lists_every_layer_with_its_rank():
    proc = ranksearch("summary", "--dataset", "cifar10", "--family", "light", "--rank", "3")
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()]
    layer_rows = {r[0]: r for r in rows if r and r[0].startswith(("block", "head"))}
    assert len(layer_rows) == 10
    assert layer_rows["block2.conv1"][1:3] == ["light", "3"] and layer_rows["head"][1:3] == ["light", "8"]
    assert "13,247" in proc.stdout


def test_summary_cifar100_has_a_100_class_head():
    out = json.loads(ranksearch("summary", "--dataset", "cifar100", "--family", "conv", "--json").stdout)
    assert out["layers"][-1]["params"] == 64 * 100 + 100


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--dataset", "imagenet", "--family", "conv"], "imagenet"),
        (["--dataset", "mnist", "--family", "tucker"], "tucker"),
        (["--dataset", "mnist", "--family", "light"], "--rank"),
        (["--dataset", "mnist", "--family", "light", "--rank", "0"], "0"),
        (["--dataset", "mnist", "--family", "light", "--rank", "two"], "two"),
        (["--dataset", "mnist", "--family", "conv", "--rank", "2"], "takes no --rank"),
        (["--dataset", "mnist", "--family", "decef", "--rank", "10"], "10"),
    ],
)
def test_summary_bad_values_get_one_line_and_nonzero_exit(args, needle):
    proc = ranksearch("summary", *args)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
