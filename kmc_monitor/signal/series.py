"""One wrap's readings as validated, ordered arrays: the only input the signal core accepts.

Validation and coercion happen once, here, at the entry to the core (style guide: "validate and coerce
once at the entry point, then stay vectorised"). Times become integer microseconds and temperatures
integer milli-degrees held in float64 (NaN = missing), so every later comparison and sum is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kmc_monitor.errors import InvalidReadingsError
from kmc_monitor.signal.params import US, RuleParams

__all__ = ["FloatArray", "IntArray", "WrapSeries", "build_series", "empty_series", "validate_fields"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True, eq=False)
class WrapSeries:
    """A wrap's readings, strictly increasing in time, one per timestamp.

    Attributes
    ----------
    wrap_id
        The wrap's identifier.
    t_us
        Reading times, integer microseconds since the Unix epoch, strictly increasing.
    skin_mc, ambient_mc
        Temperatures in whole milli-degrees Celsius (float64 holding integers); NaN when missing or
        implausible.
    contact
        Skin-contact level 0..1; NaN when missing or invalid.
    battery_pct
        Battery 0..100 %; NaN when missing or invalid.
    invalid
        How many kept readings had at least one invalid field, plus rows dropped for having no
        timestamp.
    """

    wrap_id: str
    t_us: IntArray
    skin_mc: FloatArray
    ambient_mc: FloatArray
    contact: FloatArray
    battery_pct: FloatArray
    invalid: int = 0

    def __len__(self) -> int:
        return int(self.t_us.shape[0])

    def slice(self, start: int, stop: int) -> WrapSeries:
        """Readings ``start:stop`` as a new series (views, no copy); ``invalid`` is not carried."""
        return WrapSeries(
            self.wrap_id,
            self.t_us[start:stop],
            self.skin_mc[start:stop],
            self.ambient_mc[start:stop],
            self.contact[start:stop],
            self.battery_pct[start:stop],
            0,
        )


def empty_series(wrap_id: str) -> WrapSeries:
    """A series with no readings."""
    f = np.empty(0, dtype=np.float64)
    return WrapSeries(wrap_id, np.empty(0, dtype=np.int64), f, f, f, f, 0)


def _as_float(values: npt.ArrayLike | None, n: int, name: str) -> FloatArray:
    if values is None:
        return np.full(n, np.nan)
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (n,):
        raise InvalidReadingsError(f"{name} has {arr.size} values for {n} timestamps")
    return arr


def validate_fields(
    skin_c: FloatArray,
    ambient_c: FloatArray,
    contact: FloatArray,
    battery_pct: FloatArray,
    params: RuleParams,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Blank implausible values and say which readings had any.

    Returns the four arrays with out-of-range values set to NaN (temperatures converted to whole
    milli-degrees) and a boolean mask of readings that had at least one invalid field. A value that
    is present but not finite (inf) is invalid too; NaN on input means "missing" and is not.
    """
    return _validate_in_place(
        np.array(skin_c, dtype=np.float64),
        np.array(ambient_c, dtype=np.float64),
        np.array(contact, dtype=np.float64),
        np.array(battery_pct, dtype=np.float64),
        params,
    )


def _validate_in_place(
    skin_c: FloatArray,
    ambient_c: FloatArray,
    contact: FloatArray,
    battery_pct: FloatArray,
    params: RuleParams,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """:func:`validate_fields` writing its results over its (float64) inputs, which it owns: a
    trace reader's freshly gathered columns are spared a second copy."""
    lo, hi = params.plausible_min_c, params.plausible_max_c

    def bad(x: FloatArray, a: float, b: float) -> BoolArray:
        # Present but implausible: NaN is missing, never implausible.
        with np.errstate(invalid="ignore"):
            return ~np.isnan(x) & ~((x >= a) & (x <= b))

    bad_skin, bad_amb = bad(skin_c, lo, hi), bad(ambient_c, lo, hi)
    bad_contact, bad_batt = bad(contact, 0.0, 1.0), bad(battery_pct, 0.0, 100.0)
    invalid = bad_skin | bad_amb | bad_contact | bad_batt
    for values, bad_values, scale in (
        (skin_c, bad_skin, True),
        (ambient_c, bad_amb, True),
        (contact, bad_contact, False),
        (battery_pct, bad_batt, False),
    ):
        if scale:
            np.multiply(values, 1000.0, out=values)
            np.rint(values, out=values)
        np.copyto(values, np.nan, where=bad_values)
    return skin_c, ambient_c, contact, battery_pct, invalid


def build_series(
    wrap_id: str,
    t_s: npt.ArrayLike,
    skin_c: npt.ArrayLike | None = None,
    ambient_c: npt.ArrayLike | None = None,
    contact: npt.ArrayLike | None = None,
    battery_pct: npt.ArrayLike | None = None,
    *,
    params: RuleParams | None = None,
    invalid_rows: npt.ArrayLike | None = None,
    extra_invalid: int = 0,
    latest_us: int | None = None,
    copy: bool = True,
) -> WrapSeries:
    """Validate, order and de-duplicate one wrap's readings.

    ``t_s`` is seconds since the epoch (float). Rows are put in time order with a stable sort and of
    several rows with the same microsecond the first given is kept, as trace-format.md requires.
    Missing values are NaN (or the whole field ``None``). ``invalid_rows`` marks rows the caller already
    found invalid (e.g. non-numeric text in a trace); ``extra_invalid`` adds rows the caller dropped
    (no timestamp). Only kept rows count: a dropped duplicate is not a second invalid reading.

    A time before ``params.earliest_t_s`` (2015) or after ``latest_us`` (the caller's clock plus the
    allowed lead; no upper bound when None) is a clock fault: the row is dropped and counted invalid,
    so one glitched timestamp cannot stretch a wrap's record over years of empty days.

    With ``copy=False`` the caller hands over the four value arrays: when they are float64 NumPy
    arrays they are overwritten with the validated values and may be returned as the series' own (a
    trace reader's freshly gathered columns, spared a second copy). The result is the same.
    """
    params = params or RuleParams()
    t_arr = np.asarray(t_s, dtype=np.float64)
    if t_arr.ndim != 1:
        raise InvalidReadingsError("timestamps must be a one-dimensional sequence")
    n = t_arr.shape[0]
    if not np.all(np.isfinite(t_arr)):
        raise InvalidReadingsError(f"wrap {wrap_id!r}: every reading needs a finite timestamp")
    fields = (
        _as_float(skin_c, n, "skin_temp_c"),
        _as_float(ambient_c, n, "ambient_temp_c"),
        _as_float(contact, n, "contact"),
        _as_float(battery_pct, n, "battery_pct"),
    )
    own = not copy and all(f.flags.writeable and f.flags.c_contiguous for f in fields)
    # Never one buffer given for two fields (nor the times'): each is overwritten on its own.
    own = own and not any(
        np.may_share_memory(a, b) for i, a in enumerate((t_arr, *fields)) for b in fields[i:]
    )
    skin_mc, amb_mc, contact_v, batt_v, invalid = (_validate_in_place if own else validate_fields)(
        *fields, params
    )
    if invalid_rows is not None:
        invalid = invalid | np.asarray(invalid_rows, dtype=np.bool_)
    # Clock faults are decided on the float seconds: 1e300 must not overflow the integer cast.
    fault = t_arr < params.earliest_t_s
    if latest_us is not None:
        fault |= t_arr > latest_us / US
    if fault.any():
        ok = ~fault
        extra_invalid += int(np.count_nonzero(fault))
        t_arr, skin_mc, amb_mc = t_arr[ok], skin_mc[ok], amb_mc[ok]
        contact_v, batt_v, invalid = contact_v[ok], batt_v[ok], invalid[ok]
        n = t_arr.shape[0]
    t_us = np.rint(t_arr * US).astype(np.int64)
    if n < 2 or bool((t_us[1:] > t_us[:-1]).all()):
        # Already strictly increasing (a trace as recorded): the stable sort and the de-duplication
        # below would keep every row where it is.
        return WrapSeries(
            wrap_id,
            t_us,
            skin_mc,
            amb_mc,
            contact_v,
            batt_v,
            int(np.count_nonzero(invalid)) + extra_invalid,
        )
    order = np.argsort(t_us, kind="stable")
    t_sorted = t_us[order]
    keep = np.ones(n, dtype=np.bool_)
    if n > 1:
        keep[1:] = t_sorted[1:] != t_sorted[:-1]
    idx = order[keep]
    return WrapSeries(
        wrap_id,
        t_sorted[keep],
        skin_mc[idx],
        amb_mc[idx],
        contact_v[idx],
        batt_v[idx],
        int(np.count_nonzero(invalid[idx])) + extra_invalid,
    )
