"""pytest plugin (entry point ``kmc_scenarios``): every ``scenario_*.yaml`` file is a test file.

Each scenario in the file becomes one test item (marked ``scenario``) that runs it through the batch
analysis and the live engine; a failure shows the expectations that did not hold with what each
path found instead, not a Python traceback. A file that is not a valid scenario is a collection
error naming its line and field.

The module imports nothing of kmc-monitor until a scenario file is collected: it is loaded into
every pytest run of an environment where kmc-monitor is installed (disable it with
``-p no:kmc_scenarios``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from kmc_monitor.scenarios.facts import ScenarioResult
    from kmc_monitor.scenarios.load import LoadedScenario

__all__ = ["ScenarioFailed", "ScenarioFile", "ScenarioItem"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "scenario: a clinical scenario file (tests/scenarios/scenario_*.yaml)")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and file_path.name.startswith("scenario_"):
        collector: ScenarioFile = ScenarioFile.from_parent(parent, path=file_path)
        return collector
    return None


class ScenarioFailed(AssertionError):
    """A scenario ran and some expectation did not hold."""

    def __init__(self, result: ScenarioResult) -> None:
        super().__init__(f"scenario {result.name!r} failed")
        self.result = result


class ScenarioFile(pytest.File):
    """A scenario file: one item per scenario (YAML document) in it."""

    def collect(self) -> Iterator[pytest.Item]:
        from kmc_monitor.scenarios.load import load_file

        for loaded in load_file(self.path):
            item: ScenarioItem = ScenarioItem.from_parent(self, name=loaded.name, loaded=loaded)
            item.add_marker(pytest.mark.scenario)
            yield item

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        from kmc_monitor.scenarios.load import ScenarioError

        if isinstance(excinfo.value, ScenarioError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class ScenarioItem(pytest.Item):
    """One scenario: passes when every expectation holds on both paths."""

    def __init__(self, *, loaded: LoadedScenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loaded = loaded

    def runtest(self) -> None:
        from kmc_monitor.scenarios.run import run_scenario

        result = run_scenario(self.loaded)
        if not result.passed:
            raise ScenarioFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        from kmc_monitor.scenarios.load import ScenarioError
        from kmc_monitor.scenarios.report import render_diff

        if isinstance(excinfo.value, ScenarioFailed):
            return render_diff(excinfo.value.result)
        if isinstance(excinfo.value, ScenarioError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, self.loaded.line - 1, f"scenario: {self.name}"
