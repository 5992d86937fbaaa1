"""A small client of a running service's REST API, for other commands.

Commands that need the embedded store while ``otel-cost serve`` has it open call
`running_service` and then query through this client.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

import orjson

from otel_cost import config
from otel_cost.errors import OtelCostError

DEFAULT_TIMEOUT_S = 10.0


class ServiceError(OtelCostError):
    """The service returned an error or could not be reached."""


class ServiceClient:
    """GET and POST JSON against one service, with its bearer token when set."""

    def __init__(
        self,
        api_url: str,
        token: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = (
            token if token is not None else os.environ.get(config.ENV_API_TOKEN)
        )
        self.timeout_s = timeout_s
        # No proxy: the service runs on a host the caller named directly.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """Return the JSON document at ``path`` (for example ``/api/v1/summary``)."""
        query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v})
        url = f"{self.api_url}{path}" + (f"?{query}" if query else "")
        return self._send(urllib.request.Request(url, headers=self._headers()))

    def post(self, path: str, document: Any) -> Any:
        """Send ``document`` as JSON to ``path`` and return the JSON reply."""
        headers = {**self._headers(), "Content-Type": "application/json"}
        request = urllib.request.Request(
            f"{self.api_url}{path}", data=orjson.dumps(document), headers=headers
        )
        return self._send(request)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _send(self, request: urllib.request.Request) -> Any:
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                return orjson.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise ServiceError(
                f"{request.get_method()} {request.full_url} failed with HTTP {exc.code}: "
                f"{_error_text(exc.read())}"
            ) from None
        except (OSError, ValueError) as exc:
            raise ServiceError(
                f"cannot reach otel-cost serve at {self.api_url}: {exc}; is it running?"
            ) from None


def _error_text(body: bytes) -> str:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:200].decode(errors="replace")
    if isinstance(document, dict) and "error" in document:
        return str(document["error"])
    return body[:200].decode(errors="replace")
