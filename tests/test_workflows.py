"""The GitHub Actions workflow: valid against the pinned GitHub-workflow schema, and it does what the README says."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

WORKFLOWS = sorted((Path(__file__).resolve().parents[1] / ".github" / "workflows").glob("*.yml"))
BOOK_WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "book.yml"


def schema_errors(path: Path) -> str:
    """check-jsonschema's verdict with its vendored (version-pinned) GitHub workflow schema; '' when valid."""
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           str(path)], capture_output=True, text=True, check=False)
    return "" if done.returncode == 0 else done.stdout + done.stderr


def test_there_is_a_workflow() -> None:
    assert BOOK_WORKFLOW in WORKFLOWS


@pytest.mark.parametrize("path", WORKFLOWS, ids=[path.name for path in WORKFLOWS])
def test_workflows_match_the_schema(path: Path) -> None:
    assert schema_errors(path) == ""


def test_the_schema_check_catches_a_broken_workflow(tmp_path: Path) -> None:
    workflow = yaml.safe_load(BOOK_WORKFLOW.read_text())
    workflow["jobs"]["deploy"]["runs-on"] = {"group": 3}  # not a runner
    workflow["jobs"]["test"]["steps"][0]["uses"] = ["actions/checkout@v4"]  # a list where a string belongs
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump(workflow))
    assert "jobs" in schema_errors(broken)


def test_the_book_is_built_and_published_on_push_to_main_after_the_tests() -> None:
    workflow = yaml.safe_load(BOOK_WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["push"]["branches"] == ["main"]
    jobs = workflow["jobs"]
    for job in jobs.values():
        assert set(job.get("needs", [])) <= set(jobs), "a job needs a job that does not exist"
    commands = {name: " ".join(step.get("run", "") for step in job["steps"]) for name, job in jobs.items()}
    uses = {name: [step.get("uses", "") for step in job["steps"]] for name, job in jobs.items()}
    assert ".ci/run" in commands["test"]
    assert "jupyter-book build book/" in commands["build-book"]
    assert any(action.startswith("actions/upload-pages-artifact@") for action in uses["build-book"])
    upload = next(step for step in jobs["build-book"]["steps"] if step.get("uses", "").startswith("actions/upload-pages"))
    assert upload["with"]["path"] == "book/_build/html"
    deploy = jobs["deploy"]
    assert set(deploy["needs"]) == {"test", "build-book"}
    assert "refs/heads/main" in deploy["if"] and deploy["environment"]["name"] == "github-pages"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert any(action.startswith("actions/deploy-pages@") for action in uses["deploy"])
