"""The parts of the build pyproject.toml cannot state stably: the C extension and the dashboard's
files mapped into the package."""

from setuptools import Extension, find_packages, setup

setup(
    packages=[*find_packages(include=["kmc_monitor", "kmc_monitor.*"]), "kmc_monitor.dashboard"],
    package_dir={"kmc_monitor.dashboard": "dashboard"},
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
