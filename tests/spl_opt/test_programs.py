import dspy
import pytest

from spl_opt.core.errors import ConfigError
from spl_opt.core.records import Example, Playbook
from spl_opt.dspy_programs import EXTRACT, ExtractThenAnswer
from spl_opt.programs import DSPyProgram, apply_prompt, build_program, load_factory, seed_playbook
from spl_opt.testing import scripted_lm


def two_step_answer(system: str, user: str) -> str:
    """Scripted model for ExtractThenAnswer: the facts hold the sum; the answer is right only when
    the system prompt says to add."""
    numbers = [int(t) for t in user.replace("?", " ").split() if t.isdigit()][:2]
    if "\nfacts:" not in user:
        return f"The total is {sum(numbers)}."
    return f"Answer: {sum(numbers)}" if "add" in system.lower() else "Answer: 0"


def test_a_program_with_several_predictors_gets_one_part_per_predictor():
    program = ExtractThenAnswer(extract="Find facts.", answer="Answer it.")
    seed = seed_playbook(program)
    assert [(p.name, p.playbook.preamble) for p in seed.parts] == [
        ("extract", "Find facts."),
        ("answer", "Answer it."),
    ]
    learned = seed.with_part("answer", Playbook(preamble="Answer it. Add the numbers."))
    applied = apply_prompt(program, learned.render())
    assert applied.extract.signature.instructions == "Find facts."
    assert applied.answer.signature.instructions == "Answer it. Add the numbers."
    assert program.answer.signature.instructions == "Answer it."  # the original is untouched
    shared = apply_prompt(program, "Be brief.")  # a single prompt is appended to every predictor
    assert shared.extract.signature.instructions == "Find facts.\n\nBe brief."
    assert seed_playbook(dspy.Predict("question -> answer")).parts == ()


def test_a_multi_step_program_reports_each_steps_input_and_output():
    program = DSPyProgram(ExtractThenAnswer(), scripted_lm(two_step_answer))
    example = Example(id="e", inputs={"question": "What is 2 plus 3?"}, target="5")
    prompt = seed_playbook(program.module).render()
    out = program.run(prompt, example)
    assert [s.name for s in out.steps] == ["extract", "answer"]
    assert out.steps[0].input == "question: What is 2 plus 3?" and "total is 5" in out.steps[0].output
    assert "facts: The total is 5." in out.steps[1].input and out.steps[1].output == "answer: Answer: 0"
    assert out.text == "answer: Answer: 0"
    assert EXTRACT in prompt


def test_a_failing_step_keeps_the_trace_of_the_steps_before_it():
    def fail_second(system: str, user: str) -> str:
        if "\nfacts:" in user:
            raise RuntimeError("server down")
        return "facts here"

    program = DSPyProgram(ExtractThenAnswer(), scripted_lm(fail_second))
    example = Example(id="e", inputs={"question": "What is 2 plus 3?"}, target="5")
    with pytest.raises(Exception) as info:
        program.run(seed_playbook(program.module).render(), example)
    assert [s.name for s in info.value.steps] == ["extract"]


def test_program_factories_fail_in_one_clear_line():
    assert isinstance(build_program("spl_opt.dspy_programs:extract_then_answer"), ExtractThenAnswer)
    assert callable(load_factory("spl_opt.dspy_programs:extract_then_answer"))
    for ref, message in [
        ("no_colon", "expected an importable factory as module:function"),
        ("no_such_module_xyz:make", "cannot import no_such_module_xyz"),
        ("spl_opt.dspy_programs:missing", "has no function missing"),
        ("spl_opt.search.budget:Budget", "returned Budget, not a DSPy module"),
    ]:
        with pytest.raises(ConfigError, match=message):
            build_program(ref)


@pytest.mark.parametrize("batching", [False, True])
def test_the_scripted_engines_cut_an_answer_at_max_tokens_like_the_real_one(batching):
    from spl_opt.programs import ChatProgram

    lm = scripted_lm(
        lambda s, u: "one two three" if u == "short" else "w " * 10, batching=batching, max_tokens=4
    )
    program = ChatProgram(lm)
    long, short = program.run_batch(
        "p",
        [
            Example(id="a", inputs={"question": "long"}, target="x"),
            Example(id="b", inputs={"question": "short"}, target="x"),
        ],
    )
    assert (long.truncated, long.output_tokens, long.text) == (True, 4, "w w w w")
    assert (short.truncated, short.output_tokens, short.text) == (False, 3, "one two three")


def test_the_chat_cache_namespace_holds_the_sampling_settings_unless_they_are_the_defaults():
    from spl_opt.core.records import content_hash
    from spl_opt.programs import ChatProgram

    default = ChatProgram(scripted_lm(["x"], model="m/a"))
    assert default.cache_namespace == content_hash("chat", "m/a")  # caches written before stay valid
    longer = ChatProgram(scripted_lm(["x"], model="m/a", max_tokens=512)).cache_namespace
    warmer = ChatProgram(scripted_lm(["x"], model="m/a", temperature=0.7)).cache_namespace
    assert len({default.cache_namespace, longer, warmer}) == 3 and default.reports_truncation


def test_a_dspy_program_reports_a_cut_off_step_and_keeps_no_history():
    def long_facts(system: str, user: str) -> str:
        return "Answer: 5" if "\nfacts:" in user else "fact " * 10

    example = Example(id="e", inputs={"question": "What is 2 plus 3?"}, target="5")
    cut = DSPyProgram(ExtractThenAnswer(), scripted_lm(long_facts, max_tokens=4))
    assert cut.reports_truncation and cut.run("p", example).truncated  # the first of two steps was cut
    finished = DSPyProgram(ExtractThenAnswer(), scripted_lm(long_facts, max_tokens=20))
    with dspy.context(disable_history=True):  # the program reads its calls' history regardless
        assert not finished.run("p", example).truncated
        assert cut.run("p", example).truncated
    copy = cut._program_for("p")
    assert all(m.history == [] for _, m in copy.named_sub_modules())  # cleared after every run


def test_the_dspy_cache_namespace_holds_the_budget_unless_it_is_the_default():
    from spl_opt.core.records import content_hash

    default = DSPyProgram(dspy.Predict("question -> answer"), scripted_lm(["x"], model="m/a"))
    sig = str(dspy.Predict("question -> answer").signature)
    assert default.cache_namespace == content_hash("dspy", "Predict", sig, "m/a")  # earlier caches valid
    longer = DSPyProgram(dspy.Predict("question -> answer"), scripted_lm(["x"], model="m/a", max_tokens=512))
    assert longer.cache_namespace != default.cache_namespace


@pytest.mark.parametrize(
    "response, cut",
    [
        ({"choices": [{"finish_reason": "stop"}, {"finish_reason": "length"}]}, True),
        ({"choices": [{"finish_reason": "stop"}]}, False),
        ([{"finish_reason": "stop"}, {"finish_reason": "length"}], True),
        (None, False),
    ],
)
def test_a_cut_off_response_is_read_from_either_shape_dspy_records(response, cut):
    from spl_opt.programs import stopped_at_limit

    assert stopped_at_limit(response) is cut
