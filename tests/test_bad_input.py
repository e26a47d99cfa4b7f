"""Every verb that reads a file or a folder, fed each kind of bad input: exit status 2, an
error naming the file and the field, never a traceback, and no output file left behind."""

import os

import pytest

from helm_efficiency.cli import main

REQUESTS = "model,num_prompt_tokens,num_output_tokens"
MEASUREMENTS = "model,hardware,num_prompt_tokens,num_output_tokens,runtime_s"
TIMINGS = "model,num_prompt_tokens,num_output_tokens,runtime_s"

# (name, header, bad content after the header (None: the file as given), field the error must name)
CASES = [
    ("empty file", None, "", None),
    ("header only", "H", "", None),
    ("empty cell", "H", "ROW_EMPTY", "FIELD"),
    ("non-numeric", "H", "ROW_TEXT", "FIELD"),
    ("NaN", "H", "ROW_NAN", "FIELD"),
    ("negative", "H", "ROW_NEG", "FIELD"),
    ("huge", "H", "ROW_HUGE", "FIELD"),
    ("binary", None, b"\x00\xff\xfe\x89PNG\r\n\x1a\n\x00\x00", None),
    ("unterminated quote", "H", '"m,1,2\n', None),
    ("missing column", "MISSING", "m,1", None),
]
VERBS = {
    # verb: (header, a good row with {x} where the bad number goes, the field named for it, argv builder)
    "estimate": (REQUESTS, "meta/llama-3-8b,{x},5", "num_prompt_tokens", lambda i, o: ["estimate", i, "-o", o]),
    "calibrate": (MEASUREMENTS, "m,h100,16,{x},0.5", "num_output_tokens", lambda i, o: ["calibrate", i, "-o", o]),
    "denoise": (TIMINGS, "m,16,4,{x}", "runtime_s", lambda i, o: ["denoise", i, "-o", o]),
}
VALUES = {"ROW_EMPTY": "", "ROW_TEXT": "abc", "ROW_NAN": "nan", "ROW_NEG": "-3", "ROW_HUGE": "1e308"}


def content(verb, header_kind, body):
    header, row, *_ = VERBS[verb]
    if header_kind is None:
        return body
    if header_kind == "MISSING":
        return ",".join(header.split(",")[:-1]) + "\n" + body + "\n"
    if body in VALUES:
        good = "\n".join(row.format(x=v) for v in ("10", "20", "40", "80", "160", "320", "640", "1280"))
        return f"{header}\n{good}\n{row.format(x=VALUES[body])}\n"
    return f"{header}\n{body}"


@pytest.mark.parametrize("verb", sorted(VERBS))
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_csv_input_exits_2_naming_file_and_field(verb, case, tmp_path, capsys):
    name, header_kind, body, field = case
    if verb == "denoise" and name in ("empty cell", "NaN", "negative", "huge"):
        pytest.skip("denoise keeps an untimed or invalid runtime as an excluded row with its reason (test_denoise_keeps_untimed_rows)")
    path = tmp_path / "in.csv"
    data = content(verb, header_kind, body)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    out = tmp_path / "out.file"
    with pytest.raises(SystemExit) as exit_info:
        main(VERBS[verb][3](str(path), str(out)))
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert "Traceback" not in err and str(path) in err, err
    if field == "FIELD":
        assert VERBS[verb][2] in err, err
    assert not out.exists() and not [f for f in os.listdir(tmp_path) if f.startswith(".out")]


def test_denoise_keeps_untimed_rows(tmp_path):
    """Blank, NaN and negative runtimes are requests without a usable timing: kept, not fitted, with a reason."""
    import pandas as pd

    rows = [f"m,{p},{o},{0.01 + 0.001 * p + 0.01 * o}" for p in (10, 20, 40, 80) for o in (2, 4, 8)]
    path = tmp_path / "t.csv"
    path.write_text(TIMINGS + "\n" + "\n".join(rows + ["m,10,2,", "m,10,2,nan", "m,10,2,-1"]) + "\n")
    main(["denoise", str(path), "-o", str(tmp_path / "d.csv")])
    out = pd.read_csv(tmp_path / "d.csv")
    assert len(out) == len(rows) + 3 and (~out["used_in_fit"].tail(3)).all() and out["excluded_reason"].tail(3).notna().all()


@pytest.mark.parametrize("argv", [
    lambda d: ["rescore", str(d / "missing")],
    lambda d: ["rescore", str(d / "empty")],
    lambda d: ["leaderboard", str(d / "missing"), "-o", str(d / "lb")],
    lambda d: ["leaderboard", str(d / "empty"), "-o", str(d / "lb")],
])
def test_missing_or_empty_suite_exits_2(argv, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main(argv(tmp_path))
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err and str(tmp_path) in err, err
