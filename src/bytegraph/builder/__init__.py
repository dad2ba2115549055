"""VariableBuilder and SourcelessBuilder: Python value -> tracker, with guards (layer 4)."""

from .builder import SourcelessBuilder, VariableBuilder
from .rules import RULES, WrapRule, select_rule

__all__ = ["RULES", "SourcelessBuilder", "VariableBuilder", "WrapRule", "select_rule"]
