"""``/openapi.json``, generated from the route declarations (the same schemas validate)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from api.endpoint import Endpoint, RouteTable
from api.identifiers import PATH_PARAMETERS
from api.schema import ID, PROBLEM, TYPE_CODE

_PARAM = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


def openapi_document(
    tables: list[RouteTable], version: str, type_codes: Iterable[str] = ()
) -> dict[str, Any]:
    """The document of every route; ``type_codes`` are the document types the engine accepts
    (``Tables.document_types``, the table it checks ``type_code`` against), published as the
    enum of every request's ``type_code``."""
    codes = sorted(type_codes)
    paths: dict[str, dict[str, Any]] = {}
    for table in tables:
        for endpoint in table.endpoints:
            path = _PARAM.sub(r"{\1}", endpoint.path)
            paths.setdefault(path, {})[endpoint.method.lower()] = _operation(endpoint, codes)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Vigie",
            "version": version,
            "description": "Authorisation decisions and a tamper-evident access ledger for the "
            "DMP. Every /v1 call after authentication is recorded in the ledger.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
            "schemas": {"Problem": PROBLEM},
        },
    }


def _operation(endpoint: Endpoint, type_codes: list[str]) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": PATH_PARAMETERS.get(name, ID)}
        for name in _PARAM.findall(endpoint.path)
    ]
    parameters += [
        {
            "name": name,
            "in": "query",
            "required": name in endpoint.required_query,
            "schema": schema,
        }
        for name, schema in endpoint.query.items()
    ]
    operation: dict[str, Any] = {
        "operationId": endpoint.handler.__name__,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "parameters": parameters,
        "responses": {
            str(status): _response(status, description, schema, endpoint.content_type)
            for status, (description, schema) in endpoint.responses.items()
        },
    }
    if endpoint.body is not None:
        body = _with_type_enum(endpoint.body, type_codes) if type_codes else endpoint.body
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    operation["security"] = [{"bearer": []}] if endpoint.auth else []
    return operation


def _response(status: int, description: str, schema: Any, content_type: str) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description}
    if schema is not None:
        kind = "application/problem+json" if status >= 400 else content_type
        response["content"] = {kind: {"schema": schema}}
    return response


def _with_type_enum(schema: Any, type_codes: list[str]) -> Any:
    """A copy of ``schema`` where each ``type_code`` (``schema.TYPE_CODE``) lists the codes."""
    if isinstance(schema, dict):
        copy = {key: _with_type_enum(value, type_codes) for key, value in schema.items()}
        properties = schema.get("properties")
        if isinstance(properties, dict) and properties.get("type_code") is TYPE_CODE:
            copy["properties"]["type_code"] = {**TYPE_CODE, "enum": type_codes}
        return copy
    if isinstance(schema, list):
        return [_with_type_enum(item, type_codes) for item in schema]
    return schema
