import json
from pathlib import Path

import pytest

from spl_opt.core.errors import ConfigError, DataError
from spl_opt.tasks.registry import available_bbh_tasks, default_data_dir, resolve_task

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared benchmark data not present")


def ids(examples: tuple) -> list[str]:
    return [e.id for e in examples]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_letters_splits_are_disjoint_and_sized() -> None:
    task = resolve_task("letters", n_train=10, n_val=8, n_test=12, seed=1)
    assert (len(task.train), len(task.val), len(task.test)) == (10, 8, 12)
    all_ids = ids(task.train) + ids(task.val) + ids(task.test)
    assert len(set(all_ids)) == 30
    assert task.metric == "numeric"
    assert task.seed_prompt == "You are a helpful assistant."
    assert task.name == "letters"


def test_deterministic_per_seed(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [{"input": f"q{i}", "target": f"w{i}"} for i in range(40)])
    a = resolve_task("mine", data_file=path, n_train=5, n_val=5, n_test=5, seed=3)
    assert a == resolve_task("mine", data_file=path, n_train=5, n_val=5, n_test=5, seed=3)
    b = resolve_task("mine", data_file=path, n_train=5, n_val=5, n_test=5, seed=4)
    assert ids(a.train) != ids(b.train)
    assert a.name == "mine" and a.metric == "exact"


def test_small_file_shrinks_proportionally(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [{"input": f"q{i}", "target": str(i)} for i in range(11)])
    task = resolve_task("small", data_file=path, n_train=30, n_val=30, n_test=50)
    sizes = (len(task.train), len(task.val), len(task.test))
    assert sum(sizes) == 11 and min(sizes) >= 1
    assert sizes == (3, 3, 5)
    assert len(set(ids(task.train) + ids(task.val) + ids(task.test))) == 11
    tiny = write_jsonl(tmp_path / "tiny.jsonl", [{"input": f"q{i}", "target": "a"} for i in range(3)])
    t = resolve_task("tiny", data_file=tiny)
    assert (len(t.train), len(t.val), len(t.test)) == (1, 1, 1)


def test_too_few_examples(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "two.jsonl", [{"input": "a", "target": "x"}, {"input": "b", "target": "y"}])
    with pytest.raises(DataError, match="at least 3 examples"):
        resolve_task("two", data_file=path)


def test_split_sizes_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="n_val"):
        resolve_task("letters", n_val=0)


def test_metric_inference(tmp_path: Path) -> None:
    numeric = write_jsonl(
        tmp_path / "n.jsonl", [{"input": "q", "target": t} for t in ("1", "-2", "3.5", "1,000")]
    )
    assert resolve_task("n", data_file=numeric).metric == "numeric"
    mixed = write_jsonl(tmp_path / "m.jsonl", [{"input": "q", "target": t} for t in ("1", "2", "three")])
    assert resolve_task("m", data_file=mixed).metric == "exact"


def test_unknown_spec_lists_forms(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="'letters', 'gsm8k', 'bbh:<name>'"):
        resolve_task("nonsense", data_dir=tmp_path)


def test_data_dir_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPL_OPT_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path
    (tmp_path / "bbh").mkdir()
    (tmp_path / "bbh" / "toy.json").write_text(
        json.dumps({"examples": [{"input": f"q{i}", "target": "yes" if i % 2 else "no"} for i in range(9)]})
    )
    assert available_bbh_tasks(None) == ["toy"]
    task = resolve_task("bbh:toy", n_train=3, n_val=3, n_test=3)
    assert task.metric == "exact" and len(task.test) == 3


def test_built_in_tasks_work_from_any_directory_with_the_packaged_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPL_OPT_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    root = default_data_dir()
    assert root is not None and root.parent.name == "spl_opt"
    assert len(available_bbh_tasks()) == 18
    assert (root / "bbh" / "LICENSE").is_file() and (root / "gsm8k" / "LICENSE").is_file()
    assert len(resolve_task("bbh:web_of_lies", n_train=5, n_val=5, n_test=5).test) == 5
    assert resolve_task("gsm8k", n_train=2, n_val=2, n_test=2).metric == "numeric"


@needs_data
def test_bbh_unknown_name_lists_available_tasks() -> None:
    with pytest.raises(DataError, match="boolean_expressions") as info:
        resolve_task("bbh:no_such_task", data_dir=DATA)
    assert "word_sorting" in str(info.value)


@needs_data
def test_real_tasks() -> None:
    assert len(available_bbh_tasks(DATA)) == 18
    bbh = resolve_task("bbh:boolean_expressions", data_dir=DATA, seed=0)
    assert (len(bbh.train), len(bbh.val), len(bbh.test)) == (30, 30, 50)
    assert bbh.metric == "exact"
    assert resolve_task("bbh:object_counting", data_dir=DATA).metric == "numeric"
    gsm = resolve_task("gsm8k", data_dir=DATA, n_train=5, n_val=5, n_test=5)
    assert gsm.metric == "numeric" and gsm.train[0].meta["solution"]
