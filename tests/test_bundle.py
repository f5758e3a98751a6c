"""packaging/bundle.py's decisions, without a PyInstaller build: what goes in, which Qt files and
top-folder libraries are dropped, what is stripped, which ICU data items go, which libraries become
symbolic links, and the Windows version numbers.  Inputs are taken from a real Linux build's TOC and
tool output (PySide6 6.11, NumPy, SciPy and Pillow wheels)."""

from __future__ import annotations

import ast
import posixpath
import shutil
import subprocess
import sys
from pathlib import Path

import PySide6
import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "packaging"))
import bundle

QT_LIB = "PySide6/Qt/lib"
PLUGINS = "PySide6/Qt/plugins"
ICU_DATA = next((Path(PySide6.__file__).parent / "Qt" / "lib").glob("libicudata.so.*"), None)
"""PySide6's ICU data library on Linux (libicudata.so.73 in PySide6 6.11), None elsewhere."""
needs_binutils = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("readelf", "objdump", "as", "ld")), reason="binutils are not installed"
)


def entry(destination: str, typecode: str = "BINARY") -> bundle.Entry:
    """A TOC entry whose source is a site-packages path derived from the destination."""
    return destination, f"/site-packages/{destination}", typecode


# What goes in


def _imported_modules(source: str) -> set[str]:
    """Every module an `import` names, and `package.name` for `from package import name`."""
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def _excluded(module: str) -> bool:
    """PyInstaller's rule: an excluded module takes its submodules with it."""
    return any(module == name or module.startswith(f"{name}.") for name in bundle.EXCLUDES)


def test_excludes_nothing_the_app_imports():
    imported = set().union(*(_imported_modules(path.read_text()) for path in (REPO / "app").rglob("*.py")))
    assert {"PySide6.QtWidgets", "scipy.ndimage", "ai_edge_litert.interpreter"} <= imported
    assert not sorted(module for module in imported if _excluded(module))


def test_excludes_training_unused_qt_modules_and_network():
    for module in ("tensorflow.keras", "training.train", "PySide6.QtQuick", "PySide6.QtNetwork", "ssl", "_hashlib"):
        assert _excluded(module), module
    for module in ("PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets", "scipy.ndimage", "scipy.special"):
        assert not _excluded(module), module
    assert len(bundle.EXCLUDES) == len(set(bundle.EXCLUDES))


def test_app_datas_take_the_models_and_icons_but_not_scripts_caches_or_samples(tmp_path):
    for relative in (
        "models/blast_classifier.keras",
        "resources/icons/blastscan.png",
        "resources/icons/blastscan.svg",
        "resources/icons/make_icons.py",
        "resources/icons/__pycache__/make_icons.cpython-311.pyc",
        "resources/samples/demo_case/cell_01.bmp",
        "resources/samples_notes.txt",
    ):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"x")

    datas = bundle.app_datas(tmp_path)

    assert datas == [
        *((str(tmp_path / "models" / name), "models") for name in bundle.MODEL_FILES),
        (str(tmp_path / "resources/icons/blastscan.png"), "resources/icons"),
        (str(tmp_path / "resources/icons/blastscan.svg"), "resources/icons"),
        (str(tmp_path / "resources/samples_notes.txt"), "resources"),
    ]


def test_app_datas_of_the_checkout_exist_and_leave_the_demo_case_out():
    datas = bundle.app_datas(REPO)
    assert all(Path(source).is_file() for source, _ in datas)
    assert (str(REPO / "resources/icons/blastscan.png"), "resources/icons") in datas
    assert not [source for source, _ in datas if "samples" in Path(source).parts]


# Qt files


@pytest.mark.parametrize(
    "destination",
    [
        "PySide6/Qt/translations/qtbase_de.qm",
        "PySide6/Qt/translations/qt_help_ru.qm",
        f"{QT_LIB}/libQt6Quick.so.6",
        f"{QT_LIB}/libQt6QmlModels.so.6",
        f"{QT_LIB}/libQt6Network.so.6",
        f"{QT_LIB}/libQt6Pdf.so.6",
        f"{QT_LIB}/libQt6EglFSDeviceIntegration.so.6",
        f"{QT_LIB}/libQt6EglFsKmsSupport.so.6",
        f"{PLUGINS}/platforms/libqeglfs.so",
        f"{PLUGINS}/platforms/libqlinuxfb.so",
        f"{PLUGINS}/platforms/libqvnc.so",
        f"{PLUGINS}/platforms/libqvkkhrdisplay.so",
        f"{PLUGINS}/platforms/libqminimalegl.so",
        f"{PLUGINS}/generic/libqevdevmouseplugin.so",
        f"{PLUGINS}/egldeviceintegrations/libqeglfs-x11-integration.so",
        f"{PLUGINS}/platformthemes/libqgtk3.so",
        f"{PLUGINS}/imageformats/libqtiff.so",
        f"{PLUGINS}/imageformats/libqwebp.so",
        "PySide6\\Qt6Quick.dll",
        "PySide6\\Qt6Network.dll",
        "PySide6\\translations\\qtbase_de.qm",
        "PySide6\\plugins\\imageformats\\qtiff.dll",
    ],
)
def test_qt_files_the_app_never_loads_are_dropped(destination):
    assert not bundle.is_wanted(destination)


@pytest.mark.parametrize(
    "destination",
    [
        "libpython3.11.so.1.0",
        "libglib-2.0.so.0",
        f"{QT_LIB}/libQt6Core.so.6",
        f"{QT_LIB}/libQt6Gui.so.6",
        f"{QT_LIB}/libQt6Widgets.so.6",
        f"{QT_LIB}/libQt6DBus.so.6",
        f"{QT_LIB}/libQt6XcbQpa.so.6",
        f"{QT_LIB}/libQt6OpenGL.so.6",
        f"{QT_LIB}/libQt6Svg.so.6",
        f"{QT_LIB}/libQt6WaylandClient.so.6",
        f"{QT_LIB}/libicudata.so.73",
        f"{PLUGINS}/platforms/libqxcb.so",
        f"{PLUGINS}/platforms/libqwayland.so",
        f"{PLUGINS}/platforms/libqoffscreen.so",
        f"{PLUGINS}/platforms/libqminimal.so",
        f"{PLUGINS}/platformthemes/libqxdgdesktopportal.so",
        f"{PLUGINS}/xcbglintegrations/libqxcb-glx-integration.so",
        f"{PLUGINS}/iconengines/libqsvgicon.so",
        f"{PLUGINS}/imageformats/libqsvg.so",
        f"{PLUGINS}/imageformats/libqjpeg.so",
        f"{PLUGINS}/imageformats/libqgif.so",
        f"{PLUGINS}/imageformats/libqico.so",
        "numpy.libs/libscipy_openblas64_-32a4b2a6.so",
        "models/blast_classifier.tflite",
        "resources/icons/blastscan.png",
        "PySide6\\Qt6Core.dll",
        "PySide6\\Qt6Widgets.dll",
        "PySide6\\plugins\\platforms\\qwindows.dll",
        "PySide6\\plugins\\imageformats\\qjpeg.dll",
    ],
)
def test_what_the_app_loads_is_kept(destination):
    assert bundle.is_wanted(destination)


def test_without_unwanted_keeps_the_order_and_entries():
    toc = [
        entry(f"{QT_LIB}/libQt6Core.so.6"),
        entry("PySide6/Qt/translations/qtbase_fr.qm", "DATA"),
        entry(f"{PLUGINS}/platforms/libqxcb.so"),
        entry(f"{PLUGINS}/platformthemes/libqgtk3.so"),
        entry("models/model_card.json", "DATA"),
    ]
    assert bundle.without_unwanted(toc) == [toc[0], toc[2], toc[4]]


# Pruning top-folder libraries

PRUNE_TOC = [
    entry("libpython3.11.so.1.0"),
    entry(f"{QT_LIB}/libQt6Core.so.6"),
    entry(f"{QT_LIB}/libQt6Gui.so.6"),
    entry(f"{QT_LIB}/libicuuc.so.73"),
    entry("numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so", "EXTENSION"),
    entry("numpy.libs/libscipy_openblas64_-32a4b2a6.so"),
    entry("PIL/_imaging.cpython-311-x86_64-linux-gnu.so", "EXTENSION"),
    entry("pillow.libs/libjpeg-6dc8d115.so.62.4.0"),
    ("PySide6/Qt/lib/libicudata.so", "libicudata.so.73", "SYMLINK"),
    entry("libz.so.1"),
    entry("libstdc++.so.6"),
    entry("libglib-2.0.so.0"),
    entry("libpcre2-8.so.0"),
    entry("libfontconfig.so.1"),
    entry("libfreetype.so.6"),
    entry("libpng16.so.16"),
    entry("libexpat.so.1"),
    # needed only by the GTK theme plugin and QtNetwork, which QT_DROP removed
    entry("libcairo.so.2"),
    entry("libpixman-1.so.0"),
    entry("libjpeg.so.62"),
    entry("libgdk_pixbuf-2.0.so.0"),
    entry("libgssapi_krb5.so.2"),
    entry("libkrb5.so.3"),
    entry("libk5crypto.so.3"),
    entry("libkrb5support.so.0"),
    entry("libkeyutils.so.1"),
    entry("libcom_err.so.2"),
]
NEEDED = {
    "libpython3.11.so.1.0": ["libm.so.6", "libc.so.6"],
    f"{QT_LIB}/libQt6Core.so.6": ["libicui18n.so.73", "libicuuc.so.73", "libglib-2.0.so.0", "libstdc++.so.6"],
    f"{QT_LIB}/libQt6Gui.so.6": ["libQt6Core.so.6", "libfontconfig.so.1", "libfreetype.so.6", "libpng16.so.16"],
    f"{QT_LIB}/libicuuc.so.73": ["libicudata.so.73", "libstdc++.so.6"],
    "numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so": ["libscipy_openblas64_-32a4b2a6.so"],
    "numpy.libs/libscipy_openblas64_-32a4b2a6.so": ["libgfortran-040039e1-0352e75f.so.5.0.0"],
    "PIL/_imaging.cpython-311-x86_64-linux-gnu.so": ["libjpeg-6dc8d115.so.62.4.0", "libz.so.1"],
    "pillow.libs/libjpeg-6dc8d115.so.62.4.0": [],
    "libz.so.1": ["libc.so.6"],
    "libstdc++.so.6": ["libm.so.6", "libc.so.6"],
    "libglib-2.0.so.0": ["libpcre2-8.so.0"],
    "libpcre2-8.so.0": [],
    "libfontconfig.so.1": ["libfreetype.so.6", "libexpat.so.1"],
    "libfreetype.so.6": ["libpng16.so.16", "libz.so.1"],
    "libpng16.so.16": ["libz.so.1"],
    "libexpat.so.1": [],
    "libcairo.so.2": ["libpixman-1.so.0", "libfontconfig.so.1", "libpng16.so.16"],
    "libpixman-1.so.0": [],
    "libjpeg.so.62": [],
    "libgdk_pixbuf-2.0.so.0": ["libjpeg.so.62", "libpng16.so.16", "libglib-2.0.so.0"],
    "libgssapi_krb5.so.2": ["libkrb5.so.3", "libk5crypto.so.3", "libcom_err.so.2", "libkrb5support.so.0"],
    "libkrb5.so.3": ["libk5crypto.so.3", "libcom_err.so.2", "libkrb5support.so.0", "libkeyutils.so.1"],
    "libk5crypto.so.3": ["libkrb5support.so.0"],
    "libkrb5support.so.0": ["libkeyutils.so.1"],
    "libkeyutils.so.1": [],
    "libcom_err.so.2": [],
}


def test_libraries_that_only_dropped_files_needed_are_pruned():
    needed = {f"/site-packages/{destination}": names for destination, names in NEEDED.items()}

    kept = bundle.libraries_in_use(PRUNE_TOC, needed.__getitem__)  # KeyError if a SYMLINK's target were read

    dropped = {destination for destination, _, _ in PRUNE_TOC} - {destination for destination, _, _ in kept}
    assert dropped == {
        "libcairo.so.2",
        "libpixman-1.so.0",
        "libjpeg.so.62",
        "libgdk_pixbuf-2.0.so.0",
        "libgssapi_krb5.so.2",
        "libkrb5.so.3",
        "libk5crypto.so.3",
        "libkrb5support.so.0",
        "libkeyutils.so.1",
        "libcom_err.so.2",
    }
    assert kept == [item for item in PRUNE_TOC if item[0] not in dropped]


def test_a_library_needed_through_a_chain_of_top_folder_libraries_stays():
    toc = [entry("PIL/_imagingft.so", "EXTENSION"), entry("libfreetype.so.6"), entry("libpng16.so.16")]
    needed = {
        "/site-packages/PIL/_imagingft.so": ["libfreetype.so.6"],
        "/site-packages/libfreetype.so.6": ["libpng16.so.16"],
        "/site-packages/libpng16.so.16": [],
    }
    assert bundle.libraries_in_use(toc, needed.__getitem__) == toc
    assert bundle.libraries_in_use(toc[1:], needed.__getitem__) == []


# Stripping

ALIGNED_PROGRAM_HEADERS = """
Elf file type is DYN (Shared object file)
Entry point 0x1000
There are 6 program headers, starting at offset 64

Program Headers:
  Type           Offset   VirtAddr           PhysAddr           FileSiz  MemSiz   Flg Align
  LOAD           0x000000 0x0000000000000000 0x0000000000000000 0x1e8cb80 0x1e8cb80 R   0x1000
  LOAD           0x1e8cf10 0x0000000001e8df10 0x0000000001e8df10 0x0000f0 0x0000f0 RW  0x1000
  DYNAMIC        0x1e8cf10 0x0000000001e8df10 0x0000000001e8df10 0x0000f0 0x0000f0 RW  0x8
  NOTE           0x000190 0x0000000000000190 0x0000000000000190 0x000024 0x000024 R   0x4
  GNU_STACK      0x000000 0x0000000000000000 0x0000000000000000 0x000000 0x000000 RW  0x10
  GNU_RELRO      0x1e8cf10 0x0000000001e8df10 0x0000000001e8df10 0x0000f0 0x0000f0 R   0x1
"""
STRIPPED_OPENBLAS_PROGRAM_HEADERS = """
Program Headers:
  Type           Offset   VirtAddr           PhysAddr           FileSiz  MemSiz   Flg Align
  PHDR           0x000040 0x0000000000000040 0x0000000000000040 0x000348 0x000348 R   0x8
  LOAD           0x000000 0x0000000000000000 0x0000000000000000 0x2887dc 0x2887dc R   0x1000
  GNU_EH_FRAME   0x0f17e8 0x00000000000f17e8 0x00000000000f17e8 0x016d8c 0x016d8c R   0x4
  LOAD           0x288800 0x0000000000289800 0x0000000000289800 0x133fe70 0x133fe70 R E 0x1000
  TLS            0x15c8670 0x00000000015c9670 0x00000000015c9670 0x000000 0x023000 R   0x10
  LOAD           0x15c8670 0x00000000015ca670 0x00000000015ca670 0x007450 0x007990 RW  0x1000
  LOAD           0x15cfac0 0x00000000015d2ac0 0x00000000015d2ac0 0x00df38 0x015380 RW  0x1000
  LOAD           0x15de000 0x00000000015ed000 0x00000000015ed000 0x043098 0x043098 RW  0x1000
  LOAD           0x1621098 0x000000000166b000 0x000000000166b000 0x000000 0x000000 RW  0x1000
  DYNAMIC        0x1622000 0x00000000016e1000 0x00000000016e1000 0x0001f0 0x0001f0 RW  0x8
"""
"""`readelf -lW` of NumPy's OpenBLAS after binutils' strip: one load segment is 0x98 off its page."""


def test_load_segment_alignment_decides_whether_the_stripped_copy_is_used():
    assert bundle.load_segments_aligned(ALIGNED_PROGRAM_HEADERS)
    assert not bundle.load_segments_aligned(STRIPPED_OPENBLAS_PROGRAM_HEADERS)
    assert not bundle.load_segments_aligned("")  # readelf read no ELF file


def test_only_elf_files_are_stripped():
    assert bundle.is_elf(b"\x7fELF")
    assert not bundle.is_elf(b"PK\x03\x04")  # base_library.zip
    assert not bundle.is_elf(b"")


# ICU data


def test_icu_data_library_is_recognised_by_name():
    assert bundle.icu_data_symbol(entry(f"{QT_LIB}/libicudata.so.73")) == "icudt73_dat"
    assert bundle.icu_data_symbol(entry("libicudata.so.74")) == "icudt74_dat"
    assert bundle.icu_data_symbol((f"{QT_LIB}/libicudata.so.73", "libicudata.so.73.2", "SYMLINK")) is None
    for destination in (f"{QT_LIB}/libicuuc.so.73", f"{QT_LIB}/libicui18n.so.73", "libicudata.so.73.2"):
        assert bundle.icu_data_symbol(entry(destination)) is None


def test_icu_items_that_qt_never_reads_are_dropped():
    kept = [
        "af.res",
        "root.res",
        "coll/de.res",
        "coll/root.res",
        "zone/de.res",
        "zone/root.res",
        "curr/de.res",
        "lang/de.res",
        "region/de.res",
        "units.res",
        "cnvalias.icu",
        "ibm-1252_P100-2000.cnv",
        "metaZones.res",
        "zoneinfo64.res",
        "timezoneTypes.res",
        "uts46.nrm",
        "ulayout.icu",
    ]
    dropped = [
        "brkitr/char.brk",
        "brkitr/cjdict.dict",
        "brkitr/de.res",
        "translit/root.res",
        "rbnf/de.res",
        "unit/de.res",
        "unames.icu",
    ]
    assert bundle.icu_items_to_drop(kept + dropped) == dropped


ICUUC_SECTIONS = """There are 38 section headers, starting at offset 0x219c50:

Section Headers:
  [Nr] Name              Type            Address          Off    Size   ES Flg Lk Inf Al
  [ 0]                   NULL            0000000000000000 000000 000000 00      0   0  0
  [ 1] .note.gnu.build-id NOTE            0000000000000238 000238 000024 00   A  0   0  4
  [13] .rodata           PROGBITS        0000000000170000 170000 055384 00   A  0   0 32
  [17] .init_array       INIT_ARRAY      00000000002027f0 2017f0 000008 08  WA  0   0  8
  [18] .fini_array       FINI_ARRAY      00000000002027f8 2017f8 000008 08  WA  0   0  8
  [19] .data.rel.ro      PROGBITS        0000000000202800 201800 012418 00  WA  0   0 32
  [20] .dynamic          DYNAMIC         0000000000214c18 213c18 000270 10  WA  4   0  8
"""
ICUUC_SYMBOLS = """
Symbol table '.dynsym' contains 3461 entries:
   Num:    Value          Size Type    Bind   Vis      Ndx Name
    86: 0000000000211d28    56 OBJECT  WEAK   DEFAULT   19 _ZTIN6icu_7315RBBISymbolTableE
    96: 00000000002103f8    56 OBJECT  WEAK   DEFAULT   19 _ZTVN6icu_7318CharStringByteSinkE
   461: 0000000000215a80     8 OBJECT  GLOBAL DEFAULT   24 gTimeZoneFilesInitOnce_73
"""


def test_symbol_file_range_moves_from_the_section_address_to_its_file_offset():
    offset, size = bundle.symbol_file_range(ICUUC_SYMBOLS, ICUUC_SECTIONS, "_ZTVN6icu_7318CharStringByteSinkE")
    assert (offset, size) == (0x2103F8 - 0x202800 + 0x201800, 56)


@needs_binutils
@pytest.mark.skipif(ICU_DATA is None, reason="PySide6 carries no ICU here")
def test_symbol_file_range_finds_icus_data_package_in_pysides_library():
    symbols = subprocess.run(["readelf", "-sW", str(ICU_DATA)], capture_output=True, text=True, check=True).stdout
    sections = subprocess.run(["readelf", "-SW", str(ICU_DATA)], capture_output=True, text=True, check=True).stdout

    offset, size = bundle.symbol_file_range(symbols, sections, bundle.icu_data_symbol(entry(ICU_DATA.name)))

    with open(ICU_DATA, "rb") as handle:
        handle.seek(offset)
        header = handle.read(4)
    assert header[2:4] == b"\xda\x27"  # ICU's data header magic
    assert 20_000_000 < size < ICU_DATA.stat().st_size


@needs_binutils
def test_icu_data_assembly_links_into_a_library_whose_symbol_holds_the_package(tmp_path):
    package = tmp_path / "icudt73l.dat"
    package.write_bytes(bytes(range(256)) * 40 + b"end")
    (tmp_path / "data.s").write_text(bundle.icu_data_assembly("icudt73_dat", package))
    subprocess.run(["as", "-o", str(tmp_path / "data.o"), str(tmp_path / "data.s")], check=True)
    library = tmp_path / "libicudata.so.73"
    subprocess.run(["ld", "-shared", "-soname", library.name, "-o", str(library), str(tmp_path / "data.o")], check=True)

    assert bundle.elf_needed(str(library)) == []
    symbols = subprocess.run(["readelf", "-sW", str(library)], capture_output=True, text=True, check=True).stdout
    sections = subprocess.run(["readelf", "-SW", str(library)], capture_output=True, text=True, check=True).stdout
    offset, size = bundle.symbol_file_range(symbols, sections, "icudt73_dat")
    assert library.read_bytes()[offset : offset + size] == package.read_bytes()


@needs_binutils
@pytest.mark.skipif(ICU_DATA is None, reason="PySide6's Linux libraries are not installed")
def test_elf_needed_reads_the_direct_dependencies():
    needed = bundle.elf_needed(str(ICU_DATA.with_name("libQt6Widgets.so.6")))
    assert {"libQt6Gui.so.6", "libQt6Core.so.6", "libc.so.6"} <= set(needed)
    assert "libfontconfig.so.1" not in needed  # Qt Gui's, not Qt Widgets' own


# Duplicated libraries


def test_a_library_two_wheels_vendor_byte_for_byte_becomes_a_symbolic_link():
    toc = [
        entry("libz.so.1"),
        entry("numpy.libs/libgfortran-040039e1-0352e75f.so.5.0.0"),
        entry("numpy.libs/libquadmath-96973f99-934c22de.so.0.0.0"),
        entry("scipy.libs/libgfortran-040039e1-0352e75f.so.5.0.0"),
        entry("scipy.libs/libquadmath-96973f99-934c22de.so.0.0.0"),
        entry("scipy.libs/libgfortran-8f1e9814.so.5.0.0"),
        entry("PySide6/Qt/lib/libz.so.1"),
        ("PySide6/Qt/lib/libicudata.so", "libicudata.so.73", "SYMLINK"),
    ]
    digests = {
        "libz.so.1": "z",  # the top folder's libraries take no part
        "numpy.libs/libgfortran-040039e1-0352e75f.so.5.0.0": "gfortran",
        "numpy.libs/libquadmath-96973f99-934c22de.so.0.0.0": "quadmath numpy",
        "scipy.libs/libgfortran-040039e1-0352e75f.so.5.0.0": "gfortran",
        "scipy.libs/libquadmath-96973f99-934c22de.so.0.0.0": "quadmath scipy",  # same name, other bytes
        "scipy.libs/libgfortran-8f1e9814.so.5.0.0": "gfortran",  # same bytes, other name
        "PySide6/Qt/lib/libz.so.1": "z",
    }

    result = bundle.linked_duplicates(toc, {f"/site-packages/{d}": digest for d, digest in digests.items()}.__getitem__)

    link = ("scipy.libs/libgfortran-040039e1-0352e75f.so.5.0.0", "../numpy.libs/libgfortran-040039e1-0352e75f.so.5.0.0")
    assert result == [*toc[:3], (*link, "SYMLINK"), *toc[4:]]


def test_a_symbolic_link_resolves_to_the_first_copy_from_any_depth():
    toc = [entry("shiboken6/libshiboken6.abi3.so.6.11"), entry("PySide6/Qt/lib/libshiboken6.abi3.so.6.11")]

    (destination, target, typecode) = bundle.linked_duplicates(toc, lambda source: "same")[1]

    assert typecode == "SYMLINK"
    assert posixpath.normpath(posixpath.join(posixpath.dirname(destination), target)) == toc[0][0]


# Version


def test_app_version_is_read_from_the_source_as_python_reads_it():
    from app import __version__

    assert bundle.app_version((REPO / "app" / "__init__.py").read_text()) == __version__
    assert bundle.app_version('"""Doc."""\n\n__version__ = "0.2.0+20261201.58ba652d"\n') == "0.2.0+20261201.58ba652d"


@pytest.mark.parametrize(
    ("version", "numbers"),
    [
        ("0.1.0", (0, 1, 0, 0)),
        ("0.1.0+20261201.58ba652d", (0, 1, 0, 0)),
        ("1.12", (1, 12, 0, 0)),
        ("2.0rc1", (2, 0, 0, 0)),
        ("1.10.0.dev3", (1, 10, 0, 0)),
        ("3.2.1.4.5", (3, 2, 1, 4)),
    ],
)
def test_windows_version_numbers(version, numbers):
    assert bundle.version_numbers(version) == numbers


def test_a_version_a_windows_resource_cannot_hold_is_refused():
    with pytest.raises(ValueError, match="65535"):
        bundle.version_numbers("0.1.20261201")


def test_windows_version_strings_carry_the_whole_version():
    strings = bundle.version_strings("0.1.0+20261201.58ba652d", "BlastScan command line", "blastscan-cli.exe")
    assert strings["FileVersion"] == strings["ProductVersion"] == "0.1.0+20261201.58ba652d"
    assert strings["FileDescription"] == "BlastScan command line"
    assert strings["OriginalFilename"] == "blastscan-cli.exe"
