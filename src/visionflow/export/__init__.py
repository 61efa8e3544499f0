"""Exporting a trained model to other formats, each checked against the `.keras` original."""

from visionflow.export.exporter import ExportResult, export, parse_formats
from visionflow.export.formats import FORMATS

__all__ = ["FORMATS", "ExportResult", "export", "parse_formats"]
