"""``python -m bench.perpage IMAGE...``: per-page cost of docai vs Tesseract alone.

The same image goes through ``tesseract IMG stdout tsv`` and through the whole pipeline in this
process (``Pipeline().process``), interleaved. Costs are CPU seconds of this process and its
children, so other load on the machine does not bias the ratio; wall time is shown too.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time


def _cpu() -> float:
    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def measure(images: list[str]) -> dict[str, float]:
    """Mean CPU and wall seconds per page for Tesseract alone and for the pipeline."""
    from extractors.pipeline import Pipeline
    from extractors.settings import Settings

    os.environ["OMP_THREAD_LIMIT"] = "1"
    pipe = Pipeline(Settings(workers=1))
    pipe.check()
    pipe.process(images[0])  # warm-up: imports and first-call costs are not per-page costs
    cpu = {"tesseract": 0.0, "docai": 0.0}
    wall = {"tesseract": 0.0, "docai": 0.0}
    for img in images:
        c, w = _cpu(), time.perf_counter()
        subprocess.run(["tesseract", img, "stdout", "tsv"], capture_output=True, check=True)
        cpu["tesseract"] += _cpu() - c
        wall["tesseract"] += time.perf_counter() - w
        c, w = _cpu(), time.perf_counter()
        pipe.process(img)
        cpu["docai"] += _cpu() - c
        wall["docai"] += time.perf_counter() - w
    n = len(images)
    return {"pages": n, "tesseract_cpu": cpu["tesseract"] / n, "docai_cpu": cpu["docai"] / n,
            "cpu_ratio": cpu["docai"] / cpu["tesseract"], "tesseract_wall": wall["tesseract"] / n,
            "docai_wall": wall["docai"] / n, "wall_ratio": wall["docai"] / wall["tesseract"],
            "load": os.getloadavg()[0]}


def main() -> None:
    """Print the per-page comparison for the images given on the command line."""
    if len(sys.argv) < 2:
        sys.exit("usage: python -m bench.perpage IMAGE...")
    r = measure(sys.argv[1:])
    print(f"pages={r['pages']:.0f} CPU: tesseract alone {r['tesseract_cpu']:.3f} s/page, "
          f"docai pipeline {r['docai_cpu']:.3f} s/page, ratio {r['cpu_ratio']:.2f}; "
          f"wall: {r['tesseract_wall']:.3f} vs {r['docai_wall']:.3f} (ratio {r['wall_ratio']:.2f}); "
          f"load {r['load']:.1f}")


if __name__ == "__main__":
    main()
