"""What goes into the PyInstaller bundle, and how its libraries are trimmed (build.spec wires it in).

Three parts: what goes in (the lists), the decisions (functions of bundle paths, TOC entries and
tool output; tests/test_bundle.py) and the build steps, which run the tools (objdump, readelf, strip,
icupkg, as, ld) and apply the decisions.  Nothing here imports PyInstaller at import time.  A TOC entry
is PyInstaller's (destination in the bundle, source path or a SYMLINK's target, type code).
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path, PurePath

Entry = tuple[str, str, str]

# What goes in

MODEL_FILES = ("blast_classifier.tflite", "model_card.json", "familiarity.npz", "MODEL_CARD.md")
RESOURCE_SKIP_SUFFIXES = {".py", ".pyc"}  # the scripts that made the icons and the demo case
RESOURCE_SKIP_DIRS = {"samples"}
"""resources/samples (the 24-cell demo case, 14.6 MB) stays out: the app never opens it by itself (the
README's demo command runs from a checkout; the packaging tests pass the checkout's demo case)."""

QT_UNUSED_MODULES = (
    "Qt3DAnimation",
    "Qt3DCore",
    "Qt3DExtras",
    "Qt3DInput",
    "Qt3DLogic",
    "Qt3DRender",
    "QtAxContainer",
    "QtBluetooth",
    "QtCharts",
    "QtConcurrent",
    "QtDataVisualization",
    "QtDBus",
    "QtDesigner",
    "QtGraphs",
    "QtHelp",
    "QtHttpServer",
    "QtLocation",
    "QtMultimedia",
    "QtMultimediaWidgets",
    "QtNetwork",
    "QtNetworkAuth",
    "QtNfc",
    "QtOpenGL",
    "QtOpenGLWidgets",
    "QtPdf",
    "QtPdfWidgets",
    "QtPositioning",
    "QtPrintSupport",
    "QtQml",
    "QtQuick",
    "QtQuick3D",
    "QtQuickControls2",
    "QtQuickTest",
    "QtQuickWidgets",
    "QtRemoteObjects",
    "QtScxml",
    "QtSensors",
    "QtSerialBus",
    "QtSerialPort",
    "QtSpatialAudio",
    "QtSql",
    "QtStateMachine",
    "QtSvg",
    "QtSvgWidgets",
    "QtTest",
    "QtTextToSpeech",
    "QtUiTools",
    "QtWebChannel",
    "QtWebEngineCore",
    "QtWebEngineQuick",
    "QtWebEngineWidgets",
    "QtWebSockets",
    "QtWebView",
    "QtXml",
)
"""PySide6 modules the app never imports (it uses QtCore, QtGui and QtWidgets)."""

EXCLUDES = [
    # training and the training extra: never imported by the app
    "training",
    "tensorflow",
    "tensorboard",
    "tflite",
    "keras",
    "tf_keras",
    "torch",
    "torchvision",
    "jax",
    "jaxlib",
    "ml_dtypes",
    "h5py",
    "sklearn",
    "matplotlib",
    "pandas",
    "IPython",
    # skimage/scipy optional extras that the segmentation's functions never reach
    "imageio",
    "networkx",
    "pooch",
    "dask",
    "numba",
    "cupy",
    "pyamg",
    "astropy",
    "SimpleITK",
    "skimage.data",
    "skimage.io",
    "skimage.viewer",
    "skimage.future",
    "skimage.graph",
    "skimage.registration",
    "skimage.restoration",
    "skimage.metrics",
    "skimage.filters.rank",
    "scipy.datasets",
    "scipy.io",
    "scipy.odr",
    "scipy.misc",
    "scipy.cluster",
    "scipy.optimize",
    "scipy.stats",
    "scipy.integrate",
    "scipy.interpolate",
    "scipy.signal",
    "scipy.fft",
    "scipy.fftpack",
    "scipy.differentiate",
    "scipy.sparse.linalg",
    "scipy.sparse.csgraph",
    # Pillow: AVIF is not an input format of the app (Pillow skips a plugin it cannot import)
    "PIL._avif",
    "PIL.AvifImagePlugin",
    "PIL.ImageQt",
    "PIL.ImageTk",
    "PIL._tkinter_finder",
    # network and interactive-shell parts of the standard library (the app is offline)
    "ssl",
    "_ssl",
    "_hashlib",
    "readline",  # without _hashlib, hashlib uses Python's own (no OpenSSL)
    # tests of bundled packages, toolkits and tools
    "pytest",
    "pytestqt",
    "_pytest",
    "numpy.tests",
    "scipy.tests",
    "skimage.tests",
    "tkinter",
    "_tkinter",
    "lib2to3",
    "pydoc_data",
    "setuptools",
    "pkg_resources",
    "distutils",
    # other Qt bindings
    "PyQt5",
    "PyQt6",
    "PySide2",
    *(f"PySide6.{module}" for module in QT_UNUSED_MODULES),
]
"""Modules (with their submodules) that Analysis leaves out."""

QT_DROP = (
    "translations/",  # the UI is English only and installs no QTranslator
    # Qt libraries the app's modules do not need (libQt6*.so.6 on Linux, Qt6*.dll on Windows)
    "qt6quick",
    "qt6qml",
    "qt6pdf",
    "qt6network",
    "qt6virtualkeyboard",
    "qt6eglfs",
    # embedded (no window system) platforms and their input plugins
    "platforms/qeglfs",
    "platforms/qlinuxfb",
    "platforms/qvnc",
    "platforms/qvkkhrdisplay",
    "platforms/qminimalegl",
    "plugins/egldeviceintegrations/",
    "plugins/generic/",
    "platformthemes/qgtk3",  # GTK theme: needs the desktop's own GTK (its libraries would come along)
    # image formats Qt would read itself (the app reads images with Pillow; PNG, JPEG, GIF and
    # ICO stay for icons, and SVG for the icon themes of the file dialogs)
    "imageformats/qtiff",
    "imageformats/qwebp",
    "imageformats/qicns",
    "imageformats/qtga",
    "imageformats/qwbmp",
)
"""Files that hooks and plugin dependencies bring in although the app never loads them (see is_wanted)."""

ICU_DATA_DROP = ("brkitr/", "translit/", "rbnf/", "unit/", "unames.icu")
"""Items of ICU's data that Qt never reads (8.7 MB of libicudata's 32 MB).  Qt Core calls ICU only for
collation (coll/), text codecs (the .cnv tables, cnvalias.icu), locale-aware case mapping and time-zone
names (zone/, metazones, calendars); `objdump -T libQt6Core.so.6 | grep _73` lists the calls.  Break
iteration, transliteration, number spell-out, measurement units and character names serve ICU APIs Qt
does not call.  tests/test_packaging.py compares Qt's answers frozen and from source ("qt_icu")."""

# Decisions

PAGE_SIZE = 4096


def app_version(init_source: str) -> str:
    """`__version__` from the text of app/__init__.py."""
    return next(line.split('"')[1] for line in init_source.splitlines() if line.startswith("__version__"))


def version_numbers(version: str) -> tuple[int, int, int, int]:
    """The four 16-bit numbers of a Windows version resource: the leading digits of each part of the
    version before any "+local" part, padded with zeros ('0.1.0+20261201.58ba652d' gives (0, 1, 0, 0))."""
    parts = version.split("+")[0].split(".")
    numbers = [int(re.match(r"\d*", part).group() or 0) for part in parts]
    if any(number > 0xFFFF for number in numbers[:4]):
        raise ValueError(f"version {version!r}: a Windows version resource holds numbers up to 65535")
    return tuple([*numbers, 0, 0, 0, 0][:4])


def version_strings(version: str, description: str, filename: str) -> dict[str, str]:
    """The strings of a Windows version resource (Explorer's Details tab; the Inno Setup script reads
    ProductVersion from BlastScan.exe, so the installer's version is the app's)."""
    return {
        "CompanyName": "BlastScan team",
        "FileDescription": description,
        "FileVersion": version,
        "ProductName": "BlastScan",
        "ProductVersion": version,
        "OriginalFilename": filename,
    }


def is_bundled_resource(relative: PurePath) -> bool:
    """Whether a file of resources/ (path relative to it) goes into the bundle."""
    return (
        relative.suffix not in RESOURCE_SKIP_SUFFIXES
        and "__pycache__" not in relative.parts
        and relative.parts[0] not in RESOURCE_SKIP_DIRS
    )


def app_datas(root: Path) -> list[tuple[str, str]]:
    """(source, folder in the bundle) of the model files and of what resources/ bundles."""
    resources = root / "resources"
    return [(str(root / "models" / name), "models") for name in MODEL_FILES] + [
        (str(path), path.parent.relative_to(root).as_posix())
        for path in sorted(resources.rglob("*"))
        if path.is_file() and is_bundled_resource(path.relative_to(resources))
    ]


def is_wanted(destination: str) -> bool:
    """False for the files QT_DROP names: its items are matched in lower case against "/" + the bundle
    path with "/" separators and without the "lib" prefix of names, so one item matches the Linux and
    the Windows file (PySide6/Qt/lib/libQt6Quick.so.6, PySide6\\Qt6Quick.dll)."""
    key = ("/" + destination.replace("\\", "/").lower()).replace("/lib", "/")
    return not any(item in key for item in QT_DROP)


def without_unwanted(toc: Iterable[Entry]) -> list[Entry]:
    """The entries is_wanted keeps."""
    return [entry for entry in toc if is_wanted(entry[0])]


def is_top_level(destination: str) -> bool:
    """Whether a bundle path lies in the bundle's top folder (_internal/)."""
    return "/" not in destination


def libraries_in_use(toc: Iterable[Entry], needed_of: Callable[[str], Iterable[str]]) -> list[Entry]:
    """The entries left when top-folder libraries that nothing in the bundle links to are dropped.

    Every entry in a subfolder (extension modules, Qt, the wheels' own libraries) is in use, and so is
    libpython (the bootloader loads it); a top-folder library is in use when an entry in use names it
    in DT_NEEDED (`needed_of(source)`).  On Linux all other top-folder libraries are dependencies that
    PyInstaller found, so what drops out are those of files QT_DROP removed (GTK, Cairo, Kerberos...).
    """
    toc = list(toc)
    by_name: dict[str, list[Entry]] = {}
    for entry in toc:
        by_name.setdefault(posixpath.basename(entry[0]), []).append(entry)
    in_use: set[str] = set()
    queue = [entry for entry in toc if not is_top_level(entry[0]) or entry[0].startswith("libpython")]
    while queue:
        destination, source, typecode = queue.pop()
        if destination in in_use:
            continue
        in_use.add(destination)
        if typecode != "SYMLINK":
            for name in needed_of(source):
                queue.extend(by_name.get(name, []))
    return [entry for entry in toc if entry[0] in in_use]


def is_elf(head: bytes) -> bool:
    """Whether a file's first bytes are an ELF header (strip takes it)."""
    return head[:4] == b"\x7fELF"


def load_segments_aligned(program_headers: str) -> bool:
    """Whether `readelf -lW` shows load segments whose file offset equals their address modulo the page
    size (the loader refuses a library that breaks this: "ELF load command address/offset not
    page-aligned", which binutils' strip does to the libraries auditwheel patched with patchelf)."""
    loads = [line.split() for line in program_headers.splitlines() if line.split()[:1] == ["LOAD"]]
    return bool(loads) and all((int(fields[1], 16) - int(fields[2], 16)) % PAGE_SIZE == 0 for fields in loads)


def icu_data_symbol(entry: Entry) -> str | None:
    """The data symbol (icudt73_dat) when an entry is ICU's data library (libicudata.so.73), else None."""
    destination, _, typecode = entry
    match = re.fullmatch(r"libicudata\.so\.(\d+)", posixpath.basename(destination))
    return None if typecode == "SYMLINK" or match is None else f"icudt{match.group(1)}_dat"


def icu_items_to_drop(items: Iterable[str]) -> list[str]:
    """The items of ICU's data package (`icupkg -l`) that ICU_DATA_DROP removes."""
    return [item for item in items if item.startswith(ICU_DATA_DROP)]


def symbol_file_range(symbols: str, sections: str, symbol: str) -> tuple[int, int]:
    """File offset and size of a symbol's bytes, from `readelf -sW` and `readelf -SW` of the file: the
    symbol's address minus the address of its section plus the section's file offset."""
    fields = next(line.split() for line in symbols.splitlines() if line.split()[-1:] == [symbol])
    address, size, section_index = int(fields[1], 16), int(fields[2], 0), int(fields[6])
    header = next(line for line in sections.splitlines() if re.match(rf"\s*\[\s*{section_index}\]", line))
    section_address, section_offset = (int(field, 16) for field in header.split("]", 1)[1].split()[2:4])
    return section_offset + address - section_address, size


def icu_data_assembly(symbol: str, package: Path) -> str:
    """Assembly (GNU as) of a data library: `symbol` holds the bytes of the file `package`."""
    return (
        "\t.section .rodata\n"
        f"\t.globl {symbol}\n\t.type {symbol}, @object\n\t.balign 16\n{symbol}:\n"
        f'\t.incbin "{package}"\n\t.size {symbol}, . - {symbol}\n'
        '\t.section .note.GNU-stack,"",@progbits\n'
    )


def linked_duplicates(toc: Iterable[Entry], digest_of: Callable[[str], str]) -> list[Entry]:
    """The entries with each library that several wheels vendor byte for byte (same name, same
    `digest_of(source)`; numpy.libs and scipy.libs share libgfortran and libquadmath) kept once: the
    later copies become SYMLINK entries pointing at the first one (a path relative to their folder)."""
    first: dict[tuple[str, str], str] = {}
    result = []
    for destination, source, typecode in toc:
        if typecode == "SYMLINK" or is_top_level(destination):
            result.append((destination, source, typecode))
            continue
        key = (posixpath.basename(destination), digest_of(source))
        if key in first:
            result.append((destination, posixpath.relpath(first[key], posixpath.dirname(destination)), "SYMLINK"))
        else:
            first[key] = destination
            result.append((destination, source, typecode))
    return result


# Build steps (Linux; they run tools)


def _log(message: str) -> None:
    print(f"packaging/bundle.py: {message}")


def _output(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def elf_needed(path: str) -> list[str]:
    """DT_NEEDED of an ELF file (`objdump -p`; ldd would list all levels); none for other files."""
    dump = subprocess.run(["objdump", "-p", path], capture_output=True, text=True).stdout
    return [line.split()[1] for line in dump.splitlines() if line.strip().startswith("NEEDED")]


def _head(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(4)


def file_sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def prune_unneeded_libraries(toc: list[Entry]) -> list[Entry]:
    """libraries_in_use, with DT_NEEDED read by objdump."""
    kept = libraries_in_use(toc, elf_needed)
    dropped = sorted({entry[0] for entry in toc} - {entry[0] for entry in kept})
    _log(f"dropped {len(dropped)} libraries nothing links to: {', '.join(dropped) or 'none'}")
    return kept


def strip_binaries(toc: list[Entry], out_dir: Path) -> list[Entry]:
    """Every ELF library and extension module replaced by a copy in out_dir without symbol table and debug
    info (`strip --strip-unneeded`: the dynamic symbols that linking and imports use stay), unless the
    stripped copy's load segments are misaligned (load_segments_aligned).  Unchanged without strip."""
    strip = shutil.which("strip")
    if strip is None:
        return toc
    out_dir.mkdir(parents=True, exist_ok=True)
    result, kept_as_is = [], []
    for destination, source, typecode in toc:
        if typecode != "SYMLINK" and is_elf(_head(source)):
            target = out_dir / destination.replace("/", "__")
            if not target.exists() or target.stat().st_mtime < Path(source).stat().st_mtime:
                subprocess.run([strip, "--strip-unneeded", "-o", str(target), source], check=True)
            program_headers = subprocess.run(["readelf", "-lW", str(target)], capture_output=True, text=True).stdout
            if load_segments_aligned(program_headers):
                source = str(target)
            else:
                kept_as_is.append(destination)
        result.append((destination, source, typecode))
    _log(f"not stripped (strip would misalign them): {', '.join(kept_as_is) or 'none'}")
    return result


def trim_icu_data(toc: list[Entry], out_dir: Path) -> list[Entry]:
    """ICU's data library rebuilt in out_dir without the ICU_DATA_DROP items: the data package is read
    out of the library, `icupkg -r` removes the items, and `as` + `ld` link the rest into a library with
    the same soname and symbol.  Needs icupkg (Debian: icu-devtools)."""
    icupkg = shutil.which("icupkg")
    if icupkg is None:
        raise SystemExit(
            "packaging/bundle.py: icupkg not found (Debian: apt install icu-devtools); it trims ICU's data"
        )
    result = []
    for entry in toc:
        symbol = icu_data_symbol(entry)
        if symbol is None:
            result.append(entry)
            continue
        destination, source, typecode = entry
        name = posixpath.basename(destination)
        shutil.rmtree(out_dir, ignore_errors=True)
        (out_dir / "full").mkdir(parents=True)
        (out_dir / "trimmed").mkdir()
        offset, size = symbol_file_range(_output("readelf", "-sW", source), _output("readelf", "-SW", source), symbol)
        with open(source, "rb") as handle:
            handle.seek(offset)
            package = handle.read(size)
        full = out_dir / "full" / f"{symbol.removesuffix('_dat')}l.dat"  # icupkg reads the item prefix from the name
        full.write_bytes(package)
        items = _output(icupkg, "-l", str(full)).split()
        drop = icu_items_to_drop(items)
        (out_dir / "drop.txt").write_text("\n".join(drop) + "\n")
        trimmed = out_dir / "trimmed" / full.name
        subprocess.run([icupkg, "-r", str(out_dir / "drop.txt"), str(full), str(trimmed)], check=True)
        (out_dir / "icudata.s").write_text(icu_data_assembly(symbol, trimmed))
        subprocess.run(["as", "-o", str(out_dir / "icudata.o"), str(out_dir / "icudata.s")], check=True)
        library = out_dir / name
        subprocess.run(["ld", "-shared", "-soname", name, "-o", str(library), str(out_dir / "icudata.o")], check=True)
        _log(
            f"{name}: {len(drop)} of {len(items)} ICU data items dropped, "
            f"{Path(source).stat().st_size} -> {library.stat().st_size} bytes"
        )
        result.append((destination, str(library), typecode))
    return result


def link_duplicates(toc: list[Entry]) -> list[Entry]:
    """linked_duplicates by SHA-256."""
    return linked_duplicates(toc, file_sha256)


# Windows


def windows_version_info(version: str, description: str, filename: str):
    """PyInstaller's VSVersionInfo of an executable (imported on Windows only: versioninfo needs pefile)."""
    from PyInstaller.utils.win32 import versioninfo as vi

    numbers = version_numbers(version)
    strings = [vi.StringStruct(key, value) for key, value in version_strings(version, description, filename).items()]
    return vi.VSVersionInfo(
        ffi=vi.FixedFileInfo(filevers=numbers, prodvers=numbers),
        kids=[
            vi.StringFileInfo([vi.StringTable("040904B0", strings)]),
            vi.VarFileInfo([vi.VarStruct("Translation", [1033, 1200])]),
        ],
    )
