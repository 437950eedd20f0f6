import json
from pathlib import Path

import pytest

from spl_opt.core.errors import DataError
from spl_opt.tasks.files import load_examples

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared benchmark data not present")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_json_examples_object_and_top_level_list(tmp_path: Path) -> None:
    obj = write(tmp_path / "mine.json", json.dumps({"examples": [{"input": "1+1?", "target": 2}]}))
    [ex] = load_examples(obj)
    assert ex.id == "mine-0" and ex.inputs == {"input": "1+1?"} and ex.target == "2"
    lst = write(
        tmp_path / "flat.json", json.dumps([{"question": "q", "answer": True}, {"input": "i", "target": "t"}])
    )
    assert [(e.id, e.input_text(), e.target) for e in load_examples(lst)] == [
        ("flat-0", "q", "True"),
        ("flat-1", "i", "t"),
    ]


def test_jsonl_skips_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", '{"input": "a", "target": "x"}\n\n  \n{"input": "b", "target": "y"}\n')
    assert [(e.id, e.target) for e in load_examples(path)] == [("t-0", "x"), ("t-1", "y")]


def test_gsm8k_answer_extraction(tmp_path: Path) -> None:
    answer = "He has 1,000 + 234 = <<1000+234=1234>>1,234 coins.\n#### 1,234"
    path = write(tmp_path / "g.jsonl", json.dumps({"question": "How many?", "answer": answer}) + "\n")
    [ex] = load_examples(path)
    assert ex.target == "1234"
    assert ex.meta["solution"] == answer
    assert ex.inputs == {"question": "How many?"}


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.jsonl"
    with pytest.raises(DataError, match=r"data file not found: .*nope\.jsonl"):
        load_examples(path)


def test_bad_jsonl_line_reports_its_line_number(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", '{"input": "a", "target": "x"}\n\n{"input": "b", "target": \n')
    with pytest.raises(DataError, match=r"bad\.jsonl line 3: invalid JSON"):
        load_examples(path)


def test_bad_json_reports_its_line_number(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.json", '{"examples": [\n  {"input": "a", "target": "x"},\n  {"input": }\n]}')
    with pytest.raises(DataError, match=r"bad\.json line 3: invalid JSON"):
        load_examples(path)


def test_row_without_input_field(tmp_path: Path) -> None:
    path = write(tmp_path / "rows.jsonl", '{"input": "a", "target": "x"}\n{"prompt": "b", "target": "y"}\n')
    with pytest.raises(DataError, match=r"rows\.jsonl line 2: row has no 'input'/'question' field"):
        load_examples(path)
    arr = write(
        tmp_path / "arr.json", json.dumps({"examples": [{"input": "a", "target": "x"}, {"input": "b"}]})
    )
    with pytest.raises(DataError, match=r"arr\.json example 1: row has no 'target'/'answer' field"):
        load_examples(arr)


def test_non_object_rows_and_wrong_shapes(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"line 1: row is not a JSON object"):
        load_examples(write(tmp_path / "s.jsonl", '"just a string"\n'))
    with pytest.raises(DataError, match="expected a list of examples"):
        load_examples(write(tmp_path / "o.json", '{"rows": []}'))
    with pytest.raises(DataError, match="unsupported file type"):
        load_examples(write(tmp_path / "x.csv", "input,target\n"))


def test_empty_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no examples"):
        load_examples(write(tmp_path / "e.jsonl", "\n\n"))
    with pytest.raises(DataError, match="no examples"):
        load_examples(write(tmp_path / "e.json", '{"examples": []}'))
    with pytest.raises(DataError, match="invalid JSON"):
        load_examples(write(tmp_path / "blank.json", ""))


@needs_data
def test_real_bbh_file() -> None:
    examples = load_examples(DATA / "bbh" / "boolean_expressions.json")
    assert len(examples) == 250
    assert examples[0].id == "boolean_expressions-0"
    assert {e.target for e in examples} == {"True", "False"}


@needs_data
def test_real_gsm8k_file() -> None:
    examples = load_examples(DATA / "gsm8k" / "train.jsonl")
    assert len(examples) == 7473
    first = examples[0]
    assert first.target == "72" and first.meta["solution"].endswith("#### 72")
    assert all("#### " not in e.target and "," not in e.target for e in examples)
