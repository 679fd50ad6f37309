"""The templates: each stage's wording per language, shown with a preview on a real message of that stage, and
changed by an admin. A change is checked before it is saved (every part compiles, and the message renders on a
real customer's message without a missing value), then written to the template folder (`templates_dir`) file by
file, where it overrides the built-in one; the audit log keeps who saved what."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import quote

from jinja2 import TemplateError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from connector.dispatch.dispatcher import Dispatcher, Preview
from connector.dispatch.messages import LANGUAGES, PARTS, MessageRenderer
from connector.dispatch.transport import write_atomically
from connector.store.outbox import OutboxStore
from connector.store.workflow import WorkflowStore
from connector.web.app import Site
from connector.web.gate import first, form, known, person

LIMIT = 100_000  # characters per part: far more than a letter needs


def routes(site: Site) -> list[BaseRoute]:
    folder = Path(site.settings.connector.templates_dir) if site.settings.connector.templates_dir else None

    def renderer(drafts: dict[str, str] | None = None) -> MessageRenderer:
        return MessageRenderer(folder, drafts)

    def names() -> list[str]:
        """Every template a configured stage uses that has a message (the set of four parts in each language)."""
        found = {stage.template_name for policy in site.settings.policies.values() for stage in policy.stages}
        return sorted(name for name in found if not renderer().missing(name))

    def chosen(request: Request) -> tuple[str, str]:
        language, name = request.path_params["language"], request.path_params["name"]
        if language not in LANGUAGES or name not in names():
            raise HTTPException(404)
        return language, name

    def preview(name: str, admin: str | None, drafts: dict[str, str] | None) -> tuple[Preview | None, str | None]:
        """The latest message of this template in the administration, rendered with the drafts: or why not."""
        for config in site.settings.enabled_administrations:
            if admin and config.name != admin:
                continue
            administration_id = site.store.administration_id(config.name)
            action = (
                OutboxStore(site.store).latest_with_template(name, administration_id) if administration_id else None
            )
            if action is None:
                continue
            dispatcher = Dispatcher.for_preview(site.settings, site.store, config, site.clock)
            dispatcher.renderer = renderer(drafts)
            try:
                return dispatcher.preview(action, site.today()), None
            except TemplateError as exc:
                return None, f"{type(exc).__name__}: {exc}"
        return None, "none"

    def overview(request: Request) -> Response:
        person(request)
        return site.page(request, "templates.html", names=names(), languages=LANGUAGES, folder=folder)

    def editor(request: Request) -> Response:
        person(request)
        language, name = chosen(request)
        texts = {part: renderer().source(f"{language}/{name}.{part}") for part in PARTS}
        admin = request.query_params.get("admin") or None
        shown, problem = preview(name, admin, None)
        return site.page(
            request,
            "template.html",
            language=language,
            name=name,
            texts={part: text for part, (text, _) in texts.items()},
            overridden={part: own for part, (_, own) in texts.items()},
            preview=shown,
            problem=problem,
            folder=folder,
            admin=admin,
            done=known(request.query_params.get("done"), ("saved",)),
        )

    def change(request: Request) -> Response:
        who = person(request, "admin")
        language, name = chosen(request)
        fields = form(request)
        drafts = {f"{language}/{name}.{part}": (first(fields, part) or "").replace("\r\n", "\n") for part in PARTS}
        admin = first(fields, "admin") or None
        problems = [f"{key}: longer than {LIMIT} characters" for key, text in drafts.items() if len(text) > LIMIT]
        trial = renderer(drafts)
        for key in drafts:
            try:
                trial.check(key)
            except TemplateError as exc:
                lineno = getattr(exc, "lineno", None)
                problems.append(f"{key}{f' (line {lineno})' if lineno else ''}: {exc.message or exc}")
        shown, problem = (None, None) if problems else preview(name, admin, drafts)
        if problem and problem != "none":
            problems.append(problem)
        saving = first(fields, "do") == "save"
        if saving and not problems and folder is None:
            problems.append("no template folder: set templates_dir in [connector] to save your own templates")
        if saving and not problems and problem == "none":
            problems.append("no message made from this template yet to check it on: save it once there is one")
        if not saving or problems:
            return site.page(
                request,
                "template.html",
                status_code=400 if problems else 200,
                language=language,
                name=name,
                texts={part: drafts[f"{language}/{name}.{part}"] for part in PARTS},
                overridden={part: False for part in PARTS},
                preview=shown,
                problem=None,
                problems=problems,
                folder=folder,
                admin=admin,
                done=None,
            )
        assert folder is not None
        for key, text in drafts.items():
            write_atomically(folder / key, text)
        WorkflowStore(site.store).audit(
            None,
            "template_saved",
            detail={
                "by": who.signature,
                "template": f"{language}/{name}",
                "sha256": {key: hashlib.sha256(text.encode()).hexdigest() for key, text in drafts.items()},
            },
        )
        return RedirectResponse(
            f"/templates/{language}/{quote(name)}?done=saved" + (f"&admin={quote(admin)}" if admin else ""),
            status_code=303,
        )

    return [
        Route("/templates", overview, methods=["GET", "HEAD"]),
        Route("/templates/{language}/{name}", editor, methods=["GET", "HEAD"]),
        Route("/templates/{language}/{name}", change, methods=["POST"]),
    ]
