"""Validate JSON documents against a vendor's OpenAPI 3.1 spec, kept in `tests/fixtures/specs/`.

    spec = load_spec("moneybird-openapi.json")
    spec.validate_response("/{administration_id}/sales_invoices{format}", "get", 200, body)

Schemas are checked with JSON Schema Draft 2020-12 (with format checking, so a bad date fails); the spec
is registered as one `referencing` resource, so its `#/components/...` references resolve.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.support.fixtures import spec_path

__all__ = ["OpenApiSpec", "load_spec"]


def _pointer_part(text: str) -> str:
    return text.replace("~", "~0").replace("/", "~1")


class OpenApiSpec:
    def __init__(self, document: Mapping[str, Any], uri: str) -> None:
        self.document = document
        self._uri = uri
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(uri, resource)
        self._validators: dict[str, Draft202012Validator] = {}

    def _response(self, path: str, method: str, status: int | str) -> tuple[str, Mapping[str, Any]]:
        """The response object and its JSON pointer, following a `$ref` to `components/responses`."""
        try:
            response = self.document["paths"][path][method.lower()]["responses"][str(status)]
        except KeyError:
            raise KeyError(f"the spec declares no {status} response for {method.upper()} {path}") from None
        pointer = f"/paths/{_pointer_part(path)}/{method.lower()}/responses/{status}"
        if "$ref" in response:
            pointer = response["$ref"].removeprefix("#")
            response = self._at(pointer)
        return pointer, response

    def _at(self, pointer: str) -> Any:
        node: Any = self.document
        for part in pointer.strip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def response_validator(
        self, path: str, method: str, status: int | str, content_type: str = "application/json"
    ) -> Draft202012Validator:
        pointer, response = self._response(path, method, status)
        if content_type not in response.get("content", {}):
            raise KeyError(f"the {status} response of {method.upper()} {path} has no {content_type} body")
        ref = f"{self._uri}#{quote(f'{pointer}/content/{_pointer_part(content_type)}/schema', safe='/~')}"
        if ref not in self._validators:
            self._validators[ref] = Draft202012Validator(
                {"$ref": ref}, registry=self._registry, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
        return self._validators[ref]

    def validate_response(self, path: str, method: str, status: int | str, document: Any) -> None:
        """Raise AssertionError listing (up to five) places where `document` breaks the declared schema."""
        validator = self.response_validator(path, method, status)
        errors = sorted(validator.iter_errors(document), key=lambda error: list(map(str, error.absolute_path)))
        if errors:
            lines = [f"  at /{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors[:5]]
            more = f"\n  ... and {len(errors) - 5} more" if len(errors) > 5 else ""
            raise AssertionError(
                f"{method.upper()} {path} {status} does not match the spec:\n" + "\n".join(lines) + more
            )

    def validate_headers(self, path: str, method: str, status: int | str, headers: Mapping[str, str]) -> None:
        """Every header the spec declares for the response is present and valid (integers parsed)."""
        _, response = self._response(path, method, status)
        lowered = {name.lower(): value for name, value in headers.items()}
        for name, declared in response.get("headers", {}).items():
            if "$ref" in declared:
                declared = self._at(declared["$ref"].removeprefix("#"))
            assert name.lower() in lowered, f"header {name} missing from the {status} response"
            value: Any = lowered[name.lower()]
            schema = declared.get("schema", {})
            if schema.get("type") == "integer":
                assert value.strip().lstrip("-").isdigit(), f"header {name}: {value!r} is not an integer"
                value = int(value)
            Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(value)


@functools.cache
def _load(path: Path) -> OpenApiSpec:
    return OpenApiSpec(json.loads(path.read_text(encoding="utf-8")), f"urn:openapi:{path.stem}")


def load_spec(name: str = "moneybird-openapi.json") -> OpenApiSpec:
    """The spec `tests/fixtures/specs/<name>`, loaded once per process."""
    return _load(spec_path(name))
