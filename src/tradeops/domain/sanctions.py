"""OFAC SDN digital-currency addresses (pure): parse the official ``sdn.xml`` and screen addresses.

Parsed structure (OFAC's SDN XML, namespace ignored: the legacy ``http://tempuri.org/sdnList.xsd`` and the
current Sanctions List Service namespace both load)::

    <sdnList>
      <publshInformation><Publish_Date>MM/DD/YYYY</Publish_Date>...</publshInformation>   (optional)
      <sdnEntry>
        <uid>…</uid>                                    required
        <firstName>…</firstName> <lastName>…</lastName> lastName required (entities have only it)
        <sdnType>Individual|Entity|…</sdnType>
        <programList><program>CYBER2</program>…</programList>
        <idList>
          <id><uid>…</uid><idType>Digital Currency Address - XBT</idType><idNumber>addr</idNumber></id>
        </idList>
      </sdnEntry>
    </sdnList>

Only ``id`` elements whose ``idType`` starts with ``Digital Currency Address - `` are kept; the suffix is
OFAC's currency code (XBT for bitcoin, ETH, USDT, XMR, ...). A missing required element raises
:class:`SanctionsListError` naming it. Documents with a DTD are refused (sdn.xml has none; this rules
out entity expansion). Matching: surrounding whitespace is ignored; ``0x`` + 40 hex (EVM) addresses are
compared case-insensitively (EIP-55 case is only a checksum); every other format is case-sensitive.
A listed address is a hit whatever currency is asked for (the same key controls it on every chain).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

DIGITAL_CURRENCY_PREFIX = "Digital Currency Address"
_EVM = re.compile(r"^0x[0-9a-fA-F]{40}$")
CURRENCY_ALIASES = {"BTC": "XBT"}
"""Market tickers whose OFAC code differs."""


class SanctionsListError(ValueError):
    """The document is not a well-formed SDN list; the message names the element."""


@dataclass(frozen=True)
class Hit:
    """A listed address: the SDN entry's uid, name and programs, and the currency it is listed under."""

    address: str
    currency: str
    entry_uid: str
    name: str
    programs: tuple[str, ...]


def normalize_address(address: str) -> str:
    """The comparison form of ``address``: stripped, and lower-cased when it is an EVM hex address."""
    stripped = address.strip()
    return stripped.lower() if _EVM.match(stripped) else stripped


def normalize_currency(currency: str) -> str:
    code = currency.strip().upper()
    return CURRENCY_ALIASES.get(code, code)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(element: ET.Element, name: str) -> Iterator[ET.Element]:
    return (child for child in element if _local(child.tag) == name)


def _text(element: ET.Element, name: str, where: str, *, required: bool) -> str | None:
    child = next(_children(element, name), None)
    text = None if child is None or child.text is None else child.text.strip()
    if required and not text:
        raise SanctionsListError(f"{where}: missing or empty <{name}>")
    return text or None


class SanctionsList:
    """The digital-currency addresses of an SDN list, indexed for screening."""

    def __init__(self, hits: list[Hit], publish_date: str | None = None) -> None:
        self.publish_date = publish_date
        self._by_address: dict[str, list[Hit]] = {}
        for hit in hits:
            self._by_address.setdefault(normalize_address(hit.address), []).append(hit)

    def __len__(self) -> int:
        return sum(len(hits) for hits in self._by_address.values())

    @classmethod
    def load(cls, text: str) -> SanctionsList:
        """Parse an ``sdn.xml`` document (see the module doc for the elements read)."""
        if "<!DOCTYPE" in text or "<!ENTITY" in text:
            raise SanctionsListError("document type declarations are refused (sdn.xml has none)")
        try:
            root = ET.fromstring(text)
        except ET.ParseError as exc:
            raise SanctionsListError(f"not well-formed XML: {exc}") from None
        if _local(root.tag) != "sdnList":
            raise SanctionsListError(f"root element must be <sdnList>, got <{_local(root.tag)}>")
        info = next(_children(root, "publshInformation"), None)
        publish_date = (
            None if info is None else _text(info, "Publish_Date", "publshInformation", required=False)
        )
        hits: list[Hit] = []
        for index, entry in enumerate(_children(root, "sdnEntry"), start=1):
            hits.extend(_entry_hits(entry, index))
        return cls(hits, publish_date)

    def screen(self, address: str, currency: str) -> Hit | None:
        """The listing of ``address`` (preferring one under ``currency``), or None if it is not listed."""
        if not address.strip() or not currency.strip():
            raise ValueError("screening needs an address and a currency")
        listed = self._by_address.get(normalize_address(address), [])
        wanted = normalize_currency(currency)
        return next((hit for hit in listed if hit.currency == wanted), listed[0] if listed else None)


def _entry_hits(entry: ET.Element, index: int) -> list[Hit]:
    uid = _text(entry, "uid", f"sdnEntry #{index}", required=True)
    where = f"sdnEntry uid={uid}"
    last = _text(entry, "lastName", where, required=True)
    first = _text(entry, "firstName", where, required=False)
    name = f"{first} {last}" if first else str(last)
    program_list = next(_children(entry, "programList"), None)
    programs = tuple(
        (program.text or "").strip()
        for program in ([] if program_list is None else _children(program_list, "program"))
        if (program.text or "").strip()
    )
    id_list = next(_children(entry, "idList"), None)
    hits: list[Hit] = []
    for id_element in [] if id_list is None else _children(id_list, "id"):
        id_type = _text(id_element, "idType", f"{where} <id>", required=True)
        if id_type is None or not id_type.startswith(DIGITAL_CURRENCY_PREFIX):
            continue
        currency = id_type.removeprefix(DIGITAL_CURRENCY_PREFIX).strip().removeprefix("-").strip()
        if not currency:
            raise SanctionsListError(f"{where} <idType>: no currency code in {id_type!r}")
        address = _text(id_element, "idNumber", f"{where} <id> ({id_type})", required=True)
        hits.append(Hit(str(address), normalize_currency(currency), str(uid), name, programs))
    return hits
