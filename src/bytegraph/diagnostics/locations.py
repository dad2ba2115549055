"""Where in the user's code something happened: file, line, function, source text.

A UserLocation is built from a code object and a line number; the source text is read
with linecache (so it works for files, and for `exec`-ed code registered in linecache).
"""

from __future__ import annotations

import dataclasses
import linecache
import os
import types


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


@dataclasses.dataclass(frozen=True, slots=True)
class UserLocation:
    filename: str
    lineno: int | None
    funcname: str
    text: str

    @classmethod
    def of(cls, code: types.CodeType, lineno: int | None) -> "UserLocation":
        line = lineno if lineno is not None else code.co_firstlineno
        text = linecache.getline(code.co_filename, line).strip()
        return cls(code.co_filename, line, code.co_qualname, text)

    @property
    def internal(self) -> bool:
        """bytegraph's own frame (a compiled module's ``call_module``): not shown to users."""
        return self.filename.startswith(_PACKAGE_DIR)

    def short(self) -> str:
        return f"{os.path.basename(self.filename)}:{self.lineno} in {self.funcname}"

    def render(self, indent: str = "  ") -> str:
        out = f"{indent}at {self.short()}"
        if self.text:
            out += f"\n{indent}    {self.text}"
        return out
