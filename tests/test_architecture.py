"""The layering rules, checked on the source: no import cycles; layers know nothing of the search."""

import ast
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


def graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).glob("*.py")}
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
    for path in (ROOT / "lightlayers").glob("*.py"):
        bad = {i for i in imports_of(path) if i.split(".")[0] in ("optuna", "ranksearch", "argparse", "plotly")}
        assert not bad, f"{path.name} imports {bad}"


def test_only_the_command_line_sees_argparse():
    for path in (ROOT / "ranksearch").glob("*.py"):
        if path.name != "cli.py":
            assert "argparse" not in imports_of(path), path.name


def test_the_trainer_and_the_search_know_nothing_of_plotting_or_optuna():
    assert not {i for i in imports_of(ROOT / "ranksearch" / "trainer.py") if i.split(".")[0] in ("optuna", "plotly")}
    assert not {i for i in imports_of(ROOT / "ranksearch" / "search.py") if i.split(".")[0] == "plotly" or i == "ranksearch.report"}
