"""The house rules that a reader can check: tests mirror the code file by file, functions stay short, and
functions with more than four arguments take the rest by keyword, route handlers only translate."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO_ROOT

PACKAGES = ("mlcore", "service", "training", "brainxai")
# Overrides whose signature a library fixes (lime's LimeImageExplainer.data_labels).
SIGNATURE_FIXED_ELSEWHERE = {("mlcore/lime_sampling.py", "data_labels")}
# Routes translate HTTP to the analysis and back; they are tested end to end, grouped in tests/http/.
TESTED_END_TO_END = "service/http/routes/"


def _modules() -> list[Path]:
    return sorted(p.relative_to(REPO_ROOT) for package in PACKAGES for p in (REPO_ROOT / package).rglob("*.py"))


def _functions(path: Path) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    tree = ast.parse((REPO_ROOT / path).read_text())
    return [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]


def _test_file_for(module: Path) -> Path | None:
    """tests/<package>/test_<name>.py; a package's ``__init__`` is tests/<parent>/test_<package>.py; None for an
    ``__init__`` without functions or classes (nothing to test)."""
    if module.name == "__init__.py":
        tree = ast.parse((REPO_ROOT / module).read_text())
        if not any(isinstance(node, ast.FunctionDef | ast.ClassDef) for node in tree.body):
            return None
        return Path("tests") / module.parent.parent / f"test_{module.parent.name}.py"
    name = "main" if module.name == "__main__.py" else module.stem
    return Path("tests") / module.parent / f"test_{name}.py"


def test_every_module_has_its_test_file() -> None:
    missing = []
    for module in _modules():
        expected = _test_file_for(module)
        if str(module).startswith(TESTED_END_TO_END) or expected is None:
            continue
        if not (REPO_ROOT / expected).is_file():
            missing.append(f"{module} -> {expected}")
    assert not missing, missing


def test_no_function_is_longer_than_sixty_lines() -> None:
    """The product's functions, and the benchmark's: one rule for all code that measures or ships."""
    bench = sorted(p.relative_to(REPO_ROOT) for p in (REPO_ROOT / "bench").glob("*.py"))
    long = [
        f"{module}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"  # type: ignore[operator]
        for module in [*_modules(), *bench]
        for node in _functions(module)
        if node.end_lineno - node.lineno + 1 > 60  # type: ignore[operator]
    ]
    assert not long, long


def test_functions_with_more_than_four_arguments_take_the_rest_by_keyword() -> None:
    offenders = []
    for module in _modules():
        for node in _functions(module):
            positional = [a.arg for a in node.args.posonlyargs + node.args.args if a.arg not in ("self", "cls")]
            if len(positional) > 4 and (str(module), node.name) not in SIGNATURE_FIXED_ELSEWHERE:
                offenders.append(f"{module}:{node.lineno} {node.name}({', '.join(positional)})")
    assert not offenders, offenders


def test_route_handlers_only_translate() -> None:
    long = []
    for module in _modules():
        if str(module).startswith(TESTED_END_TO_END):
            for node in _functions(module):
                routed = any("router" in ast.unparse(d) for d in node.decorator_list)
                if routed and node.end_lineno - node.lineno + 1 > 40:  # type: ignore[operator]
                    long.append(f"{module}:{node.lineno} {node.name}")
    assert not long, long


def test_no_folder_of_the_product_holds_more_than_twelve_modules() -> None:
    """Rooms small enough to see: a folder's modules (its ``__init__`` and ``__main__`` aside) number at most 12."""
    folders: dict[Path, list[str]] = {}
    for module in _modules():
        if module.name not in ("__init__.py", "__main__.py"):
            folders.setdefault(module.parent, []).append(module.stem)
    crowded = {str(folder): len(names) for folder, names in folders.items() if len(names) > 12}
    assert not crowded, crowded


def test_nothing_imports_an_entry_point_but_the_brainxai_command() -> None:
    """``__main__`` modules parse arguments and call functions; no module of the product, bench/ or research/
    imports one (the tests run the commands through theirs, and ``brainxai`` hands its sub-commands to theirs)."""
    offenders = []
    folders = (*PACKAGES, "bench", "research")
    for path in sorted(p for folder in folders for p in (REPO_ROOT / folder).rglob("*.py")):
        module = path.relative_to(REPO_ROOT)
        if str(module) == "brainxai/__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            offenders += [f"{module}:{node.lineno} {name}" for name in names if name.endswith("__main__")]
    assert not offenders, offenders
