"""Footprint: installed size of the app alone, bundle size, model size, import time, no TensorFlow.

Run: .venv/bin/python bench/footprint.py [--repeats 5] [--no-venv]

- venv: a new virtual environment (this Python's `-m venv`) into which the committed tree
  (`git archive HEAD`) is installed with `pip install` and no extras, so without the training
  and test extras; its size on disk (`du -sk`) and its largest packages.  pip's cache and the
  configured indexes are used as they are.
- bundle: `dist/BlastScan` (PyInstaller, `build.spec`), if it has been built.
- model: what the app loads from `models/` (the LiteRT model and its card) and the folder.
- imports: `python -X importtime -c "import app.cli, app.core.pipeline, app.gui.main"` with
  this venv's Python; the sum of the self times of every module imported, median of
  `--repeats` runs (module caches warm: one run first is not counted), with the largest
  top-level packages by cumulative time.  Then every module of `app` is imported in one
  process and `sys.modules` is checked for tensorflow, keras and torch.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from _common import REPO

from app.core.model_card import CARD_FILE, MODEL_FILE

APP_MODULES = "app.cli, app.core.pipeline, app.gui.main"
FORBIDDEN = ("tensorflow", "keras", "torch")


def du_kib(path: Path) -> int:
    """Disk usage of a file or folder in KiB (`du -sk`, links not followed)."""
    return int(subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True).stdout.split()[0])


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"


def app_only_venv() -> None:
    """Install the committed app without extras into a new venv and print its size."""
    with tempfile.TemporaryDirectory(prefix="blastscan-footprint-") as folder:
        source, venv = Path(folder) / "src", Path(folder) / "venv"
        source.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", "HEAD"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        install = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", str(source)], capture_output=True, text=True
        )
        if install.returncode != 0:
            raise SystemExit(f"pip install failed:\n{install.stdout}{install.stderr}")
        site = next(venv.glob("lib/python*/site-packages"))
        sizes = sorted(((du_kib(path), path.name) for path in site.iterdir()), reverse=True)
        print(f"venv of the app alone: {mib(du_kib(venv))} (site-packages {mib(du_kib(site))}); largest:")
        for kib, name in sizes[:8]:
            print(f"  {kib / 1024:7.1f} MiB  {name}")


def bundle() -> None:
    """Size of the PyInstaller folder and of the packages made of it, where built."""
    dist = REPO / "dist" / "BlastScan"
    if dist.is_dir():
        print(f"bundle dist/BlastScan: {mib(du_kib(dist))}")
        for package in sorted(path for path in dist.parent.iterdir() if path.is_file()):
            print(f"  dist/{package.name}: {package.stat().st_size / 2**20:.0f} MiB")
    else:
        print("bundle: dist/BlastScan not built (`make package`, or .venv/bin/pyinstaller --noconfirm build.spec)")


def model() -> None:
    models = REPO / "models"
    loaded = [models / MODEL_FILE, models / CARD_FILE]
    print(
        "model: "
        + ", ".join(f"{path.name} {path.stat().st_size / 2**20:.1f} MiB" for path in loaded)
        + f"; models/ folder {mib(du_kib(models))}"
    )


def import_times(repeats: int) -> None:
    """Sum of -X importtime self times of the app's modules, median of `repeats` runs."""
    runs = []
    for _ in range(repeats + 1):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {APP_MODULES}"],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        )
        runs.append(parse_importtime(result.stderr))
    runs = runs[1:]
    totals = [sum(self_us for self_us, _ in run.values()) / 1e6 for run in runs]
    print(
        f"import {APP_MODULES}: {statistics.median(totals):.2f} s "
        f"(sum of self times, min {min(totals):.2f}, max {max(totals):.2f}, {repeats} runs); by package:"
    )
    packages: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        tops = defaultdict(float)
        for name, (self_us, _) in run.items():
            tops[name.split(".")[0]] += self_us / 1e6
        for name, seconds in tops.items():
            packages[name].append(seconds)
    for name, seconds in sorted(packages.items(), key=lambda item: -statistics.median(item[1]))[:8]:
        print(f"  {statistics.median(seconds):6.3f} s  {name}")


def parse_importtime(stderr: str) -> dict[str, tuple[int, int]]:
    """Module -> (self us, cumulative us) from `-X importtime` output."""
    modules = {}
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            self_us, cumulative_us, name = (part.strip() for part in line[len("import time:") :].split("|"))
            modules[name] = (int(self_us), int(cumulative_us))
    return modules


def forbidden_imports() -> None:
    """Import every module of `app` in one process; report any of FORBIDDEN in sys.modules."""
    code = (
        "import pkgutil, importlib, sys, app\n"
        "names = [m.name for m in pkgutil.walk_packages(app.__path__, 'app.') if m.name != 'app.__main__']\n"
        "for name in names: importlib.import_module(name)\n"
        f"print(len(names), sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"},
    )
    count, found = result.stdout.strip().split(" ", 1)
    print(
        f"all {count} app modules imported: {'none of ' + ', '.join(FORBIDDEN) if found == '[]' else found} "
        f"in sys.modules"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="import-time runs (median reported)")
    parser.add_argument(
        "--venv",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="build the app-only venv (a minute or more; needs the package indexes)",
    )
    args = parser.parse_args()
    if args.venv:
        app_only_venv()
    bundle()
    model()
    import_times(args.repeats)
    forbidden_imports()


if __name__ == "__main__":
    main()
