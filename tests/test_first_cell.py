"""The first cell of every chapter installs the package where it is missing and imports it without a
kernel restart, and every chapter's jupytext twin is valid Python."""

import json
import os
import py_compile
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
TWINS = sorted(BOOK.glob("[0-9]*.py"))
NOTEBOOKS = sorted(BOOK.glob("[0-9]*.ipynb"))


def _first_code_cell(nb_path: Path) -> str:
    return next(c.source for c in jupytext.read(nb_path).cells if c.cell_type == "code")


@pytest.mark.parametrize("twin", TWINS, ids=lambda p: p.name)
def test_every_jupytext_twin_compiles(twin, tmp_path):
    py_compile.compile(str(twin), cfile=str(tmp_path / "twin.pyc"), doraise=True)


def test_every_chapter_starts_with_the_same_install_block():
    end = "importlib.invalidate_caches()"
    blocks = {p.name: _first_code_cell(p).split(end)[0] + end for p in NOTEBOOKS}
    assert len(set(blocks.values())) == 1, f"the chapters' install blocks differ: {json.dumps(blocks, indent=1)}"
    assert "import causal_tutorial" in next(iter(blocks.values()))


def test_the_first_cell_installs_the_package_in_a_fresh_environment_and_imports_it_without_a_restart(tmp_path):
    """A fresh virtual environment that has the book's dependencies (torch, numpy, …: the project's
    site-packages on its path through a ``.pth`` file, which does not load the editable install) but
    not the package. The first cell of chapter 1, run in one process from a copy of the repository's
    ``book/`` folder, must install the package from the repository and import it in that same process."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
    shutil.copytree(
        ROOT / "causal_tutorial", repo / "causal_tutorial", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    (repo / "book").mkdir()
    venv = tmp_path / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    fresh_site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(fresh_site, "book_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(MPLBACKEND="Agg", CI="true", PIP_DISABLE_PIP_VERSION_CHECK="1")
    probe = "import importlib.util as u; print(u.find_spec('causal_tutorial'))"
    before = subprocess.run([str(py), "-c", probe], cwd=repo / "book", env=env, capture_output=True, text=True)
    assert before.stdout.strip() == "None", "the fresh environment must not have the package yet"
    cell = _first_code_cell(NOTEBOOKS[0])
    check = (
        "\nimport causal_tutorial, torch\nprint('TORCH FROM', torch.__file__)\n"
        "print('IMPORTED FROM', causal_tutorial.__file__)\n"
    )
    run = subprocess.run(
        [str(py), "-c", cell + check], cwd=repo / "book", env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]
    where = run.stdout.split("IMPORTED FROM", 1)[1].strip()
    assert where.startswith(str(venv)), f"imported from {where}, not from the fresh environment"
    torch_from = run.stdout.split("TORCH FROM", 1)[1].split("\n", 1)[0].strip()
    assert not torch_from.startswith(str(venv)), f"the install replaced the torch already present: {torch_from}"
    assert not list(Path(fresh_site).glob("torch*")), "torch was installed into the fresh environment"


def _config() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "_config.yml").read_text())


def test_the_first_cell_names_the_repository_of_config_and_this_edition():
    """``_config.yml`` is the one place that names the repository: the cell must agree with it, and pin
    the package's own version."""
    import causal_tutorial

    cell = _first_code_cell(NOTEBOOKS[0])
    url = _config()["repository"]["url"]
    assert f'REPOSITORY, EDITION = "{url}", "{causal_tutorial.__version__}"' in cell


def _source_chosen(cwd: Path, env_source: str | None = None) -> str:
    """Run the first cell with the package hidden and pip replaced by a stub that prints its arguments."""
    stub = (
        "import sys, subprocess\n"
        "sys.modules['causal_tutorial'] = None  # import causal_tutorial raises ImportError\n"
        "def run(cmd, **kw):\n"
        "    print('PIP', cmd[-1]); raise SystemExit(0)\n"
        "subprocess.run = run\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CAUSAL_TUTORIAL_SOURCE"}
    if env_source:
        env["CAUSAL_TUTORIAL_SOURCE"] = env_source
    run = subprocess.run(
        [sys.executable, "-c", stub + _first_code_cell(NOTEBOOKS[0])],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout.split("PIP", 1)[1].strip()


def test_outside_a_clone_the_first_cell_installs_this_edition_from_the_repository(tmp_path):
    import causal_tutorial

    (tmp_path / "downloads").mkdir()
    url = _config()["repository"]["url"]
    assert _source_chosen(tmp_path / "downloads") == f"git+{url}@v{causal_tutorial.__version__}"
    assert _source_chosen(BOOK) == ".."  # in the repository's book/ folder: its own copy
    assert _source_chosen(tmp_path / "downloads", env_source="/some/path") == "/some/path"
