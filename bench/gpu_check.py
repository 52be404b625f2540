"""The GPU figures in one short run (under 5 minutes on one GPU): pixforge against the reference loop.

``bench/vs_reference.py`` with GPU settings: the published-size architectures (VQGAN f16-16384 + ViT-B-32,
random weights) at 256 and 512 px with 32 cutouts; rows for the reference (float16 CLIP, as generate.py's
``clip.load`` gives it on a GPU), pixforge in fp32 and pixforge with bf16 autocast for the CLIP and the
decoder. Peak memory is ``torch.cuda.max_memory_allocated`` of each loop's own process. Prints the card,
then the table the README quotes. Extra arguments go to vs_reference.py (``--compile`` adds compiled rows,
which take a minute or two more each to compile).

    python bench/gpu_check.py
    python bench/gpu_check.py --compile --cases vit512-32
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

DEFAULTS = ["--device", "cuda", "--cases", "vit-32,vit512-32", "--precisions", "fp32,amp_bf16", "--threads", "4",
            "--warmup", "3", "--rounds", "3", "--chunk", "5"]


def main() -> None:
    import torch

    if not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA GPU here (torch.cuda.is_available() is False)")
    props = torch.cuda.get_device_properties(0)
    print(f"GPU: {props.name}, {props.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, CUDA {torch.version.cuda}")
    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                         capture_output=True, text=True, check=False)
    if smi.returncode == 0:
        print(f"nvidia-smi: {smi.stdout.strip()}")
    started = time.perf_counter()
    args = DEFAULTS + sys.argv[1:]  # later arguments win
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("vs_reference.py")), *args], check=False)
    print(f"gpu_check: {time.perf_counter() - started:.0f} s")
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
