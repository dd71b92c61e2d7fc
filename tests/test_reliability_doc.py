"""docs/RELIABILITY.md opens with a table generated from the suite; it must match the suite as it is.

A change that adds a matrix row, an identity, a hostile value or a test to a counted file fails here
until ``python -m tests.reliability --write`` has regenerated the block (collection only: the same on
every machine, whatever passes or how fast).
"""

from __future__ import annotations

from tests import reliability


def _doc() -> str:
    return reliability.DOC.read_text(encoding="utf-8")


def test_the_doc_opens_with_its_table():
    lines = [line for line in _doc().splitlines() if line.strip()]
    assert lines[0].startswith("# ")
    assert lines[1].startswith("<!-- reliability-figures:begin")
    assert lines[2] == "| figure | claim | result | how tested |"


def test_the_generated_block_matches_the_suite():
    expected = reliability.render(reliability.current())
    assert reliability.block_of(_doc()) == expected, (
        "docs/RELIABILITY.md's figures differ from the suite: run `python -m tests.reliability --write`"
    )


def test_the_block_is_replaced_and_nothing_else():
    doc = "# Title\n\n<!-- reliability-figures:begin -->\nold\n<!-- reliability-figures:end -->\n\nprose\n"
    new = reliability.replace_block(doc, f"{reliability.BEGIN}\nnew\n{reliability.END}")
    assert new == f"# Title\n\n{reliability.BEGIN}\nnew\n{reliability.END}\n\nprose\n"
    assert reliability.block_of("# no block here") is None


def test_a_partial_collection_gives_no_figures():
    """A run of a few files (``-k``, one module) must not write figures that count only part of the suite."""

    class Item:
        path = reliability.ROOT / reliability.FILES[0]

    assert reliability.gather([Item()]) is None
