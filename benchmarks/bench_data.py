"""Reading data files (issue 9): stackspec's reader against `pandas.read_csv`, time and memory.

Two generated numeric CSVs in a temporary folder: a ~50 MB one (12 columns of 6-digit values,
like data/red-wine.csv) and a 1 M-row one (5 columns), plus the first one as Parquet. Each
reader runs in a fresh Python process, so its peak RSS (VmHWM, which exec starts afresh; not
wait4's ru_maxrss, which a child inherits from this process, large after writing the files); a
process that reads a 2-row file the same way gives the baseline (the interpreter, the libraries
and the code they run), which is subtracted. Time (wall
and CPU, all threads) is the read call alone (imports excluded), the median of --runs processes;
the readers take turns. "imports + read" is the same process from its first line to the end of
the read: what a script that imports the library and reads one file waits for (pandas's import
is most of it for pandas, pyarrow's and stackspec's for the fast path).

Readers: stackspec's read_csv (the pyarrow fast path), the same with the fast path off (the
careful reader, as without the `fast` extra), pandas.read_csv (pandas is needed only here),
stackspec on the Parquet file, and three references: pyarrow's own `read_csv` of the whole
file (all threads, float64 columns, no checks, no float32 table: the library's fastest);
FLOOR, the fast path with only the file's read and pyarrow's parse of its parts left (no float32
table, no checks: the least the fast path can take on pyarrow); and "pandas+arrays", what a
Keras user's script does, `read_csv` and then the float32 feature and target arrays.
Libraries are imported, and the spec parsed, before the clock starts. The goal: the fast path
at least as fast as pandas, and its peak at most the file size plus twice the float32 array.

    python benchmarks/bench_data.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

# Each child prints {"seconds": ...}; IMPORTS[reader] runs before the clock starts (the spec is
# parsed there too: it is not reading).
SPEC_IR = "import stackspec\nfrom stackspec.training import data\nIR = stackspec.parse(SPEC).ir\n"
IMPORTS = {
    "stackspec": SPEC_IR + "import pyarrow.csv",
    "careful": SPEC_IR + "data.numeric_table = lambda raw: None",
    "parquet": SPEC_IR + "import pyarrow.parquet",
    "pandas": "import pandas",
    "pyarrow": "import pyarrow.csv",
    # the fast path's parse alone: its parts read in parallel, each block counted, not converted
    "floor": "import pyarrow.csv\nfrom stackspec.training import tables\n"
    "tables._fill = lambda modules, body, out, delimiter: sum(\n"
    "    batch.num_rows for batch in tables.blocks(modules, body, out.shape[1], delimiter))",
    "pandas+arrays": "import numpy, pandas",
}
READS = {
    "stackspec": "data.read_csv(PATH, IR, 't')",
    "careful": "data.read_csv(PATH, IR, 't')",
    "parquet": "data.read_csv(PATH, IR, 't')",
    "pandas": "pandas.read_csv(PATH)",
    "pyarrow": "pyarrow.csv.read_csv(PATH)",
    "floor": "tables.numeric_table(open(PATH, 'rb').read())",
    "pandas+arrays": "frame = pandas.read_csv(PATH); X = frame.drop(columns='t')"
    ".to_numpy(numpy.float32); y = frame['t'].to_numpy(numpy.float32)",
}
CHILD = """
import time
begin = time.perf_counter()
import json
PATH, SPEC = {path!r}, {spec!r}
{imports}
start, cpu = time.perf_counter(), time.process_time()
{read}
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
whole = time.perf_counter() - begin
status = open("/proc/self/status").read()
peak = int(status.split("VmHWM:")[1].split()[0]) * 1024
print(json.dumps({{"seconds": seconds, "cpu": cpu, "peak": peak, "whole": whole}}))
"""


def run_child(reader: str, path: Path, features: int) -> tuple[float, float, int, float]:
    """(seconds of the read, its CPU seconds in all threads, peak RSS in bytes, seconds of the
    imports and the read together) of one fresh process."""
    code = CHILD.format(
        path=str(path),
        spec=f"input {features}\ndense 1\n",
        imports=IMPORTS[reader],
        read=READS[reader],
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env)
    out = child.stdout.read()
    if child.wait():
        raise SystemExit(f"{reader} failed on {path}")
    result = json.loads(out)
    return result["seconds"], result["cpu"], result["peak"], result["whole"]


def write_csv(path: Path, rows: int, columns: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scales = 10.0 ** rng.integers(-2, 3, size=columns)
    values = (rng.standard_normal((rows, columns)) * scales).astype(np.float32)
    names = ",".join([f"f{i}" for i in range(columns - 1)] + ["t"])
    np.savetxt(path, values, fmt="%.6g", delimiter=",", header=names, comments="")
    return values


def write_parquet(path: Path, values: np.ndarray) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [f"f{i}" for i in range(values.shape[1] - 1)] + ["t"]
    pq.write_table(pa.table({n: values[:, i] for i, n in enumerate(names)}), path)


def measure(cases: list, columns: int, runs: int) -> dict:
    """reader: (median seconds, median CPU seconds, peak RSS, peak RSS reading the tiny file,
    median seconds of imports and read), in bytes. The readers take turns, run after run, so
    that a change in the machine's load falls on all of them. The tiny file's read is the
    baseline: the interpreter, the libraries and the code pages the reader touches."""
    seen = {reader: [] for reader, _, _ in cases}
    for _ in range(runs):
        for reader, path, _ in cases:
            seen[reader].append(run_child(reader, path, columns - 1))
    results = {}
    for reader, _, tiny in cases:
        times, cpus, peaks, wholes = zip(*seen[reader], strict=True)
        base = run_child(reader, tiny, columns - 1)[2]
        median = statistics.median
        results[reader] = median(times), median(cpus), max(peaks), base, median(wholes)
    return results


def bench(name: str, csv: Path, values: np.ndarray, runs: int, parquet: Path | None) -> None:
    rows, columns = values.shape
    size = csv.stat().st_size
    budget = size + 2 * values.size * 4
    print(f"\n{name}: {size / 1e6:.1f} MB, {rows} rows x {columns} columns")
    print(f"  budget above the tiny file's peak (file + 2 x float32 array): {budget / 1e6:.0f} MB")
    print(
        f"  {'reader':13} {'time':>7}    {'CPU':>5}    {'peak RSS':>8}  {'tiny file':>12}"
        f"  {'difference':>10}  {'imports + read':>14}"
    )
    tiny = csv.with_name("tiny" + csv.suffix)
    tiny.write_bytes(b"".join(csv.read_bytes().splitlines(keepends=True)[:3]))
    readers = ("stackspec", "careful", "pandas", "pyarrow", "floor", "pandas+arrays")
    cases = [(reader, csv, tiny) for reader in readers]
    if parquet is not None:
        tiny_parquet = parquet.with_name("tiny.parquet")
        write_parquet(tiny_parquet, values[:2])
        cases.append(("parquet", parquet, tiny_parquet))
    results = measure(cases, columns, runs)
    for reader, (seconds, cpu, peak, base, whole) in results.items():
        print(
            f"  {reader:13} {seconds:7.2f} s  {cpu:5.2f} s  {peak / 1e6:5.0f} MB"
            f"  {base / 1e6:9.0f} MB  {(peak - base) / 1e6:7.0f} MB  {whole:12.2f} s"
        )
    fast, pandas = results["stackspec"], results["pandas"]
    print(
        f"  fast path / pandas: time {fast[0] / pandas[0]:.2f}x, CPU {fast[1] / pandas[1]:.2f}x,"
        f" peak RSS {fast[2] / pandas[2]:.2f}x, imports + read {fast[4] / pandas[4]:.2f}x"
        f"; fast path above the tiny file / budget: {(fast[2] - fast[3]) / budget:.2f}"
    )
    alone = results["pyarrow"]
    print(
        f"  pyarrow's own read_csv / pandas: time {alone[0] / pandas[0]:.2f}x; its peak above "
        f"the tiny file / budget: {(alone[2] - alone[3]) / budget:.2f}"
    )
    floor, user = results["floor"], results["pandas+arrays"]
    print(
        f"  floor (the fast path's read and parse alone) / pandas: time {floor[0] / pandas[0]:.2f}x"
        f", CPU {floor[1] / pandas[1]:.2f}x; fast path / floor: {fast[0] / floor[0]:.2f}x; "
        f"fast path / pandas+arrays: {fast[0] / user[0]:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        wide = write_csv(folder / "wide.csv", 460_000, 12, seed=0)
        write_parquet(folder / "wide.parquet", wide)
        bench("~50 MB CSV", folder / "wide.csv", wide, args.runs, folder / "wide.parquet")
        del wide
        long = write_csv(folder / "long.csv", 1_000_000, 5, seed=1)
        bench("1 M-row CSV", folder / "long.csv", long, args.runs, None)


if __name__ == "__main__":
    main()
