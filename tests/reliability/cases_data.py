"""CSV data files (issue 7: defects 9, 10, 16, 17): hostile CSVs through evaluate, train and
predict, and the legitimate files that must keep working."""

from __future__ import annotations

from .catalogue import CSV, SPEC, Case, weights_bytes

W = weights_bytes()
EVAL = ["evaluate", "m.stack", "--weights", "w.safetensors", "--data", "d.csv", "--target", "y"]
PREDICT = ["predict", *EVAL[1:]]


def files(csv: str | bytes) -> dict[str, str | bytes]:
    return {"m.stack": SPEC, "w.safetensors": W, "d.csv": csv}


def printable_output(tmp, proc) -> None:
    """Nothing that moves the cursor or clears the screen reaches the terminal."""
    for stream in (proc.stdout, proc.stderr):
        text = stream.decode("utf-8")
        assert all(c.isprintable() or c == "\n" for c in text), repr(text)


ROWS = "".join(f"{i},{i % 3},{-i},{i * 0.5}\n" for i in range(6))

CASES = [
    # 9: a quote that is never closed is named where it opens, not at the last row.
    Case(
        "data_unterminated_quote",
        EVAL,
        files('a,b,c,y\n1,2,3,4\n1,"2,3,4\n5,6,7,8\n9,9,9,9\n'),
    ),
    Case(
        "data_unterminated_quote_last_line",
        PREDICT,
        files('a,b,c,y\n1,2,3,4\n1,2,3,"4'),
    ),
    Case(
        "data_unterminated_quote_large",  # past the csv module's 131,072-character cell limit
        EVAL,
        files('a,b,c,y\n1,2,3,4\n1,2,"3,4\n' + "5,6,7,8\n" * 20_000),
    ),
    # 16: every data diagnostic names the CSV; past 50 errors, how many more.
    Case(
        "data_too_few_rows_to_split",
        ["train", "m.stack", "--data", "d.csv", "--target", "y", "--out", "run"],
        {"m.stack": SPEC, "d.csv": "a,b,c,y\n1,2,3,4\n"},
    ),
    Case(
        "data_more_than_50_errors",
        EVAL,
        files("a,b,c,y\n" + "x,,3,4\n" * 60 + "1,2\n" * 3),
    ),
    Case(
        "data_more_than_50_bad_labels",
        ["evaluate", "c.stack", "--weights", "c.safetensors", "--data", "d.csv", "--target", "y"],
        {
            "c.stack": "input 2\ndense 3\ntrain {\n  loss crossentropy\n}\n",
            "c.safetensors": weights_bytes("input 2\ndense 3\ntrain {\n  loss crossentropy\n}\n"),
            "d.csv": "a,b,y\n" + "1,2,7\n" * 55,
        },
    ),
    # 17: numbers are ASCII decimal literals.
    Case(
        "data_non_ascii_numbers",
        EVAL,
        files("a,b,c,y\n1,2,3,4\n５,٥,1_000,0x10\n1e,+,1 2,1\xa0\nnan,Infinity,1e39,4\n"),
    ),
    # 10: cells, column names and --target reach the terminal escaped.
    Case(
        "data_escapes_in_cells",
        EVAL,
        files('a,b,c,y\n1,2,3,4\n\x1b[2J,"x\x00",3,"\r"\n5,"x\u2028",7,8\n'),
        check=printable_output,
    ),
    Case(
        "data_escapes_in_column_names",
        EVAL,
        files('"a\x1b[2J",b,"c\x00\r",y\n,2,,4\n1,x,3,4\n'),
        check=printable_output,
    ),
    Case(
        "data_escapes_in_target",
        [*EVAL[:-1], "y\x1b[2J\r\u2028"],
        files('"y\x1b[2J",b,c,"y\x1b[2J\r"\n1,2,3,4\n'),
        check=printable_output,
    ),
    Case(
        "data_escapes_in_unknown_target",
        [*EVAL[:-1], "\x1b]0;owned\x07"],
        files(CSV),
        check=printable_output,
    ),
    # Good cases: what users legitimately write keeps working.
    Case(
        "data_good_quoted_header_crlf_bom",
        EVAL,
        files(b'\xef\xbb\xbf"a","b","c","y"\r\n' + ROWS.replace("\n", "\r\n").encode()),
        exit=0,
    ),
    Case(
        "data_good_spaces_and_spellings",
        PREDICT,
        files('a,b,c,y\n 1.5 ,\t2\t,+.5,1\n1.,-.25,6.02E3,2\n"3","-0",1e-3,3\n\n'),
        exit=0,
    ),
    Case(
        "data_good_cr_line_ends_and_blank_lines",
        ["train", "m.stack", "--data", "d.csv", "--target", "y", "--out", "run", "--epochs", "1"],
        {"m.stack": SPEC, "d.csv": "a,b,c,y\r\r" + ROWS.replace("\n", "\r")},
        exit=0,
        golden=False,
        contains=("wrote run/",),
        creates=("run",),
    ),
]
