"""The README's two set-up commands stay true: CI runs the test command verbatim."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def readme_commands():
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_readme_has_exactly_two_setup_commands():
    commands = readme_commands()
    assert commands == ['pip install -e . && python -m gpumetrics', 'pip install -e ".[test]" && python -m pytest']


def test_ci_runs_the_readme_test_command():
    assert readme_commands()[1] in (ROOT / ".ci" / "run").read_text().splitlines()
