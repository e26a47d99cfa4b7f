"""The README and the documentation site as a newcomer meets them (issue #33): a front door of at
most 200 lines, a site that builds with `mkdocs build --strict`, and examples that run in a fresh
clone: no path outside the package or tests/data, and every tests/data file they name exists."""

import glob
import os
import re
import shlex
import shutil
import subprocess

import pytest

from helm_efficiency.cli import build_parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
FRONT_DOOR_LINES = 200


def user_facing_texts():
    """(where, text) for the README, the changelog, every docs page, every markdown file and Python
    module the package ships (docstrings name `python -m` commands), and every verb's --help."""
    paths = [README, os.path.join(ROOT, "CHANGELOG.md"), os.path.join(ROOT, "mkdocs.yml")]
    paths += glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True)
    paths += glob.glob(os.path.join(ROOT, "helm_efficiency", "**", "*.md"), recursive=True)
    paths += glob.glob(os.path.join(ROOT, "helm_efficiency", "**", "*.py"), recursive=True)
    paths += glob.glob(os.path.join(ROOT, "run_specs", "*"))
    texts = [(os.path.relpath(p, ROOT), open(p, encoding="utf-8").read()) for p in paths if os.path.isfile(p)]
    parser = build_parser()
    for verb, sub in verb_parsers(parser):
        texts.append((f"helm-efficiency {verb} --help", sub.format_help()))
    return texts


def verb_parsers(parser):
    [subparsers] = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return sorted(subparsers.choices.items())


def test_readme_is_a_front_door():
    lines = open(README, encoding="utf-8").read().splitlines()
    assert len(lines) <= FRONT_DOOR_LINES, len(lines)
    first = "\n".join(lines[:10])
    assert "plugin for [HELM]" in first or "plugin for HELM" in first
    assert "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && helm-efficiency demo" in first
    assert ". .venv/bin/activate && python -m pytest -q" in first


def test_no_example_reaches_outside_the_package_or_tests_data():
    for where, text in user_facing_texts():
        assert "../shared" not in text and "/work/shared" not in text, where


def test_every_tests_data_file_an_example_names_exists():
    named = set()
    for where, text in user_facing_texts():
        named |= {(where, m.rstrip(".,;:)`'\"")) for m in re.findall(r"tests/data/[\w./*\-]+", text)}
    assert any(where == "README.md" for where, _ in named)
    for where, path in named:
        assert glob.glob(os.path.join(ROOT, path)), (where, path)


@pytest.mark.slow
def test_readme_2022_leaderboard_example_runs(tmp_path):
    """The README's leaderboard line for HELM's 2022 data, verbatim, from the repository root."""
    [line] = [line for line in open(README, encoding="utf-8") if line.startswith("helm-efficiency leaderboard tests/data/")]
    args = shlex.split(line.split("  #")[0])
    out = args[args.index("-o") + 1]
    args[args.index("-o") + 1] = str(tmp_path / out)
    done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / out / "leaderboard.html").exists()


def test_import_megatron_help_example_runs(tmp_path):
    parser = build_parser()
    [epilog] = [sub.epilog for verb, sub in verb_parsers(parser) if verb == "import-megatron"]
    command = epilog.split("example:")[1].strip()
    assert command.startswith("helm-efficiency import-megatron tests/data/")
    done = subprocess.run(command.replace("-o a100.csv", f"-o {tmp_path / 'a100.csv'}"), shell=True, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "6 models" in done.stdout


@pytest.mark.skipif(shutil.which("mkdocs") is None, reason="mkdocs is not installed (pip install -e '.[test]' installs it)")
def test_documentation_site_builds_strictly(tmp_path):
    """Every page in the nav, every link and anchor resolves (mkdocs --strict turns warnings into errors)."""
    done = subprocess.run(["mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").exists()
