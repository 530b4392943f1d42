"""The output-location policy (issue 13.1): an output that is, contains or lies inside an input is refused."""

import os

import pytest

from tinybert.cli import flag_message
from tinybert.errors import UserError
from tinybert.utils.paths import check_output_location


def make(tmp_path):
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    (teacher / "model.safetensors").write_bytes(b"x")
    corpus = tmp_path / "data" / "corpus.txt"
    corpus.parent.mkdir()
    corpus.write_text("a\n")
    return teacher, corpus


@pytest.mark.parametrize("where, relation", [
    ("teacher", "is the input teacher_model"),
    ("teacher/out", "lies inside the input teacher_model"),
    (".", "contains the input teacher_model"),
    ("data", "contains the input train_corpus"),
])
def test_refuses_an_output_that_is_inside_or_contains_an_input(tmp_path, where, relation):
    teacher, corpus = make(tmp_path)
    with pytest.raises(UserError, match=relation) as info:
        check_output_location(tmp_path / where, {"teacher_model": teacher, "train_corpus": corpus, "absent": None})
    assert info.value.field == "output_dir"


def test_resolves_symlinks(tmp_path):
    teacher, corpus = make(tmp_path)
    link = tmp_path / "alias"
    os.symlink(teacher, link)
    with pytest.raises(UserError, match="is the input teacher_model"):
        check_output_location(link, {"teacher_model": teacher})
    with pytest.raises(UserError, match="lies inside the input teacher_model"):
        check_output_location(link / "sub", {"teacher_model": teacher})


def test_accepts_a_separate_folder_and_a_sibling_with_a_common_prefix(tmp_path):
    teacher, corpus = make(tmp_path)
    check_output_location(tmp_path / "out", {"teacher_model": teacher, "train_corpus": corpus})
    check_output_location(tmp_path / "teacher2", {"teacher_model": teacher})  # "teacher" is only a prefix of it


def test_an_existing_file_is_not_an_output_folder(tmp_path):
    teacher, corpus = make(tmp_path)
    with pytest.raises(UserError, match="is an existing file; expected a folder"):
        check_output_location(corpus, {})
    check_output_location(tmp_path / "new.tsv", {"train": corpus}, output_field="output", is_dir=False)
    with pytest.raises(UserError, match="is the input train"):
        check_output_location(corpus, {"train": corpus}, output_field="output", is_dir=False)


def test_the_cli_names_the_flag_instead_of_the_field(tmp_path):
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--output_model_path", "--output_dir", dest="output_dir")
    teacher, _ = make(tmp_path)
    with pytest.raises(UserError) as info:
        check_output_location(teacher, {"teacher_model": teacher})
    assert flag_message(info.value, parser).startswith("--output_dir ")
    assert flag_message(UserError("plain"), parser) == "plain"
