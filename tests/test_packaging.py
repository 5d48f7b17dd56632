"""The wheel holds every module and config; our packages never shadow top-level ones."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "multimodal": "multimodal",
    "tokenizers": "multimodal/tokenizers",
    "tasks": "multimodal/tasks",
}


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> set[str]:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            out,
            ROOT,
        ],
        check=True,
    )
    (wheel,) = out.glob("tokenize_anything-*.whl")
    return set(zipfile.ZipFile(wheel).namelist())


def test_wheel_holds_every_module(wheel_names):
    for folder, installed in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            assert f"{installed}/{path.relative_to(ROOT / folder).as_posix()}" in wheel_names


def test_wheel_holds_every_config(wheel_names):
    configs = list((ROOT / "conf").rglob("*.yaml"))
    assert len(configs) > 10
    for path in configs:
        assert f"multimodal/conf/{path.relative_to(ROOT / 'conf').as_posix()}" in wheel_names


def test_no_top_level_tokenizers_or_tasks(wheel_names):
    tops = {name.split("/")[0] for name in wheel_names}
    assert not tops & {"tokenizers", "tasks", "conf"}


def test_top_level_tokenizers_and_tasks_are_not_shadowed(tmp_path):
    code = (
        "import importlib.util, multimodal.tokenizers.text, multimodal.tasks.module\n"
        "print(multimodal.tokenizers.__file__)\n"
        "for name in ('tokenizers', 'tasks'):\n"
        "    spec = importlib.util.find_spec(name)\n"
        "    print(spec.origin if spec else None)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    ours, top_tokenizers, top_tasks = out.stdout.split()
    assert Path(ours) == ROOT / "tokenizers" / "__init__.py"
    for origin in (top_tokenizers, top_tasks):  # another package's, or none at all
        assert origin == "None" or not Path(origin).is_relative_to(ROOT / Path(origin).parent.name)


def test_console_script_finds_packaged_configs(tmp_path):
    script = Path(sys.executable).parent / "mm-train"
    out = subprocess.run(
        [script, "--cfg", "job", "experiment=shakespeare", "run_dir=x"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "multimodal.tasks.language_modeling.LanguageModeling" in out.stdout
