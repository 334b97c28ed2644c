import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_datasets() -> Path:
    """Real datasets: $RANKSEARCH_DATASETS, else ../shared/datasets beside the checkout."""
    return Path(os.environ.get("RANKSEARCH_DATASETS", ROOT.parent / "shared" / "datasets"))


def require_real(sub: str) -> Path:
    path = shared_datasets() / sub
    if not path.exists():
        pytest.skip(f"real dataset not found at {path}; set RANKSEARCH_DATASETS to the folder that holds it")
    return shared_datasets()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own tensor cache, so none reads another's (or the user's)."""
    monkeypatch.setenv("RANKSEARCH_CACHE", str(tmp_path_factory.mktemp("cache")))


def ranksearch(*args: str, cwd: Path | None = None, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real command line in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ranksearch", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env
    )


def write_idx(path: Path, array) -> None:
    import numpy as np

    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.tobytes())


def write_mnist_like(root: Path, n_train: int = 400, n_test: int = 100, seed: int = 0) -> Path:
    """A learnable 10-class, 28x28 grey dataset in torchvision's MNIST layout (ROOT/MNIST/raw)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)

    def images(labels):
        x = rng.integers(0, 60, size=(len(labels), 28, 28))
        for i, c in enumerate(labels):  # class c lights up a 7x7 patch of a 4x4 grid of positions
            r, q = divmod(int(c), 4)
            x[i, 7 * r:7 * r + 7, 7 * q:7 * q + 7] += 150
        return x.clip(0, 255)

    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images(labels))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return root


@pytest.fixture
def mnist_like(tmp_path_factory) -> Path:
    return write_mnist_like(tmp_path_factory.mktemp("data"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _postgres_server(password: str | None = None):
    """Start a real PostgreSQL server from the installed binaries; yield its URL (no password in it).

    With ``password``, connections over TCP must give it (scram-sha-256), as a production server asks.
    """
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not bins:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="psycopg not installed (pip install '.[test]')")
    bindir = bins[-1].parent
    data = Path(tempfile.mkdtemp(prefix="rs-pg-", dir="/tmp"))
    prefix = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(data, "postgres")
        data.chmod(0o700)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    auth = ["-A", "trust"]
    if password is not None:
        pwfile = Path(tempfile.mkstemp(prefix="rs-pg-pw-", dir="/tmp")[1])  # initdb wants its folder empty
        pwfile.write_text(password + "\n")
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres")
        auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
    subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), *auth, "-U", "postgres"], check=True, capture_output=True)
    if password is not None:
        pwfile.unlink()
    subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(data / "log"), "-w", "-o",
                    f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start"], check=True, capture_output=True)
    try:
        subprocess.run([*prefix, str(bindir / "createdb"), "-h", str(data), "-p", str(port), "-U", "postgres", "ranksearch"],
                       check=True, capture_output=True)
        yield f"postgresql://postgres@127.0.0.1:{port}/ranksearch"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def postgres_url():
    """A real PostgreSQL server for this test, started from the installed binaries."""
    yield from _postgres_server()


POSTGRES_PASSWORD = "Pw4-ranksearch-tests"


@pytest.fixture
def postgres_password_url():
    """A real PostgreSQL server that asks for the password ``POSTGRES_PASSWORD``; its URL without it."""
    yield from _postgres_server(POSTGRES_PASSWORD)


def write_image_folder_of_size(root: Path, size: int, classes: int = 3, per_class: int = 20) -> Path:
    """ROOT/{train,test}/<class>/<i>.png of grey size x size noise images."""
    import torch
    from PIL import Image

    gen = torch.Generator().manual_seed(0)
    for split in ("train", "test"):
        for c in range(classes):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                img = torch.randint(0, 256, (size, size), dtype=torch.uint8, generator=gen)
                Image.fromarray(img.numpy()).save(folder / f"{i}.png")
    return root


@pytest.fixture
def tucker2():
    """A family with two ranks, registered for one test: a stand-in for a Tucker-2 convolution
    (1x1 c -> r1, s x s r1 -> r2, 1x1 r2 -> f) with no initialisation from a dense layer."""
    from torch import nn

    from lightlayers.families import Family, register, unregister

    class TwoRankConv(nn.Module):
        def __init__(self, c, f, s, stride, pad, r1, r2):
            super().__init__()
            self.net = nn.Sequential(nn.Conv2d(c, r1, 1, bias=False), nn.Conv2d(r1, r2, s, stride, pad, bias=False),
                                     nn.Conv2d(r2, f, 1))

        def forward(self, x):
            return self.net(x)

    family = register(Family(
        "tucker2", "conv", "Tucker2Conv2d", "T",
        build=lambda s, r: TwoRankConv(s.in_channels, s.out_channels, s.kernel_size, s.stride, s.pad, *r),
        params=lambda s, r: s.in_channels * r[0] + s.kernel_size**2 * r[0] * r[1] + r[1] * s.out_channels + s.out_channels,
        rank_names=("r_in", "r_out"),
        hard_limits=lambda s: (s.in_channels, s.out_channels),
    ))
    yield family
    unregister("conv", "tucker2")


def make_row(number, params, val, test=None, *, role="candidate", family="light", state="COMPLETE", curve=None,
             checks=None, seconds=1.0, spec=None, keras=None, flops=None, latency=None):
    """A study's record, made by hand: ``val`` is the last point of its curve (its final accuracy when complete)."""
    from ranksearch.rows import Record

    measures = {"trainable_params": params, "keras_params": params if keras is None else keras,
                "flops": params if flops is None else flops}
    if latency is not None:
        measures.update(latency_ms=latency, latency_ms_batch=latency / 10)
    curve = list(curve) if curve is not None else ([val] if val is not None else [])
    return Record(role, family, number, state, spec or {"layers": {}}, measures, curve, dict(checks or {}), test, seconds)


def quick_search_config(path: Path, data: Path, **settings) -> Path:
    """A small search's configuration file (1 epoch, 100 images, budget 2, no confirmations) for `ranksearch run --config`."""
    import json
    from dataclasses import replace

    from ranksearch.api import search_config

    defaults = {"dataset": "mnist", "data_dir": str(data), "epochs": 1, "train_subset": 100, "budget": 2}
    cfg = replace(search_config(**{**defaults, **settings}), confirm_seeds=0)
    path.write_text(json.dumps(cfg.to_dict()))
    return path
