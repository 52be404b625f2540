"""The faster code paths compute what the plain ones compute: decoding, the image tower, colour jitter, precision."""

from __future__ import annotations

import copy

import kornia.augmentation as K
import pytest
import torch
from kornia.enhance import adjust_hue

from pixforge.components import BuildContext
from pixforge_clip.perceptor import ClipPerceptor, ClipSettings
from pixforge_clip.speed import PatchEmbedding, prepare_for_guidance, sequence_first_attention
from pixforge_kornia.color_matrix import ColorMatrixJitter, hue_matrices
from pixforge_vqgan import fast_decode
from pixforge_vqgan.model import VQAutoencoder
from pixforge_vqgan.spec import VQSpec

#: a small decoder with every part taming's has: attention, channel changes, upsampling
DD = {"double_z": False, "z_channels": 8, "resolution": 32, "in_channels": 3, "out_ch": 3, "ch": 32,
      "ch_mult": [1, 2], "num_res_blocks": 1, "attn_resolutions": [16], "dropout": 0.0}


@pytest.mark.parametrize("channels_last", [True, False])
def test_fast_decode_matches_taming_forward_and_backward(channels_last: bool) -> None:
    torch.manual_seed(0)
    vq = VQAutoencoder(VQSpec(kind="vq", ddconfig=dict(DD), n_embed=32, embed_dim=4)).eval().requires_grad_(False)
    z = torch.randn(2, 4, 16, 16)
    z_ref, z_fast = z.clone().requires_grad_(True), z.clone().requires_grad_(True)
    ref = vq.decoder(vq.post_quant_conv(z_ref))
    fast = fast_decode.decode(vq.post_quant_conv, vq.decoder, z_fast, channels_last)
    assert fast.is_contiguous() and fast.shape == ref.shape
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)
    weights = torch.randn_like(ref)
    (ref * weights).sum().backward()
    (fast * weights).sum().backward()
    torch.testing.assert_close(z_fast.grad, z_ref.grad, atol=1e-5, rtol=1e-4)


def test_fast_encode_matches_taming_forward_and_backward() -> None:
    torch.manual_seed(0)
    vq = VQAutoencoder(VQSpec(kind="vq", ddconfig=dict(DD), n_embed=32, embed_dim=4)).eval().requires_grad_(False)
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    x_ref, x_fast = images.clone().requires_grad_(True), images.clone().requires_grad_(True)
    ref = vq.quant_conv(vq.encoder(x_ref))
    fast = fast_decode.encode(vq.encoder, vq.quant_conv, x_fast)
    assert fast.shape == ref.shape == (2, 4, 16, 16)
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)
    weights = torch.randn_like(ref)
    (ref * weights).sum().backward()
    (fast * weights).sum().backward()
    torch.testing.assert_close(x_fast.grad, x_ref.grad, atol=1e-5, rtol=1e-4)


def tiny_vit() -> ClipPerceptor:
    context = BuildContext(width=32, height=32, device=torch.device("cpu"))
    return ClipPerceptor(ClipSettings(model="pixforge-tiny-random"), context)


def test_sequence_first_attention_gives_the_same_numbers_and_restores_the_layout() -> None:
    perceptor = tiny_vit()
    model = perceptor.model
    assert model.visual.transformer.batch_first is True
    size = perceptor.input_size
    images = torch.rand(3, 3, size, size)
    outputs = []
    for enabled in (False, True):
        x = images.clone().requires_grad_(True)
        with sequence_first_attention(model, enabled):
            if enabled:
                assert model.visual.transformer.batch_first is False
            embedding = model.encode_image(x)
        embedding.square().sum().backward()
        outputs.append((embedding.detach(), x.grad))
    assert model.visual.transformer.batch_first is True
    assert all(block.attn.batch_first for block in model.visual.transformer.resblocks)
    torch.testing.assert_close(outputs[1][0], outputs[0][0], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(outputs[1][1], outputs[0][1], atol=1e-6, rtol=1e-5)


def embed_and_grad(model: torch.nn.Module, images: torch.Tensor, channels_last: bool = False):
    x = images.clone().requires_grad_(True)
    inputs = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    embedding = model.encode_image(inputs)
    embedding.square().sum().backward()
    return embedding.detach(), x.grad


def test_folded_batch_norms_and_channels_last_resnet_compute_the_same() -> None:
    from pixforge_zoo import load_shipped_tiny_clip

    model, _, _, _, size = load_shipped_tiny_clip("cpu")
    fast = prepare_for_guidance(copy.deepcopy(model))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.visual.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.visual.modules())
    images = torch.rand(4, 3, size, size)
    expected, expected_grad = embed_and_grad(model, images)
    got, grad = embed_and_grad(fast, images, channels_last=True)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    scale = float(expected_grad.abs().max())
    torch.testing.assert_close(grad, expected_grad, atol=1e-3 * scale, rtol=1e-3)


def test_patch_embedding_matmul_is_the_patch_convolution() -> None:
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 16, kernel_size=8, stride=8, bias=True)
    patch = PatchEmbedding(conv)
    assert patch.weight is conv.weight and patch.bias is conv.bias
    for shape in ((2, 3, 32, 32), (1, 3, 36, 36)):  # 36: not a multiple, falls back to the convolution
        images = torch.rand(*shape)
        x1, x2 = images.clone().requires_grad_(True), images.clone().requires_grad_(True)
        expected, got = conv(x1), patch(x2)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
        expected.square().sum().backward()
        got.square().sum().backward()
        torch.testing.assert_close(x2.grad, x1.grad, atol=1e-5, rtol=1e-5)


def test_autocast_precision_keeps_fp32_weights_and_returns_unit_fp32_embeddings() -> None:
    context = BuildContext(width=32, height=32, device=torch.device("cpu"))
    perceptor = ClipPerceptor(ClipSettings(model="pixforge-tiny-random", precision="amp_bf16"), context)
    assert next(perceptor.model.parameters()).dtype == torch.float32
    x = torch.rand(2, 3, perceptor.input_size, perceptor.input_size, requires_grad=True)
    embedding = perceptor.encode_image(x)
    assert embedding.dtype == torch.float32
    torch.testing.assert_close(embedding.norm(dim=-1), torch.ones(2))
    embedding.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    plain = tiny_vit().encode_image(x.detach())
    assert (embedding.detach() - plain).abs().max() < 0.05  # bf16 products: close, not equal


def test_matrix_jitter_without_hue_is_kornias_colour_jitter() -> None:
    torch.manual_seed(0)
    images = torch.rand(8, 3, 16, 16) * 0.6 + 0.2  # inside 0..1 after every step, so kornia never clamps between
    kornia_jitter = K.ColorJitter(0.2, 0.2, 0.2, 0.0, p=1.0)
    expected = kornia_jitter(images)
    ours = ColorMatrixJitter(0.2, 0.2, 0.2, 0.0, p=1.0)(images, params=kornia_jitter._params)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)


def test_hue_rotation_keeps_greys_and_turns_as_kornias_does() -> None:
    grey = torch.full((3,), 0.4)
    turn = hue_matrices(torch.tensor([0.1, -0.1, 0.25]))
    for matrix in turn:
        torch.testing.assert_close(matrix @ grey, grey)
    red = torch.tensor([0.8, 0.2, 0.2])
    kornia_turned = adjust_hue(red.view(1, 3, 1, 1), torch.tensor([0.1 * 2 * torch.pi])).flatten()
    ours = turn[0] @ red
    assert ours[1] > red[1] and kornia_turned[1] > red[1]  # red turns towards yellow in both
    torch.testing.assert_close(ours.mean(), red.mean())


def test_matrix_jitter_p_gates_each_cutout_and_is_cheap_to_differentiate() -> None:
    torch.manual_seed(1)
    images = torch.rand(64, 3, 8, 8, requires_grad=True)
    out = ColorMatrixJitter(0.1, 0.1, 0.1, 0.1, p=0.5)(images)
    changed = (out - images).flatten(1).abs().amax(1) > 1e-6
    assert 10 < int(changed.sum()) < 54
    out.sum().backward()
    assert torch.isfinite(images.grad).all()


def test_bf16_autocast_renders_are_reproducible_on_the_cpu(tmp_path) -> None:
    from pixforge import Pipeline

    overrides = ["cutouts.count=4", "perceptors.0.settings.precision=amp_bf16", "generator.settings.precision=amp_bf16"]
    pipe = Pipeline()
    first = pipe.render("a red circle", out=tmp_path / "a", seed=2, steps=3, size=32, overrides=overrides)
    again = pipe.render("a red circle", out=tmp_path / "b", seed=2, steps=3, size=32, overrides=overrides)
    plain = pipe.render("a red circle", out=tmp_path / "c", seed=2, steps=3, size=32, overrides=["cutouts.count=4"])
    assert first.final_path.read_bytes() == again.final_path.read_bytes()
    assert first.settings["generator"]["settings"]["precision"] == "amp_bf16"
    assert first.final_path.read_bytes() != plain.final_path.read_bytes()


def test_channels_last_decoding_is_chosen_by_decoder_width() -> None:
    from pixforge_vqgan.generator import VQGANGenerator, VQGANSettings

    context = BuildContext(width=32, height=32, device=torch.device("cpu"))
    assert VQGANGenerator(VQGANSettings(), context).channels_last is False  # the tiny model: 32 channels
    forced = VQGANGenerator(VQGANSettings(channels_last=True), context)
    assert forced.channels_last is True and forced().shape == (1, 3, 32, 32)


def test_class_token_last_block_computes_the_full_towers_embedding_and_gradient() -> None:
    import open_clip

    from pixforge_clip.speed import ClassTokenBlock

    torch.manual_seed(0)
    vision = {"image_size": 32, "layers": 3, "width": 64, "patch_size": 8, "head_width": 16}
    model = open_clip.CLIP(embed_dim=32, vision_cfg=vision, text_cfg={"layers": 1, "width": 32, "heads": 2}).eval()
    model.requires_grad_(False)
    fast = prepare_for_guidance(copy.deepcopy(model))
    last = fast.visual.transformer.resblocks[-1]
    assert isinstance(last, ClassTokenBlock) and fast.state_dict().keys() == model.state_dict().keys()
    assert all(type(block.attn).__name__ == "UnpackedAttention" for block in fast.visual.transformer.resblocks)
    images = torch.rand(3, 3, 32, 32)
    expected, expected_grad = embed_and_grad(model, images)
    for enabled in (False, True):  # batch-first and sequence-first
        with sequence_first_attention(fast, enabled):
            got, grad = embed_and_grad(fast, images)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(grad, expected_grad, atol=1e-5, rtol=1e-4)
    tokens = copy.deepcopy(model)
    tokens.visual.output_tokens = True  # the other tokens are read: the block is left whole
    assert type(prepare_for_guidance(tokens).visual.transformer.resblocks[-1]) is not ClassTokenBlock


def test_quick_gelu_towers_run_silu_with_the_slope_in_the_weights() -> None:
    import open_clip
    from open_clip.transformer import QuickGELU

    torch.manual_seed(0)
    vision = {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 16}
    model = open_clip.CLIP(embed_dim=32, vision_cfg=vision, text_cfg={"layers": 1, "width": 32, "heads": 2},
                           quick_gelu=True).eval()
    model.requires_grad_(False)
    assert any(type(m) is QuickGELU for m in model.visual.modules())
    fast = prepare_for_guidance(copy.deepcopy(model))
    assert not any(type(m) is QuickGELU for m in fast.visual.modules())
    assert all(isinstance(block.mlp.gelu, torch.nn.SiLU) for block in fast.visual.transformer.resblocks)
    assert any(type(m) is QuickGELU for m in fast.transformer.modules())  # the text tower is left as it was
    assert fast.state_dict().keys() == model.state_dict().keys()
    images = torch.rand(3, 3, 32, 32)
    expected, expected_grad = embed_and_grad(model, images)
    with sequence_first_attention(fast):
        got, grad = embed_and_grad(fast, images)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(grad, expected_grad, atol=1e-5, rtol=1e-4)


def test_channels_last_decoder_weights_give_the_same_bytes_without_per_call_copies() -> None:
    from pixforge_vqgan.generator import decoder_in_layout

    torch.manual_seed(0)
    vq = VQAutoencoder(VQSpec(kind="vq", ddconfig=dict(DD), n_embed=32, embed_dim=4)).eval().requires_grad_(False)
    z = torch.randn(1, 4, 8, 8)

    def decode_and_grad() -> tuple[torch.Tensor, torch.Tensor]:
        latent = z.clone().requires_grad_(True)
        image = fast_decode.decode(vq.post_quant_conv, vq.decoder, latent, channels_last=True)
        (image * torch.linspace(-1, 1, image.numel()).view_as(image)).sum().backward()
        return image, latent.grad

    before = decode_and_grad()
    decoder_in_layout(vq, channels_last=True)
    assert vq.decoder.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert not vq.decoder.conv_in.weight.is_contiguous()
    after = decode_and_grad()
    assert torch.equal(before[0], after[0]) and torch.equal(before[1], after[1])
    decoder_in_layout(vq, channels_last=False)
    assert all(p.is_contiguous() for p in vq.decoder.parameters())


def test_unpacked_attention_matches_torchs_for_self_and_class_token_queries() -> None:
    from pixforge_clip.speed import UnpackedAttention

    torch.manual_seed(0)
    reference = torch.nn.MultiheadAttention(32, 4, batch_first=False).eval().requires_grad_(False)
    fast = copy.deepcopy(reference)
    fast.__class__ = UnpackedAttention
    tokens = torch.randn(7, 3, 32)
    for rows in (7, 1):  # every token, then the class token's row alone
        grads = []
        for attention in (reference, fast):
            x = tokens.clone().requires_grad_(True)
            query = x if rows == 7 else x[:1]
            out = attention(query, x, x, need_weights=False)[0]
            assert out.shape == (rows, 3, 32)
            (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
            grads.append((out.detach(), x.grad))
        torch.testing.assert_close(grads[1][0], grads[0][0], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(grads[1][1], grads[0][1], atol=1e-6, rtol=1e-5)
    _, weights = fast(tokens, tokens, tokens)  # asked for weights: torch's own forward
    assert weights is not None and weights.shape == (3, 7, 7)
    fast.batch_first = True  # batch-first: torch's own path too
    torch.testing.assert_close(fast(tokens, tokens, tokens, need_weights=False)[0],
                               reference.__class__.forward(fast, tokens, tokens, tokens, need_weights=False)[0])


def test_fused_attention_on_strided_or_bfloat16_inputs_is_the_float32_kernels_result() -> None:
    """Strided views are copied contiguous (the same bits as torch on them); bfloat16 ones under autocast
    attend in float32, not in autocast's bfloat16 kernel, and come back as bfloat16."""
    from pixforge.numerics import fused_attention

    torch.manual_seed(0)
    packed = torch.randn(50, 4, 3 * 64, requires_grad=True)
    q, k, v = packed.view(50, 4, 3, 2, 32).permute(2, 1, 3, 0, 4).unbind(0)
    assert not q.is_contiguous()
    ours = fused_attention(q, k, v)
    theirs = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    assert torch.equal(ours, theirs)
    (ours_grad,) = torch.autograd.grad(ours.square().sum(), packed)
    (their_grad,) = torch.autograd.grad(theirs.square().sum(), packed)
    assert torch.equal(ours_grad, their_grad)

    low = [x.detach().bfloat16().requires_grad_() for x in (q, k, v)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        attended = fused_attention(*low)
    assert attended.dtype == torch.bfloat16
    expected = torch.nn.functional.scaled_dot_product_attention(*(x.detach().float() for x in low)).bfloat16()
    assert torch.equal(attended.detach(), expected)
    attended.float().sum().backward()
    assert all(x.grad is not None and x.grad.dtype == torch.bfloat16 for x in low)
