"""One command rebuilds all shipped data in order (builders/rebuild.py) and checks it byte-identical."""

import os
import subprocess
import sys

import pytest

from helm_efficiency.builders.rebuild import digests, main, steps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_step_is_a_module_with_a_command_line_and_the_order_is_stated():
    plan = steps(2)
    names = [name for name, _, _ in plan]
    assert names.index("anchor-fit") < names.index("simulated") < names.index("anchored") < names.index("fits")
    assert names.index("served-rows") < names.index("served-fit") and names[-1] == "fits"
    for _, command, _ in plan:
        path = os.path.join(ROOT, *command[0].split(".")) + ".py"
        with open(path) as f:
            text = f.read()
        assert "def main(" in text and "__main__" in text, command[0]


def test_an_unknown_step_is_refused_naming_the_steps(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--only", "nope"])
    assert e.value.code == 2 and "fits" in capsys.readouterr().err


@pytest.mark.slow
def test_the_cheap_steps_rebuild_byte_identically():
    before = digests()
    done = subprocess.run([sys.executable, "-m", "helm_efficiency.builders.rebuild", "--check", "--only", "megatron",
                           "--only", "batch1-power", "--only", "anchor-fit", "--only", "anchored", "--only", "served-fit",
                            "--only", "fits"],
                          capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "byte-identical" in done.stdout and digests() == before


def test_every_shipped_data_path_is_named_in_data_paths_alone():
    """util/data_paths.py names every shipped data file, each of them exists, and no other module
    finds package data by its own path (`__file__`, importlib.resources of this package)."""
    from helm_efficiency.util import data_paths

    named = {k: v for k, v in vars(data_paths).items() if k.isupper() and isinstance(v, str) and k != "SERVED_TABLE_SUFFIX"}
    assert {"DATA_DIR", "FITS_DIR", "SERVED_DIR", "ANCHOR_CORRECTION_PATH", "SERVED_CORRECTION_PATH", "MEASURED_DIR",
            "MEASURED_SERVED_DIR", "ANCHOR_CACHE", "SERVED_CACHE", "HARDWARE_JSON", "REGISTRY_JSON"} <= set(named)
    assert not [k for k, v in named.items() if not os.path.exists(v)]
    assert all(os.path.exists(p) and p.startswith(data_paths.PACKAGE_DIR) for p in data_paths.SHIPPED_DATA)
    offenders = []
    for root, _, names in os.walk(os.path.join(ROOT, "helm_efficiency")):
        for name in names:
            path = os.path.join(root, name)
            if name.endswith(".py") and not path.endswith(os.path.join("util", "data_paths.py")):
                with open(path) as f:
                    text = f.read()
                if "__file__" in text or 'resources.files("helm_efficiency' in text:
                    offenders.append(os.path.relpath(path, ROOT))
    assert not offenders, offenders


def test_every_data_file_the_package_reads_is_installed_with_it():
    """setup.cfg's package_data globs cover every tracked non-Python file under helm_efficiency/
    (held_back/ folders excepted: rows kept for the record, never loaded), so a wheel carries
    what an editable install reads."""
    import configparser
    import fnmatch
    import subprocess

    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    patterns = [p.strip().split("/") for p in config["options.package_data"]["helm_efficiency"].split(",")]
    tracked = subprocess.run(["git", "ls-files", "helm_efficiency"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()

    def installed(path: str) -> bool:
        parts = path.split("/")[1:]
        return any(len(p) == len(parts) and all(fnmatch.fnmatchcase(a, b) for a, b in zip(parts, p)) for p in patterns)

    assert tracked, "git ls-files listed nothing"
    assert [f for f in tracked if not f.endswith(".py") and "/held_back/" not in f and not installed(f)] == []
