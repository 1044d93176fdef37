"""make test's first step (scripts/install_system_packages.sh): nothing to do where everything is present, and
where something is missing and cannot be installed (not root, no password-less sudo), one line that names the
packages and the command, and a failing exit status, at once."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "install_system_packages.sh"


def _present() -> bool:
    return all(Path(p).exists() for p in ("/usr/bin/chromium", "/usr/bin/chromedriver")) and bool(
        shutil.which("xelatex")
    )


@pytest.mark.skipif(not _present(), reason="Chromium and XeLaTeX are not installed here yet")
def test_nothing_is_installed_where_everything_is_present():
    out = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout == "" and out.stderr == ""


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("runuser") or shutil.which("sudo") is not None,
    reason="needs root, runuser and no sudo, to run the script as an ordinary user who cannot install",
)
def test_an_ordinary_user_is_told_what_is_missing_and_how_to_install_it():
    # the script is read from standard input: the ordinary user need not be able to read the checkout
    out = subprocess.run(
        ["runuser", "-u", "nobody", "--", "env", "CHROMIUM_BIN=/nonexistent/chromium", "bash", "-s"],
        input=SCRIPT.read_text(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "chromium chromium-driver" in lines[0] and "apt-get install" in lines[0] and "root" in lines[0]
