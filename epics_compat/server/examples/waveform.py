"""A detector image and a random-walk trace. ``<prefix>acquire`` (put 1) takes a frame:
``<prefix>image`` (``width`` x ``height`` bytes, row by row) and ``<prefix>frames``
change; ``<prefix>trace`` (100 doubles) walks every 0.1 s. Default prefix ``wave:``."""
from __future__ import annotations

import asyncio
import math
import random

from epics_compat.server.group import Group, periodic, pv
from epics_compat.server.runner import run

WIDTH, HEIGHT = 64, 48
TRACE_LENGTH = 100


class Detector(Group):
    width = pv(WIDTH, read_only=True, doc="image width")
    height = pv(HEIGHT, read_only=True, doc="image height")
    image = pv([0] * (WIDTH * HEIGHT), type="char", read_only=True, doc="last frame")
    frames = pv(0, read_only=True, doc="frames taken")
    acquire = pv("Done", enum_strs=["Done", "Acquire"], doc="put 1 to take a frame")
    exposure = pv(0.1, units="s", precision=3, drive_low=0.0, drive_high=10.0)
    trace = pv([0.0] * TRACE_LENGTH, doc="a random walk")

    @acquire.on_put  # type: ignore[no-redef]  # the handler joins the pv of its name
    async def acquire(self, value):
        if value == "Acquire":
            await asyncio.sleep(self.exposure.value)  # a put with wait waits for it
            frame = self.frames.value + 1
            self.image.write(_frame(frame))
            self.frames.write(frame)
        return "Done"

    @periodic(0.1)
    def walk(self) -> None:
        last = list(self.trace.value)
        step = [value + random.gauss(0.0, 0.1) for value in last]
        self.trace.write(step)


def _frame(number: int) -> list[int]:
    """A bright spot that moves with each frame, on a dim background."""
    cx = (number * 5) % WIDTH
    cy = HEIGHT // 2 + int(10 * math.sin(number / 3))
    return [min(255, 10 + int(240 * math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 30)))
            for y in range(HEIGHT) for x in range(WIDTH)]


if __name__ == "__main__":
    run(Detector, default_prefix="wave:", description=__doc__.splitlines()[0])
