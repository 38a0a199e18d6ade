# The C kernel of the plain-trace fast path (_plain.c); kmc_monitor/devices/trace/plain.py uses it.
import numpy as np
import numpy.typing as npt
from typing_extensions import Buffer

def lines(data: Buffer, start: int, end: int, /) -> int: ...
def parse(
    data: Buffer,
    start: int,
    end: int,
    ncols: int,
    wrap_pos: int,
    numbers: tuple[npt.NDArray[np.float64] | bool | None, ...],
    codes: npt.NDArray[np.int32],
    /,
) -> tuple[int, list[str]] | None: ...
def scatter(
    codes: npt.NDArray[np.int32],
    starts: npt.NDArray[np.int64],
    sources: tuple[npt.NDArray[np.float64] | npt.NDArray[np.bool_] | None, ...],
    targets: tuple[npt.NDArray[np.float64] | npt.NDArray[np.bool_], ...],
    /,
) -> None: ...
