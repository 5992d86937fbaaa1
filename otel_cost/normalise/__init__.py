"""Conversion of each source's usage convention into canonical categories."""
