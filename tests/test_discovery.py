"""Image discovery: recursion, type by content and extension, hidden files, links, order."""

import os
from pathlib import Path

import pytest
from bad_inputs import ERRORS, IGNORED, VALID

from app.core.discovery import discover_images, looks_like_image


def _names(found: list[Path], root: Path) -> list[str]:
    return [path.relative_to(root).as_posix() for path in found]


def test_corpus_folder_yields_every_image_named_file_and_nothing_else(corpus):
    found = _names(discover_images([corpus]), corpus)
    assert sorted(found) == sorted([*ERRORS, *VALID])
    assert not set(found) & set(IGNORED)


def test_results_are_absolute_and_sub_folders_come_after_files(corpus, monkeypatch):
    monkeypatch.chdir(corpus.parent)
    found = discover_images([corpus.name])
    assert all(path.is_absolute() for path in found)
    assert _names(found, corpus)[-1] == "nested/deeper/cell.webp"


def test_natural_order_and_case_insensitive_extensions(tmp_path, sample_cell):
    from PIL import Image

    for name in ("img10.PNG", "img2.Tif", "IMG1.jpeg", "img3.bmp"):
        Image.fromarray(sample_cell).save(tmp_path / name)
    assert _names(discover_images([tmp_path]), tmp_path) == ["IMG1.jpeg", "img2.Tif", "img3.bmp", "img10.PNG"]


def test_image_without_extension_is_found_by_content(tmp_path, sample_cell):
    from PIL import Image

    Image.fromarray(sample_cell).save(tmp_path / "export_0001", format="PNG")
    (tmp_path / "log").write_text("not an image")
    assert _names(discover_images([tmp_path]), tmp_path) == ["export_0001"]
    assert looks_like_image(tmp_path / "export_0001") and not looks_like_image(tmp_path / "log")


def test_explicit_files_are_kept_even_when_not_images_or_missing(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    missing = tmp_path / "gone.bmp"
    assert discover_images([text, missing]) == [text, missing]


def test_argument_order_kept_and_duplicates_dropped(corpus):
    one, two = corpus / "grey.png", corpus / "cmyk.jpg"
    found = discover_images([one, two, corpus, one])
    assert found[:2] == [one, two]
    assert len(found) == len(set(found)) == len(ERRORS) + len(VALID)


@pytest.mark.skipif(os.name == "nt", reason="symbolic links need privileges on Windows")
def test_symlink_loops_are_not_followed_twice(tmp_path, sample_cell):
    from PIL import Image

    (tmp_path / "a" / "b").mkdir(parents=True)
    Image.fromarray(sample_cell).save(tmp_path / "a" / "b" / "cell.png")
    (tmp_path / "a" / "b" / "loop").symlink_to(tmp_path / "a", target_is_directory=True)
    (tmp_path / "a" / "same.png").symlink_to(tmp_path / "a" / "b" / "cell.png")
    found = discover_images([tmp_path])
    assert len(found) == 1
    assert found[0].resolve() == (tmp_path / "a" / "b" / "cell.png").resolve()


def test_folder_without_images_yields_nothing(corpus):
    assert discover_images([corpus / "empty folder"]) == []
