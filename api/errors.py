"""One error shape for every failure: `{"error": code, "detail": message}` (+ `fields` on 422).

Validation messages name the field and what was wrong but never echo the input (it may be a
key or a subscriber's data). An unexpected exception becomes a bare 500 with no internals;
bad input must never get there, and the tests make sure of it.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("minewatch.api")

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation",
    500: "internal",
}


class FieldError(BaseModel):
    field: str = Field(examples=["query.limit"])
    message: str = Field(examples=["Input should be less than or equal to 1000"])


class ErrorBody(BaseModel):
    """Every 4xx/5xx body."""

    error: str = Field(examples=["validation"])
    detail: str = Field(examples=["query.limit: Input should be a valid integer"])
    fields: list[FieldError] | None = None


class ApiError(Exception):
    """Raised by routes and dependencies for a clean 4xx with our body."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code or CODES.get(status, "error")
        self.detail = detail
        self.headers = headers


Responses = dict[int | str, dict[str, Any]]


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# `responses=` for routes: documents the error statuses so the schema is honest
AUTH_ERRORS: Responses = {
    401: _doc("No, invalid or revoked API key"),
    403: _doc("The key's role is too low"),
    422: _doc("Invalid parameter or body"),
}
NOT_FOUND: Responses = {404: _doc("No such object")}
TOO_LARGE: Responses = {413: _doc("Body larger than max_upload_bytes or too many items")}
BAD_MEDIA: Responses = {415: _doc("Content type not accepted")}
CONFLICT: Responses = {409: _doc("Workflow move not allowed from the current status")}


def error_response(
    status: int, detail: str, code: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorBody(error=code or CODES.get(status, "error"), detail=detail)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into `ErrorBody`."""

    async def api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.detail, exc.code, exc.headers)

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else CODES.get(exc.status_code, "error")
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, detail, headers=headers)

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        fields = [
            FieldError(field=".".join(str(p) for p in e.get("loc", ())), message=str(e.get("msg")))
            for e in exc.errors()
        ]
        detail = "; ".join(f"{f.field}: {f.message}" for f in fields[:5]) or "invalid request"
        body = ErrorBody(error="validation", detail=detail, fields=fields)
        return JSONResponse(body.model_dump(exclude_none=True), status_code=422)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)
