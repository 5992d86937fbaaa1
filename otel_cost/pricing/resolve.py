"""Model id resolution: exact first, then with decorations removed.

A version never falls back to its family: ``gpt-5.6`` does not become
``gpt-5``, because that would price a newer model at an older model's rates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

# Region prefixes of cross-region inference profiles on Amazon Bedrock.
BEDROCK_REGION = re.compile(r"^(us|eu|apac|ap|ca|jp|au|us-gov|global)\.")
# Vendor prefix inside a Bedrock model id, such as ``anthropic.``.
BEDROCK_VENDOR = re.compile(r"^(anthropic|amazon|meta|mistral|cohere|ai21|deepseek)\.")
BEDROCK_VERSION = re.compile(r"-v\d+(:\d+)?$")
VERTEX_PIN = re.compile(r"@[\w.-]+$")
DATE_SUFFIX = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")
ARN_PREFIX = "arn:"


def resolve_model(model: str, has_model: Callable[[str], bool]) -> str | None:
    """Return the rate-card key for ``model``, or None when it cannot be priced."""
    if not model or model.startswith(ARN_PREFIX):
        return None
    for candidate in _candidates(model.strip()):
        if has_model(candidate):
            return candidate
    return None


def _candidates(model: str) -> Iterator[str]:
    yield model
    lowered = model.lower()
    if lowered != model:
        yield lowered
    bare = lowered.split("/", 1)[1] if "/" in lowered else lowered
    if bare != lowered:
        yield bare
    undecorated = _strip_cloud_decorations(bare)
    if undecorated != bare:
        yield undecorated
    undated = DATE_SUFFIX.sub("", undecorated)
    if undated != undecorated:
        yield undated


def _strip_cloud_decorations(model: str) -> str:
    stripped = VERTEX_PIN.sub("", model)
    without_region = BEDROCK_REGION.sub("", stripped)
    if BEDROCK_VENDOR.match(without_region):
        stripped = BEDROCK_VERSION.sub("", BEDROCK_VENDOR.sub("", without_region))
    return stripped
