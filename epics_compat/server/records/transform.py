"""``Transform``: a simulated synApps transform record (calc module).

Served: ``NAME.A`` .. ``.P`` (values), ``.INPA``.. (input links), ``.CLCA``..
(expressions), ``.OUTA``.. (output links), ``.CMTA``.. (comments), ``.IAV``.., ``.OAV``..
(link states: 0 valid, 1 no PV or not found), ``.CAV``.. (expression states: 0 valid,
1 invalid), ``.LA``.. (values before the last processing), ``.COPT``, ``.PREC``,
``.RTYP``.

Processing (after any client write to the record): the inputs with a link to a PV of
this server are read; then, in order A..P, every row with a valid expression is
computed from the values so far (A..P in the expression); a row with an output link
writes its value to that PV. COPT "Always" computes every row, "Conditional" only the
rows whose value the client did not write in this put.
"""
from __future__ import annotations

from typing import Any

from caproto_core import ChannelType

from ..pv import PV, Done
from ._base import SimRecord
from ._calc import CalcError, LETTERS, compile_calc, evaluate

VALID, INVALID = 0, 1


class Transform(SimRecord):
    """A transform record ``name``."""

    record_type = "transform"

    def __init__(self, name: str, precision: int = 3):
        super().__init__(name)
        self._compiled: dict[str, Any] = {}
        self.add("COPT", "enum", 1, enum_strs=("Conditional", "Always"),
                 on_put=self._put_and_process)
        self.add("PREC", "short", precision)
        self.add("RTYP", "string", "transform", read_only=True)
        for row in LETTERS:
            self.add(row, "double", 0.0, precision=precision, on_put=self._put_value)
            self.add(f"INP{row}", "string", "", on_put=self._put_and_process)
            self.add(f"CLC{row}", "string", "", on_put=self._put_and_process)
            self.add(f"OUT{row}", "string", "", on_put=self._put_and_process)
            self.add(f"CMT{row}", "string", "")
            self.add(f"I{row}V", "enum", INVALID, enum_strs=("Ext PV OK", "No PV"),
                     read_only=True)
            self.add(f"O{row}V", "enum", INVALID, enum_strs=("Ext PV OK", "No PV"),
                     read_only=True)
            self.add(f"C{row}V", "enum", VALID, enum_strs=("Valid", "Invalid"),
                     read_only=True)
            self.add(f"L{row}", "double", 0.0, precision=precision, read_only=True)

    def _put_value(self, pv: PV, value: Any, done: Done) -> None:
        pv.write(value)
        self.process(written=pv.name[len(self.name) + 1:])
        done()

    def _put_and_process(self, pv: PV, value: Any, done: Done) -> None:
        pv.write(value)
        self.process()
        done()

    def _link(self, row: str, kind: str) -> PV | None:
        name = self.get(f"{kind}{row}").strip()
        target = self.local_pv(name)
        self.set(f"{'I' if kind == 'INP' else 'O'}{row}V", VALID if target else INVALID)
        return target

    def process(self, written: str | None = None) -> None:
        """Read the inputs, compute the rows, write the outputs (see the module doc)."""
        values = {row: self.get(row) for row in LETTERS}
        for row in LETTERS:
            self.set(f"L{row}", values[row])
            source = self._link(row, "INP")
            if source is not None and row != written:
                values[row] = _number(source.value)
        conditional = self.get("COPT") == 0
        for row in LETTERS:
            expression = self.get(f"CLC{row}").strip()
            if not expression or (conditional and row == written):
                continue
            try:
                values[row] = evaluate(compile_calc(expression), values)
                self.set(f"C{row}V", VALID)
            except (CalcError, ArithmeticError):
                self.set(f"C{row}V", INVALID)
        for row in LETTERS:
            self.set(row, values[row])
            target = self._link(row, "OUT")
            if target is not None:
                target.put(target.from_client([values[row]], ChannelType.DOUBLE))


def _number(value: Any) -> float:
    if hasattr(value, "__len__") and not isinstance(value, str):
        value = value[0] if len(value) else 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
