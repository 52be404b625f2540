"""Does following a tiny CLIP's gradient reach the named colour? Its colour landscape, one flat background at a time.

For a few world prompts, the shape is fixed (drawn exactly, in its named colour) and only the background's
three numbers (sigmoid of logits) are optimised against the prompt's CLIP embedding, from ``--starts``
random starts, Adam at 0.1 for 100 steps. Prints where each start ends (the nearest world colour) and
how many reached the named background. A render's background has far more freedom than this, so a model
that fails here fails guidance; ``pixforge_zoo.colour_cells`` is the training-side answer.

    python bench/colour_landscape.py                                   # the shipped robust tiny CLIP
    python bench/colour_landscape.py --weights /tmp/robust-cells       # a weights folder from a trainer --out
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

CASES = (("circle", "purple", "cyan"), ("square", "red", "white"), ("ring", "red", "black"),
         ("star", "pink", "orange"), ("cross", "green", "blue"), ("triangle", "white", "yellow"))


def main() -> None:
    from pixforge_zoo.colour_cells import nearest
    from pixforge_zoo.tiny_clip import ROBUST_WEIGHTS_DIR, load_tiny_clip
    from pixforge_zoo.world import COLORS, Scene, render_batch_with_alpha

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=ROBUST_WEIGHTS_DIR)
    parser.add_argument("--starts", type=int, default=6)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clip, tokenizer, mean, std, size = load_tiny_clip("cpu", weights_dir=args.weights)
    clip.requires_grad_(False)
    mean, std = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    names = list(COLORS)

    def embed(x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        return F.normalize(clip.encode_image((x - mean) / std), dim=-1)

    reached = 0
    print(f"weights {args.weights}, {args.starts} starts × {len(CASES)} prompts, {args.steps} Adam steps, "
          f"{args.size} px, {args.threads} thread(s)")
    for shape, colour, background in CASES:
        text = F.normalize(clip.encode_text(tokenizer([f"a {colour} {shape} on a {background} background"])), dim=-1)
        _, alpha = render_batch_with_alpha([Scene(shape, colour, background, "large", "centre")], args.size)
        fg = (torch.tensor(COLORS[colour]).float() / 255).view(1, 3, 1, 1)
        ends = []
        for start in range(args.starts):
            logit = torch.randn(3, generator=torch.Generator().manual_seed(start)).requires_grad_(True)
            optimiser = torch.optim.Adam([logit], lr=0.1)
            for _ in range(args.steps):
                image = torch.sigmoid(logit).view(1, 3, 1, 1) * (1 - alpha) + fg * alpha
                loss = -(embed(image) @ text.T).mean()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            ends.append(names[int(nearest(torch.sigmoid(logit).detach()))])
        reached += sum(end == background for end in ends)
        print(f"  a {colour} {shape} on a {background} background: ends at {', '.join(ends)}")
    print(f"reached the named background from {reached} of {args.starts * len(CASES)} starts")


if __name__ == "__main__":
    main()
