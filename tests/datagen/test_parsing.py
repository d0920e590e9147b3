"""Parsing the teacher's question lists and validating chain-of-thought answers."""

from raft_jobs.datagen.parsing import check_cot, final_answer, parse_questions


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


def test_cot_validation_counts_quotes_outside_the_context() -> None:
    context = "The river supplies grain.  The tower guards sheep."
    good = "##begin_quote##The river supplies grain.##end_quote## so.\n<ANSWER>: grain"
    check = check_cot(good, context)
    assert check.valid and check.answer == "grain" and check.quotes == 1 and check.quotes_not_in_context == 0
    bad_quote = "##begin_quote##The moon is cheese.##end_quote##\n<ANSWER>: cheese"
    check = check_cot(bad_quote, context)
    assert check.valid and check.quotes_not_in_context == 1
    assert not check_cot("no tag here", context).valid
    assert not check_cot("<ANSWER>:   ", context).valid


def test_final_answer_uses_the_last_tag() -> None:
    assert final_answer("<ANSWER>: a\nthen <answer> : b") == "b"
    assert final_answer("plain") == "plain"
