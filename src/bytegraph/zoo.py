"""Small HuggingFace transformers models built from configs with random weights (no downloads),
for the model tests and ``benchmarks/models.py``.

``ZOO`` maps a model type to how to build it and its inputs; ``build(name)`` returns
``(model, make_inputs)`` where ``make_inputs(seq_len)`` gives keyword inputs; ``TRAINING``
lists the models built with a loss head (``build(name, head)``).
Requires the ``transformers`` package (the ``test`` extra).
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Callable

import torch

_H = dict(hidden_size=64, num_attention_heads=4, intermediate_size=128, vocab_size=128,
          max_position_embeddings=64, num_hidden_layers=2)
_NO_DROPOUT = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


@dataclasses.dataclass(frozen=True)
class ZooModel:
    family: str                       # decoder, encoder, encoder-decoder, vision, audio
    config: dict[str, Any]
    inputs: str = "tokens"            # tokens, seq2seq, pixels, audio


ZOO: dict[str, ZooModel] = {
    "gpt2": ZooModel("decoder", dict(n_layer=2, n_embd=64, n_head=4, vocab_size=128, n_positions=64,
                                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)),
    "llama": ZooModel("decoder", dict(**_H, num_key_value_heads=2)),
    "mistral": ZooModel("decoder", dict(**_H, num_key_value_heads=2)),
    "qwen2": ZooModel("decoder", dict(**_H, num_key_value_heads=2)),
    "phi": ZooModel("decoder", dict(**_H)),
    "gpt_neox": ZooModel("decoder", dict(**_H)),
    "opt": ZooModel("decoder", dict(hidden_size=64, num_attention_heads=4, ffn_dim=128, vocab_size=128,
                                    max_position_embeddings=64, num_hidden_layers=2, word_embed_proj_dim=64)),
    "bloom": ZooModel("decoder", dict(hidden_size=64, n_head=4, n_layer=2, vocab_size=128)),
    "falcon": ZooModel("decoder", dict(hidden_size=64, num_attention_heads=4, num_hidden_layers=2, vocab_size=128)),
    "gemma": ZooModel("decoder", dict(**_H, num_key_value_heads=2, head_dim=16)),
    "gemma2": ZooModel("decoder", dict(**_H, num_key_value_heads=2, head_dim=16, sliding_window=8)),
    "mixtral": ZooModel("decoder", dict(**_H, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2)),
    "qwen3": ZooModel("decoder", dict(**_H, num_key_value_heads=2, head_dim=16)),
    "qwen3_moe": ZooModel("decoder", dict(**_H, num_key_value_heads=2, head_dim=16, num_experts=4,
                                          num_experts_per_tok=2, moe_intermediate_size=32)),
    "starcoder2": ZooModel("decoder", dict(**_H, num_key_value_heads=2)),
    "bert": ZooModel("encoder", dict(**_H, **_NO_DROPOUT)),
    "roberta": ZooModel("encoder", dict(**{**_H, "max_position_embeddings": 70}, **_NO_DROPOUT)),
    "distilbert": ZooModel("encoder", dict(dim=64, n_heads=4, hidden_dim=128, n_layers=2, vocab_size=128,
                                           max_position_embeddings=64)),
    "albert": ZooModel("encoder", dict(**_H, embedding_size=32)),
    # DeBERTa-v3's layout: relative attention, and a conv layer whose activation is made in forward (ACT2FN[...])
    "deberta-v2": ZooModel("encoder", dict(**_H, **_NO_DROPOUT, relative_attention=True, pos_att_type="p2c|c2p",
                                           position_buckets=32, norm_rel_ebd="layer_norm", share_att_key=True,
                                           conv_kernel_size=3, conv_act="gelu")),
    "t5": ZooModel("encoder-decoder", dict(d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4,
                                           vocab_size=128), "seq2seq"),
    "bart": ZooModel("encoder-decoder", dict(d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                                             decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128,
                                             vocab_size=128, max_position_embeddings=64), "seq2seq"),
    "vit": ZooModel("vision", dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                                   image_size=32, patch_size=8), "pixels"),
    "convnext": ZooModel("vision", dict(hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], image_size=32), "pixels"),
    "swin": ZooModel("vision", dict(embed_dim=16, depths=[1, 1], num_heads=[2, 2], image_size=32, patch_size=4,
                                    window_size=4), "pixels"),
    "resnet": ZooModel("vision", dict(hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], embedding_size=16), "pixels"),
    "wav2vec2": ZooModel("audio", dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                                       conv_dim=(32, 32), conv_stride=(5, 2), conv_kernel=(10, 3),
                                       num_feat_extract_layers=2), "audio"),
}

# Models built with a loss head for training (``build(name, head)``): every decoder family
# above that takes labels, and the masked-LM encoders.
TRAINING: list[tuple[str, str]] = [
    *[(name, "causal-lm") for name in ("gpt2", "llama", "mistral", "mixtral", "qwen2", "qwen3", "qwen3_moe", "gemma",
                                       "gemma2", "phi", "starcoder2")],
    ("bert", "masked-lm"), ("deberta-v2", "masked-lm"),
]


def _inputs(kind: str) -> Callable[[int, int], dict[str, torch.Tensor]]:
    def make(seq_len: int = 16, batch: int = 2) -> dict[str, torch.Tensor]:
        if kind == "pixels":
            return {"pixel_values": torch.randn(batch, 3, 32, 32)}
        if kind == "audio":
            return {"input_values": torch.randn(batch, 25 * seq_len)}
        ids = torch.randint(0, 128, (batch, seq_len))
        if kind == "seq2seq":
            return {"input_ids": ids, "decoder_input_ids": torch.randint(0, 128, (batch, seq_len))}
        return {"input_ids": ids}
    return make


def build(name: str, head: str | None = None) -> tuple[torch.nn.Module, Callable[..., dict[str, torch.Tensor]]]:
    """The model (eval mode, random weights, seeded) and its input maker. ``head``: None for
    the base model, or "causal-lm" / "masked-lm" for a model with a loss head (training)."""
    import transformers

    transformers.logging.set_verbosity_error()
    spec = ZOO[name]
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = transformers.AutoConfig.for_model(name, **spec.config)
        auto = {None: transformers.AutoModel, "causal-lm": transformers.AutoModelForCausalLM,
                "masked-lm": transformers.AutoModelForMaskedLM}[head]
        model = auto.from_config(config).eval()
    return model, _inputs(spec.inputs)
