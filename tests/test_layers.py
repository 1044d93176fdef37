"""Imports flow one way through the package: each module imports only modules of lower layers."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "causal_tutorial"

#: The layers, bottom first (modules of one layer may import each other).
LAYERS = [
    ["checks", "io"],
    ["graphs"],
    ["priors"],
    ["tasks"],
    ["estimators"],
    ["_fastpath", "models"],
    ["analysis"],
    ["device_step", "stacked", "training"],
    ["theory", "plots"],
    ["experiments"],
    ["sweep"],
    ["book", "cli", "__main__", "exercises", "reproduction"],
]
LAYER = {name: k for k, names in enumerate(LAYERS) for name in names}


def _imported_modules(path: Path) -> set[str]:
    """Package modules a file imports (relative imports, anywhere in the file, lazy ones included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = path.parent.name if node.level == 1 and path.parent != PACKAGE else None
            if node.module:
                out.add(node.module.split(".")[0] if base is None or node.level > 1 else base)
            else:
                out.update(a.name for a in node.names if (PACKAGE / f"{a.name}.py").exists())
    return out


def test_every_module_is_in_a_layer():
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"} | {"exercises"}
    assert modules == set(LAYER), f"put {sorted(modules - set(LAYER))} in a layer; drop {sorted(set(LAYER) - modules)}"


def test_imports_flow_one_way():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = "exercises" if path.parent.name == "exercises" else path.stem
        if here == "__init__":
            continue
        for other in _imported_modules(path) - {here}:
            if LAYER[other] > LAYER[here]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {other}")
    assert not wrong, "imports against the flow: " + "; ".join(wrong)
