"""The text accounting of one dropped stream, on literal event lists (no server)."""

from __future__ import annotations

from stagecheck.load.reconnect_account import TextEvent, account

PIECES = ["Re", "wri", "tten", ": ", "hel", "lo"]
TEXTS = ["".join(PIECES[: n + 1]) for n in range(len(PIECES))]  # the unbroken run's full_texts
FINAL = TEXTS[-1]


def tokens(first: int, last: int) -> list[TextEvent]:
    """Live tokens first..last (0-based, inclusive) of the unbroken run."""
    return [TextEvent("token", TEXTS[n], PIECES[n]) for n in range(first, last + 1)]


def done(text: str = FINAL) -> TextEvent:
    return TextEvent("done", text)


def snapshot(text: str) -> TextEvent:
    return TextEvent("token", text, text)


BEFORE = tokens(0, 1)  # the drop after two tokens


def test_a_new_generation_repeats_what_was_shown() -> None:
    result = account(BEFORE, [*tokens(0, 5), done()], TEXTS, resumed_socket=False)
    assert (result.seen_twice, result.never_seen, result.text_matches, result.final_matches) == (2, 0, True, True)


def test_a_snapshot_then_live_tokens_loses_and_repeats_nothing() -> None:
    result = account(BEFORE, [snapshot(TEXTS[3]), *tokens(4, 5), done()], TEXTS, resumed_socket=True)
    assert (result.seen_twice, result.never_seen, result.text_matches) == (0, 0, True)


def test_a_snapshot_of_exactly_what_was_shown_is_no_repeat() -> None:
    result = account(BEFORE, [snapshot(TEXTS[1]), *tokens(2, 5), done()], TEXTS, resumed_socket=True)
    assert (result.seen_twice, result.never_seen) == (0, 0)


def test_an_ended_task_replayed_right_after_connected_delivers_its_text() -> None:
    result = account(BEFORE, [done()], TEXTS, resumed_socket=True)
    assert (result.never_seen, result.text_matches) == (0, True)


def test_no_snapshot_leaves_the_outage_unseen_though_done_is_right() -> None:
    # Live tokens 4 and 5 only: tokens 2 and 3 were produced while the client was away.
    result = account(BEFORE, [*tokens(4, 5), done()], TEXTS, resumed_socket=True)
    assert (result.never_seen, result.text_matches, result.final_matches) == (2, False, True)


def test_a_wrong_snapshot_delivers_nothing() -> None:
    result = account(BEFORE, [snapshot(PIECES[3]), *tokens(4, 5), done()], TEXTS, resumed_socket=True)
    assert (result.never_seen, result.text_matches) == (2, False)


def test_text_shown_only_by_the_final_done_was_never_seen() -> None:
    result = account(BEFORE, [snapshot(TEXTS[3]), done()], TEXTS, resumed_socket=True)
    assert result.never_seen == 2  # tokens 4 and 5 appeared only in done


def test_no_recovery_leaves_the_rest_of_the_unbroken_run_unseen() -> None:
    result = account(BEFORE, [], TEXTS, resumed_socket=True)
    assert (result.never_seen, result.text_matches, result.final_matches) == (4, False, False)


def test_another_text_is_a_mismatch_but_nothing_unseen_when_it_came_token_by_token() -> None:
    # A new generation that says something else (an LLM): "Other" is no longer than "Rewri",
    # so both its tokens re-render positions already shown.
    after = [TextEvent("token", "Oth", "Oth"), TextEvent("token", "Other", "er"), done("Other")]
    result = account(BEFORE, after, TEXTS, resumed_socket=False)
    assert (result.seen_twice, result.never_seen, result.final_matches) == (2, 0, False)
