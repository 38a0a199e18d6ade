"""Where readings come from and go to: wire formats, gateways, the simulator and recorded traces."""

from kmc_monitor.devices.trace import MAX_REPORTED_LINES, TRACE_COLUMNS, TraceSet, read_traces, write_trace

__all__ = ["MAX_REPORTED_LINES", "TRACE_COLUMNS", "TraceSet", "read_traces", "write_trace"]
