"""Running an open_clip image tower faster when gradients flow back to its input; the same function.

Guidance runs the frozen image tower forward and backward (to the pixels) every step, which is most of
a step's time. Seven rewrites, each measured on the CPU (1 or 2 threads), change only float rounding (about 1e-6):

- **Batch norms folded into their convolutions** (ResNet towers): a frozen network in eval mode applies
  each BatchNorm as a fixed per-channel scale and shift, which the convolution before it can absorb.
- **Channels-last input** (ResNet towers): oneDNN's faster convolution kernels. With the folding, the
  shipped tiny CLIP's forward + backward for 32 cutouts goes from 55 to 32 ms.
- **Patch embedding as one matrix product** (ViTs): a stride-32 32×32 convolution is a reshape and a
  matmul; torch's backward of that convolution is ~5× slower than the matmul's (ViT-B-32, 32 cutouts:
  0.53 s → 0.11 s).
- **Sequence-first attention while gradients flow** (ViTs): open_clip keeps its transformer batch-first,
  so ``nn.MultiheadAttention`` projects non-contiguous sequence-first views, which autograd computes as a
  batched matmul against a broadcast weight, about twice as slow as one product. Running sequence-first
  (open_clip's own ``batch_first=False`` path) makes ViT-B-32's forward + backward ~10 % faster. Without
  autograd (search, classify) batch-first keeps torch's fused inference path, so this switch is scoped.
- **The last block for the class token alone** (ViTs that pool their class token): nothing after the last
  transformer block reads the other tokens, so that block attends from the class token only and runs its
  output projection and MLP on that one row (every token's keys and values are still computed): about
  10/12 of one block's products, ~7 % of ViT-B-32's.
- **QuickGELU as SiLU** (OpenAI's ViTs): ``x * sigmoid(1.702 x)`` is ``silu(1.702 x) / 1.702``, so the
  1.702 goes into the weights of the linear layer before it and 1/1.702 into the one after, and the MLP
  runs torch's fused SiLU forward and backward instead of three elementwise passes each way.
- **Sequence-first attention without the packed split** (ViTs, while gradients flow): torch's
  ``MultiheadAttention`` splits its packed q/k/v projection by indexing a copied ``[3, L, N, E]`` tensor, whose
  backward zero-fills and adds three such tensors; unbinding a view of the projection instead is the same
  numbers (bit for bit on the CPU here) and ~15 % faster per block for ViT-B-32's 16 cutouts.

ResNet towers' 1x1 convolutions also run as matrix products, so a render's bytes do not move with the
thread count (``pixforge.numerics``). All but the attention switch are applied once when a model is
loaded (:func:`prepare_for_guidance`), to the model the Pipeline caches (searching and classifying run
faster too). The patch matmul keeps its parameters' names;
folding turns each BatchNorm's entries into its convolution's bias.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from open_clip.transformer import QuickGELU, ResidualAttentionBlock, VisionTransformer
from torch import nn

from pixforge.numerics import fused_attention, is_pointwise_conv, pointwise


def _fold(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> None:
    """Make ``conv`` compute ``norm(conv(x))`` (eval mode), in place."""
    scale = norm.weight.detach() / torch.sqrt(norm.running_var + norm.eps)
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(norm.running_mean)
    conv.weight = nn.Parameter(conv.weight.detach() * scale.view(-1, 1, 1, 1), requires_grad=False)
    conv.bias = nn.Parameter((bias - norm.running_mean) * scale + norm.bias.detach(), requires_grad=False)


def fold_batch_norms(visual: nn.Module) -> int:
    """Fold open_clip ModifiedResNet's ``bnN`` into ``convN`` (and each downsample's "1" into "0"); how many."""
    folded = 0
    for module in visual.modules():
        for i in (1, 2, 3):
            conv, norm = getattr(module, f"conv{i}", None), getattr(module, f"bn{i}", None)
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d) and norm.track_running_stats:
                _fold(conv, norm)
                setattr(module, f"bn{i}", nn.Identity())
                folded += 1
        down = getattr(module, "downsample", None)
        if isinstance(down, nn.Sequential):
            conv, norm = down._modules.get("0"), down._modules.get("1")
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d) and norm.track_running_stats:
                _fold(conv, norm)
                down._modules["1"] = nn.Identity()
                folded += 1
    return folded


class PatchEmbedding(nn.Module):
    """A non-overlapping patch convolution (kernel = stride, no padding) as a reshape and one matmul.

    Keeps the convolution's ``weight`` (and ``bias``) parameters under the same names.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.weight = conv.weight
        self.bias = conv.bias
        self.patch = int(conv.kernel_size[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        p = self.patch
        if height % p or width % p:
            return F.conv2d(x, self.weight, self.bias, stride=p)
        rows, cols = height // p, width // p
        patches = x.reshape(batch, channels, rows, p, cols, p).permute(0, 2, 4, 1, 3, 5)
        patches = patches.reshape(batch, rows * cols, channels * p * p)
        out = F.linear(patches, self.weight.reshape(self.weight.shape[0], -1), self.bias)
        return out.reshape(batch, rows, cols, -1).permute(0, 3, 1, 2)


#: feature maps of at most this many positions go through the matrix product (see ``PointwiseConv``)
SMALL_MAP = 16


class PointwiseConv(nn.Module):
    """A 1x1, stride-1 convolution; on small feature maps as a matrix product (``pixforge.numerics.pointwise``).

    oneDNN's 1x1 backward on the tower's last, 2x2 stage sums in an order set by the thread count (found
    with 8 cutouts), MKL's product in strict mode does not; on the large early maps oneDNN is stable in every
    preset traced and ~4 ms faster a step for 16 cutouts, so it keeps them. Keeps the convolution's
    ``weight`` (and ``bias``) parameters under the same names."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.weight = conv.weight
        self.bias = conv.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] * x.shape[-1] <= SMALL_MAP:
            return pointwise(x, self.weight, self.bias)
        return F.conv2d(x, self.weight, self.bias)


def pointwise_convs_as_products(tower: nn.Module) -> int:
    """Replace every 1x1 convolution inside ``tower`` by a ``PointwiseConv``; returns how many (in place)."""
    replaced = 0
    for parent in list(tower.modules()):
        for name, child in list(parent.named_children()):
            if is_pointwise_conv(child):
                setattr(parent, name, PointwiseConv(child))
                replaced += 1
    return replaced


def _is_patch_conv(conv: object) -> bool:
    return (
        isinstance(conv, nn.Conv2d)
        and conv.kernel_size == conv.stride
        and conv.kernel_size[0] == conv.kernel_size[1]
        and conv.padding in ((0, 0), "valid")
        and conv.dilation == (1, 1)
        and conv.groups == 1
    )


def is_conv_tower(model: nn.Module) -> bool:
    """Whether the image tower is a convolutional network (takes channels-last input best)."""
    return type(getattr(model, "visual", None)).__name__ == "ModifiedResNet"


def prepare_for_guidance(model: nn.Module) -> nn.Module:
    """Fold batch norms and run 1x1 convolutions as products (ResNet towers), and turn the patch convolution
    into a matmul (ViTs); in place."""
    visual = getattr(model, "visual", None)
    if visual is None:
        return model
    if is_conv_tower(model):
        fold_batch_norms(visual)
        pointwise_convs_as_products(visual)  # after folding, which changes their weights and biases
    if _is_patch_conv(getattr(visual, "conv1", None)) and hasattr(visual, "transformer"):
        visual.conv1 = PatchEmbedding(visual.conv1)
    if _pools_class_token(visual):
        visual.transformer.resblocks[-1].__class__ = ClassTokenBlock  # same parameters and names
    for module in _attention_stacks(model)[1:]:
        if type(module) is nn.MultiheadAttention:
            module.__class__ = UnpackedAttention  # same parameters and names
    quick_gelus_as_silu(visual)
    return model


#: QuickGELU's slope: ``x * sigmoid(QUICK_GELU_SLOPE * x)``
QUICK_GELU_SLOPE = 1.702


def quick_gelus_as_silu(tower: nn.Module) -> int:
    """Rewrite every ``c_fc → QuickGELU → c_proj`` MLP in ``tower`` as ``c_fc' → SiLU → c_proj'`` with the
    slope folded into the weights (the same function up to rounding); how many, in place."""
    rewritten = 0
    for module in tower.modules():
        fc, act, proj = (getattr(module, name, None) for name in ("c_fc", "gelu", "c_proj"))
        if isinstance(fc, nn.Linear) and type(act) is QuickGELU and isinstance(proj, nn.Linear):
            with torch.no_grad():
                fc.weight.mul_(QUICK_GELU_SLOPE)
                if fc.bias is not None:
                    fc.bias.mul_(QUICK_GELU_SLOPE)
                proj.weight.div_(QUICK_GELU_SLOPE)
            module.gelu = nn.SiLU()
            rewritten += 1
    return rewritten


def _pools_class_token(visual: nn.Module) -> bool:
    """Whether ``visual`` is open_clip's ViT that reads only its class token after the last block."""
    if not isinstance(visual, VisionTransformer) or type(visual).forward is not VisionTransformer.forward:
        return False
    blocks = getattr(visual.transformer, "resblocks", None)
    return (
        visual.attn_pool is None and visual.pool_type == "tok" and not visual.output_tokens
        and blocks is not None and len(blocks) > 0 and type(blocks[-1]) is ResidualAttentionBlock
        and not hasattr(blocks[-1], "ln_1_kv") and isinstance(blocks[-1].attn, nn.MultiheadAttention)
    )


class ClassTokenBlock(ResidualAttentionBlock):
    """A tower's last block computing the class token's row only: queries, output projection and MLP for
    that row, keys and values for every token. Its output is one token long, which ``ln_post`` and the
    class-token pooling read as before."""

    def forward(self, q_x: torch.Tensor, k_x: torch.Tensor | None = None, v_x: torch.Tensor | None = None,
                attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        if k_x is not None or v_x is not None or attn_mask is not None:
            return super().forward(q_x, k_x, v_x, attn_mask)
        first = q_x[:, :1] if self.attn.batch_first else q_x[:1]
        normed = self.ln_1(q_x)
        query = normed[:, :1] if self.attn.batch_first else normed[:1]
        x = first + self.ls_1(self.attn(query, normed, normed, need_weights=False)[0])
        return x + self.ls_2(self.mlp(self.ln_2(x)))


class UnpackedAttention(nn.MultiheadAttention):
    """``nn.MultiheadAttention`` that, sequence-first and in the plain case (self- or cross-attention whose
    keys are its values, no masks, no weights returned, no dropout), projects q/k/v and splits them as views
    of one product; anything else is torch's own forward."""

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,  # type: ignore[override]
                key_padding_mask: torch.Tensor | None = None, need_weights: bool = True,
                attn_mask: torch.Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        plain = (
            not self.batch_first and key is value and query.dim() == 3 and not need_weights
            and key_padding_mask is None and attn_mask is None and not is_causal
            and self._qkv_same_embed_dim and self.bias_k is None and not self.add_zero_attn
            and (self.dropout == 0.0 or not self.training)
        )
        if not plain:
            return super().forward(query, key, value, key_padding_mask, need_weights, attn_mask,
                                   average_attn_weights, is_causal)
        return self._unpacked(query, key), None

    def _unpacked(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        """``[L_q, N, E]`` queries over ``[L, N, E]`` keys (= values) → ``[L_q, N, E]``."""
        rows, batch, width = query.shape
        heads, head_width = self.num_heads, width // self.num_heads

        def split(projected: torch.Tensor, parts: int) -> tuple[torch.Tensor, ...]:
            length = projected.shape[0]  # [L, N, parts*E] → parts × [N, heads, L, head_width]
            return projected.view(length, batch, parts, heads, head_width).permute(2, 1, 3, 0, 4).unbind(0)

        weight, bias = self.in_proj_weight, self.in_proj_bias
        if query is key:
            q, k, v = split(F.linear(query, weight, bias), 3)
        else:
            (q,) = split(F.linear(query, weight[:width], None if bias is None else bias[:width]), 1)
            k, v = split(F.linear(key, weight[width:], None if bias is None else bias[width:]), 2)
        out = fused_attention(q, k, v)  # [N, heads, L_q, head_width]; bf16 on the CPU attends in fp32
        out = out.permute(2, 0, 1, 3).reshape(rows * batch, width)
        return F.linear(out, self.out_proj.weight, self.out_proj.bias).view(rows, batch, width)


def _attention_stacks(model: nn.Module) -> list[nn.Module]:
    """The image tower's batch-first transformer, if it is open_clip's plain one (MultiheadAttention blocks)."""
    transformer = getattr(getattr(model, "visual", None), "transformer", None)
    blocks = getattr(transformer, "resblocks", None)
    if transformer is None or blocks is None or getattr(transformer, "batch_first", False) is not True:
        return []
    if not all(isinstance(getattr(block, "attn", None), nn.MultiheadAttention) for block in blocks):
        return []
    return [transformer, *(block.attn for block in blocks)]


@contextmanager
def sequence_first_attention(model: nn.Module, enabled: bool = True) -> Iterator[None]:
    """Within the block, the image tower runs sequence-first; its layout is restored afterwards."""
    modules = _attention_stacks(model) if enabled else []
    for module in modules:
        module.batch_first = False
    try:
        yield
    finally:
        for module in modules:
            module.batch_first = True
