"""The layering rules, checked on the source: no import cycles; layers know nothing of the search."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("lightlayers", "ranksearch")


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in sources()}
    return {
        name: {i for i in imports_of(path) if i in files and i != name and i not in PACKAGES}
        for name, path in files.items()
    }


def test_no_import_cycles():
    edges = graph()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in edges[node]:
            assert state.get(nxt) != 1, "import cycle: " + " -> ".join(path + [nxt])
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in edges:
        if node not in state:
            visit(node, [node])


def test_lightlayers_knows_nothing_of_the_search():
    for path in (ROOT / "lightlayers").rglob("*.py"):
        bad = {i for i in imports_of(path) if i.split(".")[0] in ("optuna", "ranksearch", "argparse", "plotly")}
        assert not bad, f"{path.name} imports {bad}"


def test_only_the_command_line_sees_argparse():
    for path in (ROOT / "ranksearch").rglob("*.py"):
        if path.name not in ("cli.py", "flags.py"):  # the commands and their parser
            assert "argparse" not in imports_of(path), path.name


def test_the_trainer_and_the_search_know_nothing_of_plotting_or_optuna():
    assert not {i for i in imports_of(ROOT / "ranksearch" / "trainer.py") if i.split(".")[0] in ("optuna", "plotly")}
    for name in ("trial_loop.py", "baselines.py", "jobs.py", "lifecycle.py", "records.py"):
        assert not {i for i in imports_of(ROOT / "ranksearch" / name)
                    if i.split(".")[0] == "plotly" or i in ("ranksearch.figures", "ranksearch.page", "ranksearch.report")}, name


# What a trial holds is said in one place (records.py); the storage calls Optuna keeps private in another.
ATTRIBUTE_ACCESS = re.compile(r"\b(user_attrs|system_attrs|set_user_attr|set_system_attr)\b|\._storage\b|\._trial_id\b|\._study_id\b")


def test_trial_attributes_and_private_storage_calls_live_in_two_modules():
    found = {p.relative_to(ROOT).as_posix() for p in (ROOT / "ranksearch").rglob("*.py") if ATTRIBUTE_ACCESS.search(p.read_text())}
    assert found <= {"ranksearch/records.py", "ranksearch/storage.py"}, found


def test_every_module_has_one_job_and_under_400_lines():
    long = {p.relative_to(ROOT).as_posix(): n for p in sources() if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_readme_names_every_module_in_its_repository_table():
    """A new module gets its line in README's table of one job per module (private ones and the
    registries' kind folders, named there as folders, aside)."""
    table = (ROOT / "README.md").read_text().split("## Repository", 1)[1]
    modules = [p for pkg in PACKAGES for p in (ROOT / pkg).glob("*.py") if not p.name.startswith("_")]
    assert [p.name for p in modules if f"{p.name}`" not in table] == []
