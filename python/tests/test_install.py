"""`pip install ./python` builds the package where pip can build (offline
here: Debian's setuptools, no build isolation, no index)."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_pip_install_builds_an_importable_package(tmp_path):
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode:
        pytest.skip("pip is not installed (python3-pip)")
    # a copy of what pip needs: python/ and the libtend sources beside it
    src = tmp_path / "tree"
    shutil.copytree(os.path.join(ROOT, "python"), src / "python",
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests"))
    shutil.copytree(os.path.join(ROOT, "src", "lib"), src / "src" / "lib")
    shutil.copytree(os.path.join(ROOT, "include"), src / "include")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    r = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-build-isolation", "--no-index",
                        str(src / "python")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    out = subprocess.run([str(venv / "bin" / "python"), "-c",
                          "import tend, sys; q = tend.Queue(); q.put({'a': 1}); "
                          "print(tend.__file__.startswith(sys.prefix), q.get(), tend.Pool(1).apply(abs, (-2,)))"],
                         capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "{'a':", "1}", "2"]
