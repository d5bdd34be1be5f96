"""Self-contained HTML report of a pipeline run (every figure embedded as base64 PNG)."""

from .html import build_report

__all__ = ["build_report"]
