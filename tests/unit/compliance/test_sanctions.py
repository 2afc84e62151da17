"""The SDN XML loader and address screening, on the shipped synthetic sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradeops.domain.sanctions import SanctionsList, SanctionsListError

SAMPLE = Path(__file__).parents[2] / "data" / "sdn_sample.xml"
EVM = "0xAbCdEf0123456789aBcDeF0123456789AbCdEf01"


@pytest.fixture(scope="module")
def sanctions() -> SanctionsList:
    return SanctionsList.load(SAMPLE.read_text(encoding="utf-8"))


def test_sample_loads_only_digital_currency_addresses(sanctions: SanctionsList) -> None:
    assert len(sanctions) == 4  # the passport id and the entry without an idList are not addresses
    assert sanctions.publish_date == "01/15/2026"


def test_hit_names_entry_programs_and_listed_currency(sanctions: SanctionsList) -> None:
    hit = sanctions.screen("bc1qsynthetictestaddress0000000000000000qq", "BTC")
    assert hit is not None
    assert (hit.entry_uid, hit.name, hit.currency) == ("990002", "SAMPLE MIXER LTD", "XBT")
    assert hit.programs == ("CYBER2", "DPRK3")
    individual = sanctions.screen(" 1SyntheticTestAddrXXXXXXXXXXXXXXXX ", "XBT")
    assert individual is not None and individual.name == "Ivan EXAMPLEOV"


def test_evm_addresses_match_in_any_case_and_on_any_currency(sanctions: SanctionsList) -> None:
    for candidate in (EVM, EVM.lower(), EVM.upper().replace("0X", "0x")):
        hit = sanctions.screen(candidate, "ETH")
        assert hit is not None and hit.currency == "ETH"
    on_other_chain = sanctions.screen(EVM.lower(), "USDC")
    assert on_other_chain is not None and on_other_chain.entry_uid == "990001"


def test_non_hex_addresses_are_case_sensitive_and_misses_return_none(sanctions: SanctionsList) -> None:
    assert sanctions.screen("1SYNTHETICTESTADDRXXXXXXXXXXXXXXXX", "XBT") is None
    assert sanctions.screen("bc1qcleanaddress000000000000000000000000qq", "BTC") is None
    assert sanctions.screen("0x" + "0" * 40, "ETH") is None
    with pytest.raises(ValueError, match="address and a currency"):
        sanctions.screen("  ", "ETH")


def test_official_current_namespace_loads_too() -> None:
    text = SAMPLE.read_text(encoding="utf-8").replace(
        "http://tempuri.org/sdnList.xsd",
        "https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/XML",
    )
    assert len(SanctionsList.load(text)) == 4


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("<sdnList><sdnEntry><uid>1</uid>", "not well-formed XML"),
        ("<list/>", "<sdnList>"),
        (
            "<sdnList><sdnEntry><lastName>X</lastName></sdnEntry></sdnList>",
            "sdnEntry #1: missing or empty <uid>",
        ),
        (
            "<sdnList><sdnEntry><uid>7</uid></sdnEntry></sdnList>",
            "sdnEntry uid=7: missing or empty <lastName>",
        ),
        (
            "<sdnList><sdnEntry><uid>7</uid><lastName>X</lastName><idList><id>"
            "<idType>Digital Currency Address - XBT</idType></id></idList></sdnEntry></sdnList>",
            "<idNumber>",
        ),
        (
            "<sdnList><sdnEntry><uid>7</uid><lastName>X</lastName><idList><id><idNumber>a</idNumber>"
            "</id></idList></sdnEntry></sdnList>",
            "<idType>",
        ),
        (
            "<sdnList><sdnEntry><uid>7</uid><lastName>X</lastName><idList><id>"
            "<idType>Digital Currency Address - </idType><idNumber>a</idNumber></id></idList>"
            "</sdnEntry></sdnList>",
            "no currency code",
        ),
        ('<!DOCTYPE x [<!ENTITY a "b">]><sdnList/>', "document type declarations"),
    ],
)
def test_malformed_documents_name_the_element(text: str, named: str) -> None:
    with pytest.raises(SanctionsListError) as raised:
        SanctionsList.load(text)
    assert named in str(raised.value)
