#!/usr/bin/env python3
"""preflight's speed, measured side by side (standard library and the project only).

    python benchmarks/bench.py [--corpus ../shared/corpus] [--avm ../shared/corpus-avm]
                               [--checkov PATH | --no-checkov] [--runs 3]

In one run, alternating A/B, `--runs` times each, medians and ratios:
  (a) one ARM template: preflight vs checkov (`--framework arm --skip-download`);
  (b) 400 ARM templates from the corpus: preflight vs checkov;
  (c) the whole corpus, and the modern Bicep corpus (Azure Verified Modules: `.bicep` files and
      the `main.json` templates compiled from them): preflight vs a parse-only floor, preflight
      both cold (`--no-cache`: every file checked) and with its result cache warm (a rerun: only
      what changed is checked, here nothing);
and preflight's peak memory on 400 vs all files. Every other preflight run is cold. The floor is
one command that reads every file preflight reads and parses it (JSON with `json`, YAML with
the C loader, Bicep and `.bicepparam` with preflight's own Bicep parser) and does nothing else,
split over the CPUs in batches as preflight's worker pool is. Ratios are of CPU time (user +
system, the process and its workers), which another load on the machine disturbs less than
wall time; both are shown. checkov runs from its own virtualenv: pass its `checkov` executable
with --checkov, or let the script create one (`pip install checkov==3.3.30`) in
~/.cache/preflight-bench; --no-checkov leaves out (a) and (b). Each timing is a whole process,
interpreter start-up included, as a user or CI would see it.
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CHECKOV_VERSION = "3.3.30"
SINGLE = ("azure-quickstart-templates/quickstarts/microsoft.machinelearningservices/"
          "machine-learning-workspace/azuredeploy.json")
EXTENSIONS = (".json", ".jsonc", ".yml", ".yaml", ".bicep", ".bicepparam")

FLOOR = r"""
import json, multiprocessing, os, sys
from yaml import CSafeLoader as Loader
import yaml
from preflight.bicep.syntax import parse as parse_bicep

def parse(path):
    low = path.lower()
    with open(path, "rb") as f:
        text = f.read().decode("utf-8-sig", "replace")
    try:
        if low.endswith((".json", ".jsonc")):
            json.loads(text)
        elif low.endswith((".yml", ".yaml")):
            yaml.load(text, Loader=Loader)
        else:
            parse_bicep(text, low.endswith(".bicepparam"))
        return 1
    except Exception:
        return 0

def batch(paths):
    return sum(parse(p) for p in paths)

if __name__ == "__main__":
    files = []
    for dirpath, dirnames, filenames in os.walk(sys.argv[1]):
        dirnames.sort()
        files += [os.path.join(dirpath, n) for n in sorted(filenames) if n.lower().endswith(EXTENSIONS)]
    batches = [files[i:i + 32] for i in range(0, len(files), 32)]
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        print(sum(pool.imap(batch, batches)))
""".replace("EXTENSIONS", repr(EXTENSIONS))


# Both tools run as installed software runs: with their bytecode cached. (pip writes .pyc files
# for checkov at install time; an editable preflight writes its own on first import, which
# PYTHONDONTWRITEBYTECODE would prevent, making every run recompile every module.)
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(argv: list[str]) -> tuple[float, float, float, int]:
    """Wall time (s), CPU time (s: user + system of the process and the workers it waited for),
    peak RSS (MiB) and exit status of one whole process."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            env=CHILD_ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode


def alternate(label_a: str, argv_a: list[str], label_b: str, argv_b: list[str], runs: int) -> dict:
    """Median wall and CPU times, A and B taking turns so that drift on the machine hits both
    alike. preflight must exit 0 or 1; the other tool's exit status is recorded (checkov crashes
    on some corpus templates: its time is then a lower bound of what a full run would cost)."""
    wall: dict[str, list[float]] = {label_a: [], label_b: []}
    cpu: dict[str, list[float]] = {label_a: [], label_b: []}
    codes: dict[str, set[int]] = {label_a: set(), label_b: set()}
    run(argv_a)  # warm-up: bytecode written, files in the page cache, for both alike
    run(argv_b)
    for _ in range(runs):
        for label, argv in ((label_a, argv_a), (label_b, argv_b)):
            elapsed, used, _, code = run(argv)
            if label == "preflight" and code not in (0, 1) or label == "floor" and code != 0:
                raise SystemExit(f"{label} exited {code}: {' '.join(argv)}")
            wall[label].append(elapsed)
            cpu[label].append(used)
            codes[label].add(code)
    return {label: statistics.median(values) for label, values in wall.items()} | {
        "cpu": {label: statistics.median(values) for label, values in cpu.items()}, "codes": codes}


def crashed(result: dict, label: str) -> str:
    bad = sorted(c for c in result["codes"][label] if c not in (0, 1))
    return f" (exit {bad[0]}: crashed before finishing)" if bad else ""


def ensure_checkov(path: str | None) -> str:
    if path:
        return path
    venv = os.path.join(os.path.expanduser("~"), ".cache", "preflight-bench", "checkov-venv")
    exe = os.path.join(venv, "bin", "checkov")
    if not os.path.exists(exe):
        print(f"installing checkov {CHECKOV_VERSION} into {venv} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", f"checkov=={CHECKOV_VERSION}"], check=True)
    return exe


def arm_templates(corpus: str) -> list[str]:
    with open(os.path.join(corpus, "MANIFEST.tsv"), newline="") as f:
        rows = [r["corpus_path"] for r in csv.DictReader(f, delimiter="\t") if r["kind"] == "arm"]
    return sorted(rows)


def stage(corpus: str, paths: list[str], into: str) -> str:
    """Copy a sample of corpus files to a scratch folder (outside the project) for both tools."""
    for rel in paths:
        dest = os.path.join(into, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(os.path.join(corpus, rel), dest)
    return into


def against_floor(name: str, result: dict, target: float) -> str:
    """One table row: preflight against the parse floor, judged on CPU time."""
    cpu = result["cpu"]
    ratio = cpu["preflight"] / cpu["floor"]
    wall_ratio = result["preflight"] / result["floor"]
    return (f"| {name} | {result['preflight']:.2f} s, CPU {cpu['preflight']:.2f} s | parse floor "
            f"{result['floor']:.2f} s, CPU {cpu['floor']:.2f} s | {ratio:.2f}x the floor (wall {wall_ratio:.2f}x) | "
            f"<= {target:g}x: {'met' if ratio <= target else 'MISSED'} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.join(os.path.dirname(REPO), "shared", "corpus"))
    ap.add_argument("--avm", default=os.path.join(os.path.dirname(REPO), "shared", "corpus-avm"),
                    help="the modern Bicep corpus (default: ../shared/corpus-avm)")
    ap.add_argument("--checkov", help="path of a checkov executable (default: a venv of its own)")
    ap.add_argument("--no-checkov", action="store_true", help="leave out the rows against checkov")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sample", type=int, default=400)
    args = ap.parse_args()
    if not os.path.isfile(os.path.join(args.corpus, "MANIFEST.tsv")):
        raise SystemExit(f"no corpus at {args.corpus}")
    if not os.path.isdir(args.avm):
        raise SystemExit(f"no AVM corpus at {args.avm}")
    checkov = None if args.no_checkov else ensure_checkov(args.checkov)
    preflight = [sys.executable, "-m", "preflight", "scan", "--format", "json", "--fail-on", "never", "--quiet",
                 "--no-cache"]
    templates = arm_templates(args.corpus)
    step = max(1, len(templates) // args.sample)
    sample = templates[::step][: args.sample]
    results = {}
    floor = [sys.executable, "-c", FLOOR]
    with tempfile.TemporaryDirectory(prefix="preflight-bench-") as scratch:
        single = stage(args.corpus, [SINGLE], os.path.join(scratch, "one"))
        single_file = os.path.join(single, SINGLE)
        many = stage(args.corpus, sample, os.path.join(scratch, "many"))
        if checkov:
            checkov_args = ["--framework", "arm", "--skip-download", "--quiet", "--compact"]
            results["one"] = alternate("preflight", preflight + [single_file], "checkov",
                                       [checkov, "-f", single_file, *checkov_args], args.runs)
            results["many"] = alternate("preflight", preflight + [many], "checkov",
                                        [checkov, "-d", many, *checkov_args], args.runs)
        else:
            results["one"] = alternate("preflight", preflight + [single_file], "floor", floor + [single], args.runs)
        for key, corpus in (("corpus", args.corpus), ("avm", args.avm)):
            results[key] = alternate("preflight", preflight + [corpus], "floor", floor + [corpus], args.runs)
            # The warm-up run of `alternate` fills the cache; the timed runs then find every entry.
            cached = preflight[:-1] + ["--cache-dir", os.path.join(scratch, f"cache-{key}"), corpus]
            results[f"{key}-warm"] = alternate("preflight", cached, "floor", floor + [corpus], args.runs)
        mem_many = max(run(preflight + [many])[2] for _ in range(2))
        mem_all = max(run(preflight + [args.corpus])[2] for _ in range(2))
        # The same sample eleven times over: as many files as the corpus, with the same largest
        # file, so the number of files is the only thing that changes.
        copies = os.path.join(scratch, "copies")
        for k in range(11):
            shutil.copytree(many, os.path.join(copies, f"copy{k}"))
        mem_copies = max(run(preflight + [copies])[2] for _ in range(2))

    n_all = sum(1 for _ in _corpus_files(args.corpus))
    n_avm = sum(1 for _ in _corpus_files(args.avm))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}; "
          f"{'checkov ' + CHECKOV_VERSION if checkov else 'checkov not run'}; {args.runs} runs each, medians")
    print("| case | preflight | other | ratio | target |")
    print("|---|---|---|---|---|")
    if checkov:
        ratio_one = results["one"]["checkov"] / results["one"]["preflight"]
        ratio_many = results["many"]["checkov"] / results["many"]["preflight"]
        print(f"| one template | {results['one']['preflight']:.2f} s | checkov {results['one']['checkov']:.2f} s"
              f"{crashed(results['one'], 'checkov')} | {ratio_one:.1f}x faster | "
              f">= 10x: {'met' if ratio_one >= 10 else 'MISSED'} |")
        print(f"| {len(sample)} templates | {results['many']['preflight']:.2f} s | checkov "
              f"{results['many']['checkov']:.2f} s{crashed(results['many'], 'checkov')} | {ratio_many:.1f}x faster | "
              f">= 30x: {'met' if ratio_many >= 30 else 'MISSED'} |")
    else:
        print(f"| one template (pre-commit) | {results['one']['preflight']:.2f} s, CPU "
              f"{results['one']['cpu']['preflight']:.2f} s | parse floor {results['one']['floor']:.2f} s | | |")
    print(against_floor(f"whole corpus ({n_all:,} files), cold", results["corpus"], 3))
    print(against_floor(f"whole corpus ({n_all:,} files), cache warm", results["corpus-warm"], 1.5))
    print(against_floor(f"AVM corpus ({n_avm:,} files), cold", results["avm"], 3))
    print(against_floor(f"AVM corpus ({n_avm:,} files), cache warm", results["avm-warm"], 1.5))
    print(f"| peak memory | {len(sample)} files: {mem_many:.1f} MiB | {n_all:,} files: {mem_all:.1f} MiB | "
          f"{mem_all / mem_many:.2f}x | flat (<= 1.25x): {'met' if mem_all <= 1.25 * mem_many else 'MISSED'} |")
    print(f"| peak memory, same files | {len(sample)} files: {mem_many:.1f} MiB | {11 * len(sample):,} files "
          f"(the sample 11 times): {mem_copies:.1f} MiB | {mem_copies / mem_many:.2f}x | "
          f"flat (<= 1.25x): {'met' if mem_copies <= 1.25 * mem_many else 'MISSED'} |")
    return 0


def _corpus_files(corpus: str):
    for _, _, filenames in os.walk(corpus):
        for name in filenames:
            if name.lower().endswith(EXTENSIONS):
                yield name


if __name__ == "__main__":
    sys.exit(main())
