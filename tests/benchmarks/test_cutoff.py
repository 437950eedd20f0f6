"""benchmarks.cutoff: outputs at the generation limit, read from an evaluation cache."""

import json

from benchmarks import cutoff
from spl_opt.core.records import Playbook


def test_the_seed_prompts_outputs_at_the_limit_are_counted_per_task(tmp_path):
    seed, other = Playbook(preamble=cutoff.SEED_PROMPT).id, "abc"

    def entry(prompt, example, tokens, score, **extra):
        result = {"example_id": example, "score": score, "output_tokens": tokens, **extra}
        return json.dumps({"key": [prompt, example, "ns"], "result": result})

    lines = [
        entry(seed, "web_of_lies-1", 256, 0.0),
        entry(seed, "web_of_lies-2", 40, 1.0),
        entry(seed, "train-7", 12, 1.0, truncated=True),  # gsm8k; marked, whatever its count
        entry(other, "web_of_lies-1", 3, 1.0),
        entry(other, "web_of_lies-2", 256, 0.0, truncated=False),  # recorded: finished at the limit
        entry(other, "web_of_lies-3", 0, 0.0, outcome="error", error="timeout"),  # no answer at all
        json.dumps({"key": [other, "web_of_lies-4", "ns"], "discard": True}),
        '{"key": ["torn',
    ]
    (tmp_path / "eval-cache.jsonl").write_text("\n".join(lines) + "\n")
    report = cutoff.measure(tmp_path, limit=256)
    wol = report["seed_prompt"]["web_of_lies"]
    assert (wol["outputs"], wol["cut_off"]) == (2, 1)
    assert (wol["accuracy_cut_off"], wol["accuracy_finished"]) == (0.0, 1.0)
    assert report["seed_prompt"]["gsm8k"]["cut_off"] == 1
    assert report["all_prompts"]["cut_off"] == 2 and report["all_prompts"]["outputs"] == 5
    cutoff.main([str(tmp_path), "--out", str(tmp_path / "out")])
    assert "| web_of_lies | 2 | 1 (0.50) | 0.00 | 1.00 |" in (tmp_path / "out" / "cutoff.md").read_text()
