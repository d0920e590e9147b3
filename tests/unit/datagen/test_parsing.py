"""Parsing the teacher's question lists and validating chain-of-thought answers."""

from raft_jobs.common.conversation import REFUSAL_ANSWER
from raft_jobs.datagen.parsing import (
    CUT_OFF,
    NO_ANSWER,
    NO_QUOTE,
    QUOTE_MATCH_THRESHOLD,
    QUOTE_NOT_IN_ORACLE,
    REJECTION_REASONS,
    TEACHER_REFUSED,
    check_cot,
    final_answer,
    parse_questions,
    quote_found,
)


def test_numbered_list_with_noise() -> None:
    text = "Here are the questions:\n1. What is the capital of France?\n2) Who wrote Hamlet?\n\n3. What is the capital of France?\n4.\n"
    assert parse_questions(text) == ["What is the capital of France?", "Who wrote Hamlet?"]


def test_bullets_bold_and_limit() -> None:
    text = "- **When did the bridge open?**\n* Which river feeds the canal?\n• How tall is the tower?"
    assert parse_questions(text, limit=2) == ["When did the bridge open?", "Which river feeds the canal?"]


def test_json_list_and_object_and_fences() -> None:
    assert parse_questions('["What is X made of?", "", "Why is Y red today?"]') == [
        "What is X made of?",
        "Why is Y red today?",
    ]
    fenced = '```json\n{"questions": [{"question": "Where is the old mill?"}]}\n```'
    assert parse_questions(fenced) == ["Where is the old mill?"]


def test_plain_lines_ending_with_question_marks() -> None:
    assert parse_questions("What grows in the orchard?\nSome prose.\nWho guards the tower?") == [
        "What grows in the orchard?",
        "Who guards the tower?",
    ]


def test_word_salad_yields_nothing() -> None:
    assert parse_questions("lorem ipsum dolor sit amet consectetur adipiscing elit") == []


def test_cot_checks_reject_by_reason() -> None:
    """Issue 13, item 6: every chain-of-thought answer is checked before it is used."""
    context = "The river supplies grain.  The tower   guards sheep since 1712."
    good = "##begin_quote##The river supplies\ngrain.##end_quote## so.\n<ANSWER>: grain"
    check = check_cot(good, context)
    assert check.valid and check.answer == "grain" and check.quotes == 1 and check.quotes_not_in_context == 0
    near = "##begin_quote##the tower guard sheep since 1712##end_quote##\n<ANSWER>: sheep"
    assert check_cot(near, context).valid  # one letter off: a near match above the threshold
    cases = {
        "##begin_quote##The moon is made of cheese.##end_quote##\n<ANSWER>: cheese": QUOTE_NOT_IN_ORACLE,
        "The river is mentioned.\n<ANSWER>: grain": NO_QUOTE,
        f"##begin_quote##The river supplies grain.##end_quote##\n<ANSWER>: {REFUSAL_ANSWER}": TEACHER_REFUSED,
        "##begin_quote##The river supplies grain.##end_quote##\nThe document does not contain the answer."
        "\n<ANSWER>: The document does not contain the answer.": TEACHER_REFUSED,
        "no tag here": NO_ANSWER,
        "<ANSWER>:   ": NO_ANSWER,
    }
    for text, reason in cases.items():
        assert check_cot(text, context).rejection == reason, text
    assert check_cot(good, context, finish_reason="length").rejection == CUT_OFF
    assert set(REJECTION_REASONS) == {CUT_OFF, NO_ANSWER, TEACHER_REFUSED, NO_QUOTE, QUOTE_NOT_IN_ORACLE}


def test_near_match_threshold_is_documented() -> None:
    assert QUOTE_MATCH_THRESHOLD == 0.9
    oracle = "Sentence one is here. The tower of Brenmark guards sheep since 1712 according to record 1-2."
    assert quote_found("The tower of Brenmark guards sheep since 1712", oracle)
    assert quote_found("The towr of Brenmark guards sheep since 1712", oracle)
    assert not quote_found("The records were moved to the old archive in the spring", oracle)


def test_final_answer_uses_the_last_tag() -> None:
    assert final_answer("<ANSWER>: a\nthen <answer> : b") == "b"
    assert final_answer("plain") == "plain"
