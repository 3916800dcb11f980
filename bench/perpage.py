"""``python -m bench.perpage IMAGE...`` — per-page cost: tesseract alone vs docai's whole pipeline on the same image (CPU seconds of this
process + its children, so other load on the machine does not bias it; wall shown too)."""
import os, resource, subprocess, sys, time
from extractors.pipeline import Pipeline
from extractors.settings import Settings
os.environ["OMP_THREAD_LIMIT"] = "1"
def cpu():
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime
imgs = sys.argv[1:]
pipe = Pipeline(Settings(workers=1)); pipe.check(); pipe.process(imgs[0])
tt = tp = wt = wp = 0.0
for img in imgs:
    c, w = cpu(), time.perf_counter(); subprocess.run(["tesseract", img, "stdout", "tsv"], capture_output=True, check=True); tt += cpu() - c; wt += time.perf_counter() - w
    c, w = cpu(), time.perf_counter(); pipe.process(img); tp += cpu() - c; wp += time.perf_counter() - w
n = len(imgs)
print(f"pages={n} CPU: tesseract alone {tt/n:.3f} s/page, docai pipeline {tp/n:.3f} s/page, ratio {tp/tt:.2f}; wall: {wt/n:.3f} vs {wp/n:.3f} (ratio {wp/wt:.2f}); load {os.getloadavg()[0]:.1f}")
