"""The committed docs/openapi.json is the document the API serves."""

from __future__ import annotations

from infra import openapi


def test_committed_openapi_document_matches_the_served_one() -> None:
    # Given the document GET /openapi.json serves
    served = openapi.served()

    # When it is compared with the committed copy the console's types come from
    committed = openapi.DOCUMENT.read_text()

    # Then they are the same: run `make openapi` after changing the API
    assert committed == served, "docs/openapi.json is stale: run `make openapi`"
