"""The wheel one would publish: built the way pip builds it, opened and read as an installer reads it."""

import email
import importlib.util
import re
import shutil
import subprocess
import sys
import zipfile
from email.message import Message
from pathlib import Path

import pytest

import ranksearch

pytestmark = pytest.mark.slow  # builds and installs the wheel

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("lightlayers", "ranksearch")
REPOSITORY = "https://github.com/ranksearch/ranksearch"


def _copy_sources(dst: Path) -> None:
    """Top-level files (pyproject, README, LICENSE) and the package folders, nothing else.

    Building from a copy keeps setuptools' build/ folder out of the checkout, and keeps files
    left there by an earlier build (a module since deleted, say) out of this wheel.
    """
    for entry in ROOT.iterdir():
        if entry.is_file():
            shutil.copy2(entry, dst / entry.name)
        elif (entry / "__init__.py").is_file():
            shutil.copytree(entry, dst / entry.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    if importlib.util.find_spec("pip") is None:
        pytest.skip("pip is not installed in this environment, so no wheel can be built")
    src = tmp_path_factory.mktemp("src")
    out = tmp_path_factory.mktemp("wheel")
    _copy_sources(src)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    built = sorted(out.glob("ranksearch-*.whl"))
    assert len(built) == 1, [p.name for p in out.iterdir()]
    with zipfile.ZipFile(built[0]) as zf:
        yield zf


def _dist_info(wheel: zipfile.ZipFile) -> str:
    dirs = {name.split("/")[0] for name in wheel.namelist() if name.split("/")[0].endswith(".dist-info")}
    assert len(dirs) == 1, dirs
    return dirs.pop()


@pytest.fixture(scope="module")
def metadata(wheel) -> Message:
    return email.message_from_bytes(wheel.read(f"{_dist_info(wheel)}/METADATA"))


def test_wheel_holds_both_packages_typed_and_nothing_else(wheel):
    names = wheel.namelist()
    for package in PACKAGES:
        assert f"{package}/__init__.py" in names
        assert f"{package}/py.typed" in names, f"{package} is not marked as typed (PEP 561)"
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == set(PACKAGES), "only the two packages belong in the wheel (no tests/, studies/)"
    modules = {p.relative_to(ROOT).as_posix() for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    assert modules <= set(names), f"modules missing from the wheel: {sorted(modules - set(names))}"


def test_wheel_ships_the_data_files(wheel):
    csvs = {p.relative_to(ROOT).as_posix() for p in (ROOT / "lightlayers" / "data").glob("*.csv")}
    assert csvs <= set(wheel.namelist()), f"data missing from the wheel: {sorted(csvs - set(wheel.namelist()))}"


def test_wheel_carries_the_license(wheel, metadata):
    dist_info = _dist_info(wheel)
    license_files = [n for n in wheel.namelist() if n in (f"{dist_info}/LICENSE", f"{dist_info}/licenses/LICENSE")]
    assert license_files, "LICENSE is not in the wheel's dist-info"
    shipped = wheel.read(license_files[0]).decode()
    assert shipped == (ROOT / "LICENSE").read_text()
    assert "Apache License" in shipped and "Version 2.0" in shipped
    assert metadata["License-Expression"] == "Apache-2.0"
    assert "LICENSE" in metadata.get_all("License-File", [])


def test_metadata_describes_the_project(metadata):
    assert metadata["Name"] == "ranksearch"
    assert metadata["Version"] == ranksearch.__version__, "the wheel's version and ranksearch.__version__ differ"
    assert metadata["Requires-Python"] == ">=3.10"
    assert metadata["Author"] == "the ranksearch authors"
    assert metadata["Keywords"]
    classifiers = set(metadata.get_all("Classifier", []))
    assert {
        "Development Status :: 3 - Alpha",
        "Intended Audience :: Science/Research",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Typing :: Typed",
    } <= classifiers
    urls = dict(line.split(", ", 1) for line in metadata.get_all("Project-URL", []))
    assert urls == {"Homepage": REPOSITORY, "Repository": REPOSITORY, "Issues": f"{REPOSITORY}/issues"}
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert "# ranksearch" in metadata.get_payload()


def test_metadata_requires_every_library_the_code_imports(metadata):
    required = {}
    for req in metadata.get_all("Requires-Dist", []):
        name = re.match(r"[A-Za-z0-9._-]+", req).group(0).lower()
        if "extra ==" not in req:
            required[name] = req
    for name in ("numpy", "tqdm", "torch", "torchvision", "optuna", "pandas", "plotly"):
        assert name in required, f"{name} is imported by the code but not a dependency"
    assert required["numpy"] == "numpy>=1.24" and required["tqdm"] == "tqdm>=4.60"


def test_the_deploy_extra_installs_onnx_and_onnxruntime_and_the_tests_have_them(metadata):
    extras: dict[str, set[str]] = {}
    for req in metadata.get_all("Requires-Dist", []):
        extra = re.search(r'extra == "([a-z]+)"', req)
        if extra:
            extras.setdefault(extra.group(1), set()).add(re.match(r"[A-Za-z0-9._-]+", req).group(0).lower())
    assert {"onnx", "onnxruntime"} <= extras["deploy"] <= extras["test"]
    assert "deploy" in metadata.get_all("Provides-Extra", [])


def test_wheel_installs_the_command(wheel):
    entry_points = wheel.read(f"{_dist_info(wheel)}/entry_points.txt").decode()
    assert re.search(r"^ranksearch\s*=\s*ranksearch\.cli:main$", entry_points, re.M), entry_points
