"""The simulated ledgers for `bench_scale.py`, run as its child process (so their memory is not the connector's).

One Moneybird simulator with many administrations (a token of its own per administration, so Moneybird's
150 calls per 5 minutes per token is per administration), one Exact Online simulator with many divisions
under one app and one refresh-token chain, and one e-Boekhouden simulator per administration (that API
reaches one administration per token): by default all on one port, each below a path of its own
(`--eboekhouden-servers shared`, like the one real host), or each a server on a port of its own
(`per-administration`; the connector then keeps a connection pool per port). Every generated invoice is
made not yet due, except one invoice of each of a few customers per administration, which is 5-12 days
overdue: the default policy plans one reminder e-mail per such customer, so exactly-once can be checked
against a known number.

Protocol: the first stdout line is one JSON object describing the world (base URLs, tokens, the expected
e-mails per administration). Then it reads commands on stdin, one per line, and answers each with one line:

    dump PATH   write the notes found in the ledgers and the request-log counts to PATH (JSON); answers "ok"
    token       a fresh consent for the Exact Online chain; answers {"refresh_token": ...}
    quit        (or end of input) stop

    python benchmarks/scale_world.py --administrations 60 --invoices 50 --mix 40,30,30
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import re
import resource
import secrets
import sys
import threading
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast

from adapters.eboekhouden.mapping import summary_lines
from adapters.eboekhouden.simulator import EboekhoudenSimulator
from adapters.eboekhouden.simulator_data import generate_seed as eboekhouden_seed
from adapters.exact_online.simulator import ExactOnlineSimulator
from adapters.exact_online.simulator_data import generate_seed as exact_seed
from adapters.moneybird.simulator import MoneybirdSimulator
from adapters.moneybird.simulator_data import generate_seed as moneybird_seed
from connector.clock import SystemClock, business_date
from connector.ledger.simulation import Response, _HTTPServer

REF = re.compile(r"\[ref ([0-9a-f]{12})\]")
OVERDUE_DAYS = (5, 12)  # past the "reminder" stage (3 days), before the "aanmaning" (16): one e-mail each
NOT_DUE_DAYS = (10, 45)  # everything else falls due this many days from today


def split(total: int, mix: list[int]) -> list[int]:
    """`total` administrations over the platforms in proportion to `mix` (largest remainders)."""
    weights = sum(mix) or 1
    exact = [total * share / weights for share in mix]
    counts = [int(x) for x in exact]
    for index in sorted(range(len(mix)), key=lambda i: exact[i] - counts[i], reverse=True)[: total - sum(counts)]:
        counts[index] += 1
    return counts


class QuietEboekhoudenSimulator(EboekhoudenSimulator):
    """The e-Boekhouden simulator with a slower accept loop: hundreds of servers polling every 20 ms (the
    default) would cost this process a core doing nothing. Requests are served as soon as they arrive."""

    def start(self, host: str = "127.0.0.1", port: int = 0, *, poll_interval: float = 1.0) -> str:
        return super().start(host, port, poll_interval=poll_interval)


class PathRouter:
    """Serves many e-Boekhouden simulators on one host and port, each below a path of its own
    (`/eb-0001/v1/session`, ...): like the real API, where every administration reaches the same host with a
    token of its own. (The connector keeps one connection pool per origin, so a port per administration
    would cost it a pool each, which no real deployment has.)"""

    def __init__(self) -> None:
        self.simulators: dict[str, EboekhoudenSimulator] = {}
        self.httpd: _HTTPServer | None = None

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response | None:
        prefix, _, rest = target.lstrip("/").partition("/")
        simulator = self.simulators.get(prefix)
        if simulator is None:
            return Response.empty(404)
        return simulator.handle(method, "/" + rest, headers, body)

    def start(self) -> str:
        self.httpd = _HTTPServer(("127.0.0.1", 0), cast(Any, self))
        threading.Thread(target=self.httpd.serve_forever, name="eboekhouden", daemon=True).start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"


class World:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.today = business_date(SystemClock())
        self.rng = random.Random(args.seed)
        self.administrations: list[dict[str, Any]] = []
        self.expected: dict[str, int] = {}
        self.moneybird: MoneybirdSimulator | None = None
        self.moneybird_names: dict[str, str] = {}  # ledger administration id -> configured name
        self.exact: ExactOnlineSimulator | None = None
        self.exact_names: dict[int, str] = {}  # division -> name
        self.eboekhouden: dict[str, EboekhoudenSimulator] = {}
        self.router = PathRouter() if args.eboekhouden_servers == "shared" else None
        self.exact_info: dict[str, Any] = {}

    # --- building -------------------------------------------------------------------------------------

    def build(self) -> None:
        counts = split(self.args.administrations, self.args.mix)
        contacts = max(5, self.args.invoices // 4)
        if counts[0]:
            self._build_moneybird(counts[0], contacts)
        if counts[1]:
            self._build_exact(counts[1], contacts)
        if counts[2]:
            self._build_eboekhouden(counts[2], contacts)

    def _overdue_day(self) -> date:
        return self.today - timedelta(days=self.rng.randint(*OVERDUE_DAYS))

    def _not_due_day(self) -> date:
        return self.today + timedelta(days=self.rng.randint(*NOT_DUE_DAYS))

    def _build_moneybird(self, count: int, contacts: int) -> None:
        seed = moneybird_seed(
            invoices=self.args.invoices, contacts=contacts, administrations=count, seed=self.args.seed, today=self.today
        )
        tokens = []
        for index, raw in enumerate(seed["administrations"], start=1):
            name = f"mb-{index:04d}"
            emails = {c["id"] for c in raw["contacts"] if c.get("email")}
            for invoice in raw["sales_invoices"]:
                invoice["due_date"] = self._not_due_day().isoformat()
            owners: dict[str, list[dict[str, Any]]] = {}
            for invoice in raw["sales_invoices"]:
                if invoice["contact_id"] in emails:
                    owners.setdefault(invoice["contact_id"], []).append(invoice)
            chosen = self.rng.sample(sorted(owners), min(self.args.overdue_customers, len(owners)))
            for contact_id in chosen:
                invoice = self.rng.choice(owners[contact_id])
                due = self._overdue_day()
                invoice["due_date"] = due.isoformat()
                invoice["invoice_date"] = min(
                    date.fromisoformat(invoice["invoice_date"]), due - timedelta(days=14)
                ).isoformat()
            token = f"mb-{index:04d}-{secrets.token_hex(12)}"
            tokens.append(token)
            self.moneybird_names[str(raw["id"])] = name
            self.expected[name] = len(chosen)
            self.administrations.append(
                {"name": name, "platform": "moneybird", "administration_id": str(raw["id"]), "token": token}
            )
        self.moneybird = MoneybirdSimulator(seed, valid_tokens=tokens, today=self.today)
        base_url = self.moneybird.start()
        for admin in self.administrations:
            if admin["platform"] == "moneybird":
                admin["base_url"] = base_url

    def _build_exact(self, count: int, accounts: int) -> None:
        divisions = []
        app: dict[str, Any] = {}
        for index in range(1, count + 1):
            seed = exact_seed(
                terms=self.args.invoices, accounts=accounts, seed=self.args.seed * 7919 + index, today=self.today
            )
            app = app or seed["app"]
            division = seed["divisions"][0]
            division["Code"] = 3_000_000 + index
            division["Description"] = f"Simulatie {index} B.V."
            name = f"eo-{index:04d}"
            self.expected[name] = self._exact_overdue(division)
            self.exact_names[division["Code"]] = name
            divisions.append(division)
            self.administrations.append({"name": name, "platform": "exact_online", "division": division["Code"]})
        self.exact = ExactOnlineSimulator({"app": app, "divisions": divisions}, today=self.today)
        base_url = self.exact.start()
        for admin in self.administrations:
            if admin["platform"] == "exact_online":
                admin["base_url"] = base_url
        self.exact_info = {
            "base_url": base_url,
            "client_id": self.exact.client_id,
            "client_secret": self.exact.client_secret,
            "redirect_uri": self.exact.redirect_uri,
            "refresh_token": self.exact.issue_tokens(refreshable_now=True)["refresh_token"],
        }

    def _exact_overdue(self, division: dict[str, Any]) -> int:
        open_terms = [t for t in division["terms"] if t.get("LineType") == 20 and t.get("Status") == 20]
        for term in open_terms:
            term["DueDate"] = self._not_due_day().isoformat()
        contacts = {c["ID"]: c for c in division["contacts"]}
        reachable = {
            a["ID"]
            for a in division["accounts"]
            if a.get("IsSales")
            and not a.get("Blocked")
            and not a.get("InvoiceAccount")
            and (a.get("Email") or (contacts.get(a.get("MainContact") or "") or {}).get("Email"))
        }
        invoices: dict[str, dict[int, list[dict[str, Any]]]] = {}
        for term in open_terms:
            if term["Account"] in reachable:
                invoices.setdefault(term["Account"], {}).setdefault(term["InvoiceNumber"], []).append(term)
        chosen = self.rng.sample(sorted(invoices), min(self.args.overdue_customers, len(invoices)))
        for account in chosen:
            number = self.rng.choice(sorted(invoices[account]))
            due = self._overdue_day()
            for term in invoices[account][number]:
                term["DueDate"] = due.isoformat()
                term["InvoiceDate"] = min(date.fromisoformat(term["InvoiceDate"]), due - timedelta(days=14)).isoformat()
        return len(chosen)

    def _build_eboekhouden(self, count: int, relations: int) -> None:
        root = self.router.start() if self.router is not None else ""
        for index in range(1, count + 1):
            name = f"eb-{index:04d}"
            seed = eboekhouden_seed(
                self.args.invoices, relations, seed=self.args.seed * 104729 + index, today=self.today
            )
            self.expected[name] = self._eboekhouden_overdue(seed)
            token = secrets.token_hex(32)
            simulator = QuietEboekhoudenSimulator(seed, api_token=token, today=self.today)
            self.eboekhouden[name] = simulator
            if self.router is not None:
                self.router.simulators[name] = simulator
                base_url = f"{root}/{name}"
            else:
                base_url = simulator.start()
            self.administrations.append(
                {"name": name, "platform": "eboekhouden", "api_token": token, "base_url": base_url}
            )

    def _eboekhouden_overdue(self, seed: dict[str, Any]) -> int:
        """Terms are what makes a due date here (invoice date + term): every recent sales invoice gets one
        that ends after today, but one invoice of a few customers one that ended 5-12 days ago."""
        recent = self.today - timedelta(days=120)
        records = {r["invoiceNumber"]: r for r in seed["invoices"]}
        sales = [m for m in seed["mutations"] if m["type"] == 2 and date.fromisoformat(m["date"]) >= recent]

        def set_term(mutation: dict[str, Any], due: date) -> None:
            term = (due - date.fromisoformat(mutation["date"])).days
            mutation["termOfPayment"] = term
            if mutation["invoiceNumber"] in records:
                records[mutation["invoiceNumber"]]["termOfPayment"] = term

        for mutation in sales:
            set_term(mutation, self._not_due_day())
        reachable = {
            r["id"]
            for r in seed["relations"]
            if r.get("type") in ("B", "P")
            and not r.get("inactive")
            and (r.get("emailAddressReminder") or r.get("emailAddressInvoice") or r.get("emailAddress"))
        }
        paid = {m["invoiceNumber"] for m in seed["mutations"] if m["type"] == 3}
        candidates: dict[int, list[dict[str, Any]]] = {}
        for mutation in sales:
            old_enough = date.fromisoformat(mutation["date"]) <= self.today - timedelta(days=OVERDUE_DAYS[1] + 2)
            if mutation["relationId"] in reachable and old_enough and mutation["invoiceNumber"] not in paid:
                candidates.setdefault(mutation["relationId"], []).append(mutation)
        chosen = self.rng.sample(sorted(candidates), min(self.args.overdue_customers, len(candidates)))
        for relation in chosen:
            set_term(self.rng.choice(candidates[relation]), self._overdue_day())
        return len(chosen)

    def describe(self, seconds: float) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "administrations": self.administrations,
            "exact": self.exact_info,
            "expected_emails": self.expected,
            "generated_seconds": round(seconds, 1),
            "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }

    # --- what the ledgers hold ------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """Every connector note in the ledgers as (administration, invoice, ref), and the request logs."""
        notes: list[dict[str, str]] = []
        requests: dict[str, dict[str, int]] = {}
        if self.moneybird is not None:
            notes += self._moneybird_notes(self.moneybird)
            requests["moneybird"] = _count_requests(self.moneybird.requests())
        if self.exact is not None:
            notes += self._exact_notes(self.exact)
            requests["exact_online"] = _count_requests(self.exact.requests())
        eboekhouden: Counter[str] = Counter()
        for name, simulator in self.eboekhouden.items():
            notes += self._eboekhouden_notes(name, simulator)
            eboekhouden.update(_count_requests(simulator.requests()))
        if self.eboekhouden:
            requests["eboekhouden"] = dict(eboekhouden)
        return {"notes": notes, "requests": requests}

    def _moneybird_notes(self, simulator: MoneybirdSimulator) -> list[dict[str, str]]:
        """Notes on invoices (read in place: copying 80,000 rendered invoices would take a while)."""
        found = []
        with simulator.lock:
            for administration_id, administration in simulator._administrations.items():
                name = self.moneybird_names.get(administration_id, administration_id)
                for invoice_id, invoice in administration.invoices.items():
                    for note in invoice.get("notes") or []:
                        for ref in set(REF.findall(str(note.get("note") or ""))):
                            found.append({"administration": name, "invoice": str(invoice_id), "ref": ref})
        return found

    def _exact_notes(self, simulator: ExactOnlineSimulator) -> list[dict[str, str]]:
        """CommunicationNotes and Tasks on the account, naming the invoice in the subject."""
        found = []
        for division, name in self.exact_names.items():
            for row in [*simulator.notes(division=division), *simulator.tasks(division=division)]:
                title = str(row.get("Subject") or row.get("Description") or "")
                number = re.match(r"Factuur (\S+):", title)
                for ref in set(REF.findall(f"{title} {row.get('Notes') or ''}")):
                    found.append({"administration": name, "invoice": number.group(1) if number else "?", "ref": ref})
        return found

    @staticmethod
    def _eboekhouden_notes(name: str, simulator: EboekhoudenSimulator) -> list[dict[str, str]]:
        """Lines in the connector's block of the relation's note. The block keeps each line once, so count
        the times a line came to the top of it (a second write of the same line moves it up again)."""
        found = []
        by_number = {simulator.mutation(i)["invoiceNumber"]: i for i in simulator.outstanding_ids()}
        for relation_id in simulator.relation_ids():
            previous_top = None
            for version in simulator.note_history(relation_id):
                lines = summary_lines(version)
                top = lines[0] if lines else None
                if top is not None and top != previous_top:
                    number = re.match(r"Factuur (\S+): ", top)
                    invoice = str(by_number.get(number.group(1), number.group(1))) if number else "?"
                    for ref in REF.findall(top):
                        found.append({"administration": name, "invoice": invoice, "ref": ref})
                previous_top = top
        return found


def _count_requests(entries: list[dict[str, Any]]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for entry in entries:
        counts["total"] += 1
        counts[f"status {entry['status']}"] += 1
        path = entry["path"]
        if "oauth2/token" in path:
            counts["token"] += 1
        if entry["method"] != "GET":
            counts[f"writes ({entry['method']})"] += 1
    return dict(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--administrations", type=int, default=1000)
    parser.add_argument("--invoices", type=int, default=200)
    parser.add_argument("--mix", default="40,30,30", help="Moneybird, Exact Online, e-Boekhouden shares")
    parser.add_argument(
        "--overdue-customers", type=int, default=3, help="customers per administration with an overdue invoice"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--eboekhouden-servers",
        choices=("shared", "per-administration"),
        default="shared",
        help="e-Boekhouden simulators on one port below a path each (like the one real host), or a port each",
    )
    args = parser.parse_args()
    args.mix = [int(part) for part in args.mix.split(",")]
    if len(args.mix) != 3:
        parser.error("--mix needs three numbers")
    started = time.perf_counter()
    world = World(args)
    world.build()
    # Over a million long-lived objects: without this, every full collection (set off by the garbage that
    # requests make) walks them all, and the simulators stall for seconds at a time.
    gc.collect()
    gc.freeze()
    print(json.dumps(world.describe(time.perf_counter() - started)), flush=True)
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "dump":
            Path(argument).write_text(json.dumps(world.dump()))
            print("ok", flush=True)
        elif command == "token" and world.exact is not None:
            print(
                json.dumps({"refresh_token": world.exact.issue_tokens(refreshable_now=True)["refresh_token"]}),
                flush=True,
            )
        elif command == "quit":
            break
        else:
            print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)


if __name__ == "__main__":
    main()
