"""diffusers models built from small configs (random weights, no downloads): one graph, eager's
outputs, and for a few, eager's gradients through a training step.

diffusers is not a test dependency of ``make test`` (not in the lock files): these run where it
is installed, as in ``make test-latest``, which installs the newest release."""

import copy

import pytest
import torch

import bytegraph
from bytegraph.testing import CompileCounter, same

diffusers = pytest.importorskip("diffusers")


def _unet():
    m = diffusers.UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8)
    return m, lambda: dict(sample=torch.randn(2, 4, 8, 8), timestep=torch.tensor(10),
                           encoder_hidden_states=torch.randn(2, 5, 32))


def _vae():
    m = diffusers.AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                                up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(16, 32),
                                latent_channels=4, norm_num_groups=8, sample_size=16)
    return m, lambda: dict(sample=torch.randn(1, 3, 16, 16))


def _dit():
    m = diffusers.DiTTransformer2DModel(num_attention_heads=2, attention_head_dim=8, in_channels=4, num_layers=2,
                                        sample_size=8, patch_size=2, num_embeds_ada_norm=10, norm_num_groups=8)
    return m, lambda: dict(hidden_states=torch.randn(2, 4, 8, 8), timestep=torch.tensor([1, 2]),
                           class_labels=torch.tensor([1, 3]))


def _sd3():
    m = diffusers.SD3Transformer2DModel(sample_size=8, patch_size=2, in_channels=4, num_layers=2, attention_head_dim=8,
                                        num_attention_heads=2, joint_attention_dim=16, caption_projection_dim=16,
                                        pooled_projection_dim=8, out_channels=4, pos_embed_max_size=16)
    return m, lambda: dict(hidden_states=torch.randn(1, 4, 8, 8), encoder_hidden_states=torch.randn(1, 5, 16),
                           pooled_projections=torch.randn(1, 8), timestep=torch.tensor([3]))


def _flux():
    m = diffusers.FluxTransformer2DModel(patch_size=1, in_channels=8, num_layers=1, num_single_layers=1,
                                         attention_head_dim=8, num_attention_heads=2, joint_attention_dim=16,
                                         pooled_projection_dim=8, axes_dims_rope=(2, 2, 4))
    return m, lambda: dict(hidden_states=torch.randn(1, 16, 8), encoder_hidden_states=torch.randn(1, 5, 16),
                           pooled_projections=torch.randn(1, 8), timestep=torch.tensor([0.5]),
                           img_ids=torch.zeros(16, 3), txt_ids=torch.zeros(5, 3), guidance=None)


def _wan():
    m = diffusers.WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=8,
                                        in_channels=4, out_channels=4, text_dim=16, freq_dim=8, ffn_dim=32,
                                        num_layers=2, rope_max_seq_len=32)
    return m, lambda: dict(hidden_states=torch.randn(1, 4, 2, 8, 8), timestep=torch.tensor([5]),
                           encoder_hidden_states=torch.randn(1, 5, 16))


def _controlnet():
    m = diffusers.ControlNetModel(in_channels=4, block_out_channels=(32, 64),
                                  down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), layers_per_block=1,
                                  cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8,
                                  conditioning_embedding_out_channels=(8, 16))
    return m, lambda: dict(sample=torch.randn(1, 4, 8, 8), timestep=torch.tensor(10),
                           encoder_hidden_states=torch.randn(1, 5, 32), controlnet_cond=torch.randn(1, 3, 16, 16))


MODELS = {"unet": _unet, "vae": _vae, "dit": _dit, "sd3": _sd3, "flux": _flux, "wan": _wan, "controlnet": _controlnet}


def _tensors(out):
    return out.to_tuple() if hasattr(out, "to_tuple") else out


@pytest.mark.parametrize("name", sorted(MODELS))
def test_one_graph_matching_eager(name):
    torch.manual_seed(0)
    model, make_inputs = MODELS[name]()
    model.eval()
    counter = CompileCounter()
    compiled = bytegraph.compile(model, backend=counter)
    with torch.no_grad():
        for _ in range(3):
            inputs = make_inputs()
            assert same(_tensors(compiled(**inputs)), _tensors(model(**inputs)), rtol=1e-4, atol=1e-4)
    assert counter.frame_count == 1 and compiled.stats.captures == 1
    assert not compiled.stats.break_reasons and not compiled.stats.eager_reasons, compiled.stats


@pytest.mark.parametrize("name", ["unet", "sd3", "flux"])
def test_training_steps_match_eager(name):
    torch.manual_seed(0)
    model, make_inputs = MODELS[name]()
    model.train()
    twin = copy.deepcopy(model)
    counter = CompileCounter()
    compiled = bytegraph.compile(twin, backend=counter)
    opts = [torch.optim.AdamW(m.parameters(), lr=1e-3) for m in (model, twin)]
    for _ in range(3):
        inputs = make_inputs()
        losses = [_tensors(f(**inputs))[0].pow(2).mean() for f in (model, compiled)]
        for loss, opt in zip(losses, opts):
            loss.backward()
        assert same(losses[0], losses[1], rtol=1e-4, atol=1e-5)
        for p, q in zip(model.parameters(), twin.parameters()):
            assert (p.grad is None) == (q.grad is None)
            assert p.grad is None or same(p.grad, q.grad, rtol=1e-3, atol=1e-4)
        for opt in opts:
            opt.step()
            opt.zero_grad()
    assert counter.frame_count == 1 and not compiled.stats.break_reasons
