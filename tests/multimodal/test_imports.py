"""The core never imports `multimodal.tasks`: tasks depend on the core, not the other way round.
Only the training wiring (`train.py`, callbacks) and the command-line tools may import them; the
registry reaches task classes by name, when a config names them."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WIRING = ("multimodal/train.py", "multimodal/callbacks/", "multimodal/cli/")


def core_modules() -> list[Path]:
    files = sorted((ROOT / "multimodal").rglob("*.py")) + sorted((ROOT / "tokenizers").glob("*.py"))
    return [f for f in files if not f.relative_to(ROOT).as_posix().startswith(WIRING)]


def imported(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def is_tasks(name: str) -> bool:
    return name == "multimodal.tasks" or name.startswith("multimodal.tasks.")


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_core_imports_no_task(path):
    assert sorted(filter(is_tasks, imported(path))) == []


def test_the_check_sees_imports_of_either_form(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        "import multimodal.tasks.task\n"
        "from multimodal import tasks\n"
        "def f():\n"
        "    from multimodal.tasks.lm_head import LMHead\n"
    )
    found = sorted(filter(is_tasks, imported(source)))
    assert {"multimodal.tasks", "multimodal.tasks.lm_head", "multimodal.tasks.task"} <= set(found)
    assert len(core_modules()) > 30  # the whole core is checked
