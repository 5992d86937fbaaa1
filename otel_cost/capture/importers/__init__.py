"""Importers for the session files that coding agents keep on disk."""

from __future__ import annotations

from importlib import import_module

from otel_cost.capture.importers.base import Importer

# CLI name -> "module:Class". Each importer lives in its own module.
IMPORTER_CLASSES: dict[str, str] = {
    "claude-code": "otel_cost.capture.importers.claude_code:ClaudeCodeImporter",
    "codex": "otel_cost.capture.importers.codex:CodexImporter",
    "gemini": "otel_cost.capture.importers.gemini:GeminiImporter",
    "opencode": "otel_cost.capture.importers.opencode:OpenCodeImporter",
    "roo-code": "otel_cost.capture.importers.roo_family:RooCodeImporter",
    "cline": "otel_cost.capture.importers.roo_family:ClineImporter",
    "kilo-code": "otel_cost.capture.importers.roo_family:KiloCodeImporter",
    "qwen-code": "otel_cost.capture.importers.qwen:QwenCodeImporter",
    "goose": "otel_cost.capture.importers.goose:GooseImporter",
    "copilot": "otel_cost.capture.importers.copilot:CopilotImporter",
    "zed": "otel_cost.capture.importers.zed:ZedImporter",
    "cursor": "otel_cost.capture.importers.cursor:CursorImporter",
}


def get_importer(name: str) -> Importer:
    """Instantiate the importer registered under ``name``."""
    module_name, _, class_name = IMPORTER_CLASSES[name].partition(":")
    importer: Importer = getattr(import_module(module_name), class_name)()
    return importer


def importer_names() -> list[str]:
    """Return the registered importer names in registration order."""
    return list(IMPORTER_CLASSES)
