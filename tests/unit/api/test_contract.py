"""The contract the UI codes against: status vocabularies in the OpenAPI document match the stores."""

from __future__ import annotations

import typing
from typing import Any

from tradeops.api import build_table
from tradeops.api import responses as r
from tradeops.api.openapi import openapi_document
from tradeops.domain.alerts import AlertStatus
from tradeops.store.proposals import ProposalStatus


def _document() -> dict[str, Any]:
    return openapi_document(build_table())


def test_response_status_vocabularies_are_exactly_the_store_values() -> None:
    assert set(typing.get_args(r.ProposalStatusName)) == {status.value for status in ProposalStatus}
    assert set(typing.get_args(r.AlertStatusName)) == {status.value for status in AlertStatus}
    schemas = _document()["components"]["schemas"]
    assert set(schemas["ProposalOut"]["properties"]["status"]["enum"]) == {s.value for s in ProposalStatus}
    assert schemas["AlertOut"]["properties"]["status"]["enum"] == ["open", "acked", "resolved"]
    assert schemas["AlertOut"]["properties"]["detail"]["type"] == "object"


def test_the_proposals_list_documents_status_as_optional_with_its_default() -> None:
    parameters = _document()["paths"]["/api/limits/proposals"]["get"]["parameters"]
    status = next(p for p in parameters if p["name"] == "status")
    assert status["required"] is False and status["schema"]["default"] == "PENDING"
    assert "APPLIED" in status["schema"]["enum"]
