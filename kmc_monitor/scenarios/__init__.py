"""Clinical scenarios as files: a trace (recorded or generated) and the events it must produce.

``load`` reads and validates YAML scenario files, ``run`` runs each through the batch analysis and
the live engine and checks every expectation on both, ``report`` renders the outcome for
``kmc-monitor check`` and for the pytest plugin (``pytest_plugin``, registered as ``kmc_scenarios``),
which collects ``scenario_*.yaml`` files as tests. The format is described in ``docs/scenarios.md``.
"""

from kmc_monitor.scenarios.facts import Check, Outcome, ScenarioResult
from kmc_monitor.scenarios.load import LoadedScenario, ScenarioError, load_file, load_text
from kmc_monitor.scenarios.model import Scenario
from kmc_monitor.scenarios.report import render_diff, render_result, render_summary, results_json
from kmc_monitor.scenarios.run import run_scenario

__all__ = [
    "Check",
    "LoadedScenario",
    "Outcome",
    "Scenario",
    "ScenarioError",
    "ScenarioResult",
    "load_file",
    "load_text",
    "render_diff",
    "render_result",
    "render_summary",
    "results_json",
    "run_scenario",
]
