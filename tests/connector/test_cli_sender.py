"""`connector sender`: the sender's details read from the ledger, offered as configuration, never written."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from adapters.eboekhouden.simulator import EboekhoudenSimulator
from adapters.moneybird.simulator import MoneybirdSimulator
from tests.conftest import SIM_TODAY
from tests.support.cli import run_connector as connector

ADMINISTRATION = "313373133731337313"
IDENTITY = {
    "company_name": "Bakkerij de Vries B.V.",
    "address1": "Bakkersstraat 1",
    "zipcode": "3511AB",
    "city": "Utrecht",
    "email": "debiteuren@bakkerij.example",
    "phone": "030-1234567",
    "bank_account_number": "NL91 ABNA 0417 1643 00",
    "chamber_of_commerce": "12345678",
    "tax_number": "NL000099998B57",
}


def moneybird_config(folder: Path, simulator: MoneybirdSimulator, company: str = "") -> None:
    (folder / "config.toml").write_text(
        f"""
[connector]
database_url = "sqlite:///connector.db"

[[administrations]]
name = "bakkerij"
platform = "moneybird"
base_url = "{simulator.base_url}"
administration_id = "{ADMINISTRATION}"
token = "${{BAKKERIJ_TOKEN}}"
{company}
"""
    )
    (folder / ".env").write_text("BAKKERIJ_TOKEN=bakkerij-test-token\n")


def test_the_default_identity_becomes_the_company_table_to_paste(tmp_path: Path) -> None:
    seed = {"administrations": [{"id": ADMINISTRATION, "name": "Bakkerij", "identity": IDENTITY}]}
    with MoneybirdSimulator(seed=seed, today=SIM_TODAY) as simulator:
        moneybird_config(tmp_path, simulator)
        checked = connector("check-config", cwd=tmp_path)
        assert checked.returncode == 2
        assert "(`connector sender --admin bakkerij` reads them from the ledger)" in checked.stderr
        result = connector("sender", "--admin", "bakkerij", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(
            "# bakkerij: read from Moneybird: the administration's default identity; check each value"
        )
        pasted = tomllib.loads(result.stdout.replace("[administrations.company]", "[company]"))["company"]
        assert pasted == {
            "name": "Bakkerij de Vries B.V.",
            "kvk": "12345678",
            "vat_number": "NL000099998B57",
            "address": "Bakkersstraat 1, 3511 AB Utrecht",
            "email": "debiteuren@bakkerij.example",
            "phone": "030-1234567",
            "iban": "NL91ABNA0417164300",
        }
        # A B.V. states its statutory seat, which no ledger keeps: that is left for a person to type.
        assert '# statutory_seat = "..."  # still to type: a B.V. or N.V. states its statutory seat' in result.stdout
        # Pasted under the administration, with the seat typed, the configuration is complete.
        company = result.stdout.split("\n", 1)[1].replace('# statutory_seat = "..."', 'statutory_seat = "Utrecht"')
        moneybird_config(tmp_path, simulator, company.split("  # still to type")[0])
        assert connector("check-config", cwd=tmp_path).returncode == 0


def test_what_is_configured_stays_and_differences_are_named(tmp_path: Path) -> None:
    seed = {"administrations": [{"id": ADMINISTRATION, "name": "Bakkerij", "identity": IDENTITY}]}
    with MoneybirdSimulator(seed=seed, today=SIM_TODAY) as simulator:
        moneybird_config(tmp_path, simulator, 'company = { name = "De Vries", kvk = "87654321" }')
        shown = json.loads(connector("sender", "--admin", "bakkerij", "--json", cwd=tmp_path).stdout)
    assert shown["company"]["name"] == "De Vries" and shown["company"]["kvk"] == "87654321"
    assert shown["company"]["address"] == "Bakkersstraat 1, 3511 AB Utrecht"
    assert shown["notes"] == [
        "name: configured 'De Vries', the ledger says 'Bakkerij de Vries B.V.'",
        "kvk: configured '87654321', the ledger says '12345678'",
    ]
    assert shown["ledger"]["iban"] == "NL91ABNA0417164300" and shown["missing"] == []


def test_a_ledger_whose_api_has_no_such_details_says_so(tmp_path: Path) -> None:
    with EboekhoudenSimulator.generate(items=5, relations=2, seed=1, today=SIM_TODAY) as simulator:
        (tmp_path / "config.toml").write_text(
            f"""
[connector]
database_url = "sqlite:///connector.db"

[[administrations]]
name = "winkel"
platform = "eboekhouden"
base_url = "{simulator.base_url}"
api_token = "${{T}}"
"""
        )
        (tmp_path / ".env").write_text(f"T={simulator.api_token}\n")
        result = connector("sender", "--admin", "winkel", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert "eboekhouden's API does not give the administration's own details" in result.stderr
    assert "type them under [administrations.company]" in result.stderr
