"""Install a plugin package the way pip leaves it, without pip: its modules and a
``dist-info`` carrying the pyproject's ``leadgraph`` entry points, in a directory a test puts on
``sys.path`` (so ``importlib.metadata`` and pluggy find it as in site-packages)."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path


def install_like_pip(package: Path, target: Path) -> None:
    """Copy the modules of the project at ``package`` into ``target`` with its metadata."""
    pyproject = tomllib.loads((package / "pyproject.toml").read_text())
    project = pyproject["project"]
    for module in pyproject["tool"]["setuptools"]["packages"]:
        shutil.copytree(
            package / module, target / module, ignore=shutil.ignore_patterns("__pycache__")
        )
    dist_name = project["name"].replace("-", "_")
    dist = target / f"{dist_name}-{project['version']}.dist-info"
    dist.mkdir(parents=True)
    dist.joinpath("METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    points = project["entry-points"]["leadgraph"]
    lines = ["[leadgraph]"] + [f"{name} = {module}" for name, module in points.items()]
    dist.joinpath("entry_points.txt").write_text("\n".join(lines) + "\n")
