"""``/openapi.json``, generated from the route declarations (the same schemas validate)."""

from __future__ import annotations

import re
from typing import Any

from api.endpoint import Endpoint, RouteTable
from api.schema import PROBLEM

_PARAM = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


def openapi_document(tables: list[RouteTable], version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for table in tables:
        for endpoint in table.endpoints:
            path = _PARAM.sub(r"{\1}", endpoint.path)
            paths.setdefault(path, {})[endpoint.method.lower()] = _operation(endpoint)
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


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
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
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": endpoint.body}},
        }
    operation["security"] = [{"bearer": []}] if endpoint.auth else []
    return operation


def _response(status: int, description: str, schema: Any, content_type: str) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description}
    if schema is not None:
        kind = "application/problem+json" if status >= 400 else content_type
        response["content"] = {kind: {"schema": schema}}
    return response
