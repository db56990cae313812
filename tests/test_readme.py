"""The README's statements about real plans are the plans' own (tools/readme_facts.py)."""

from __future__ import annotations

import pytest

from tools import readme_facts


def test_the_readmes_plan_facts_are_current() -> None:
    text = readme_facts.README.read_text()
    assert readme_facts.render(text) == text, "README.md is stale: run `make docs`"


def test_every_facts_block_is_in_the_readme() -> None:
    text = readme_facts.README.read_text()
    assert sorted(m.group(2) for m in readme_facts.BLOCK.finditer(text)) == sorted(
        readme_facts.FACTS
    )


def test_an_unknown_facts_block_is_an_error() -> None:
    with pytest.raises(SystemExit, match="unknown facts block 'nope'"):
        readme_facts.render("<!-- facts:nope -->\n<!-- /facts:nope -->", plans={})
