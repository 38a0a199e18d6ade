"""The parts of the build pyproject.toml cannot state stably: the C extension, and the dashboard's
files mapped into the package (kmc_monitor/dashboard in the wheel, so that an installed service
serves them without the source tree; service/pages.py looks there, then beside the package)."""

from setuptools import Extension, find_namespace_packages, find_packages, setup

DASHBOARD = [
    "kmc_monitor.dashboard",
    *(f"kmc_monitor.dashboard.{p}" for p in find_namespace_packages("dashboard")),
]

setup(
    packages=[*find_packages(include=["kmc_monitor", "kmc_monitor.*"]), *DASHBOARD],
    package_dir={"kmc_monitor.dashboard": "dashboard"},
    package_data={"kmc_monitor": ["py.typed"], **{p: ["*"] for p in DASHBOARD}},
    ext_modules=[
        # The plain-trace fast path (kmc_monitor/devices/trace/plain.py says when it is used).
        Extension(
            "kmc_monitor.devices.trace._plain",
            sources=["kmc_monitor/devices/trace/_plain.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Werror"],
            # Without a C compiler the install still succeeds and every block takes the general
            # readers; tests/devices/trace/test_plain.py fails then, so `make test` notices.
            optional=True,
        )
    ],
)
