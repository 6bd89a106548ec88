"""Stage inputs: a fixed corpus (CJK, emoji, long, short) plus Hypothesis-generated texts."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

CORPUS: tuple[str, ...] = (
    "把这段文案改写得更生动一些。",  # Chinese
    "Launch day 🚀✨ with 家族 and friends 😀",  # emoji outside the BMP, mixed scripts
    "a",  # shortest possible
    "The quick brown fox jumps over the lazy dog. " * 40,  # long
    "Ünïcödé – “quotes” and ñ, 한국어, العربية",
)

# Letters, digits, punctuation, symbols (emoji included) and spaces from every plane;
# no control characters, surrogates or U+FFFD (Q4 would blame the server for our input).
_TEXT = st.text(
    alphabet=st.characters(categories=("L", "N", "P", "S", "Zs"), exclude_characters="\ufffd", max_codepoint=0x1FAFF),
    min_size=1,
    max_size=300,
).filter(lambda text: bool(text.strip()))


def generated_texts(count: int, seed: int) -> list[str]:
    """`count` texts drawn by Hypothesis (reproducible for a seed), deduplicated, in draw order."""
    if count <= 0:
        return []
    drawn: list[str] = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=False,
        phases=(Phase.generate,),
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(_TEXT)
    def draw(text: str) -> None:
        if text not in drawn and len(drawn) < count:
            drawn.append(text)

    from hypothesis import seed as with_seed

    with_seed(seed)(draw)()
    return drawn


def stage_inputs(stage: str, texts: list[str]) -> list[dict[str, Any]]:
    """input_data objects for a stage: rewrite takes original_text; other stages get a prompt."""
    if stage == "rewrite":
        return [{"original_text": text} for text in texts]
    return [{"prompt": text} for text in texts]


def texts_for_profile(generated: int, seed: int, corpus: int | None = None) -> list[str]:
    fixed = list(CORPUS if corpus is None else CORPUS[:corpus])
    return fixed + [t for t in generated_texts(generated, seed) if t not in fixed]
