"""Model-engine throughput: pages/s of LayoutLMv3 extraction and Donut parsing (not a test).

Random weights of the real architectures (throughput does not depend on the values), driven
through the real engine code (:class:`~extractors.models.layoutlmv3.LayoutLMv3Extractor` and
:class:`~extractors.models.donut.DonutExtractor`: tokenisation, windows, page pixels, batching,
post-processing), by batch size and dtype, on CPU and — whenever one is visible — CUDA.

    python -m bench.models                       # base-sized models, every device found
    python -m bench.models --device cpu --pages 4 --batch-sizes 1,2 --donut-tokens 8   # short CPU run
    python -m bench.models --device cuda --batch-sizes 1,8,32,64 --dtypes fp32,fp16,bf16

Sizes: ``base`` = LayoutLMv3-base (hidden 768, 12 layers, 224 px patches) and Donut-base
(DonutSwin 128/[2,2,14,2]/window 10 on 2560x1920, MBart decoder d_model 1024 × 4 layers);
``small`` shrinks both for quick looks. Each page of the LayoutLMv3 run holds ~300 words (one
512-token window); Donut generates ``--donut-tokens`` tokens per page (random weights never stop
early). Issue targets on an H100: LayoutLMv3-base ≥ 200 pages/s, Donut-base ≥ 10 pages/s.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from typing import Any

WORDS_PER_PAGE = 300


def _doc(n_pages: int, seed: int = 0) -> Any:
    import random

    from extractors.layout import build_layout
    from schemas.document import Document, Page, Word

    rng = random.Random(seed)
    vocab = ["TOTAL", "Invoice", "12.50", "Qty", "Description", "GmbH", "2024-01-31", "VAT", "Street",
             "Amount", "due", "EUR", "Widget", "Service", "hours", "No.", "Customer", "Berlin"]
    pages = []
    for p in range(n_pages):
        words = []
        for i in range(WORDS_PER_PAGE):
            row, col = divmod(i, 10)
            x, y = 60 + col * 110, 60 + row * 70
            words.append(Word.from_pixels(rng.choice(vocab), (x, y, x + 90, y + 30), page_width=1240,
                                          page_height=1754))
        pages.append(build_layout(Page(number=p + 1, width=1240, height=1754, words=words,
                                       text_source="ocr", engine="bench")))
    return Document(source="bench.pdf", sha256=f"{seed:064d}", media_type="application/pdf",
                    pages=pages)


def _bpe_tokenizer(tmp: str, cls_name: str = "LayoutLMv3Tokenizer") -> Any:
    import transformers
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(["Invoice TOTAL 12.50 Qty Description GmbH VAT Street Amount due EUR "
                             "Widget Service hours Customer Berlin 2024-01-31"] * 20,
                            vocab_size=1000, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(tmp)
    return getattr(transformers, cls_name).from_pretrained(tmp)


def layoutlmv3_engine(size: str, device: Any, dtype: Any, batch_size: int, tmp: str) -> Any:
    """A LayoutLMv3 token-classification engine with random weights, on ``device`` in ``dtype``."""
    from transformers import (
        LayoutLMv3Config,
        LayoutLMv3ForTokenClassification,
        LayoutLMv3ImageProcessorPil,
    )

    from extractors.models.layoutlmv3 import LayoutLMv3Extractor, make_bundle

    tok = _bpe_tokenizer(tmp)
    labels = ["O"] + [f"{p}-{f}" for f in ("merchant_name", "total", "transaction_date", "item.amount")
                      for p in ("B", "I")]
    dims: dict[str, Any] = ({"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
             "intermediate_size": 3072, "coordinate_size": 128, "shape_size": 128}
            if size == "base" else
            {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
             "intermediate_size": 1024, "coordinate_size": 32, "shape_size": 64})
    cfg = LayoutLMv3Config(vocab_size=50265, max_position_embeddings=514, input_size=224,
                           patch_size=16, id2label=dict(enumerate(labels)),
                           label2id={v: k for k, v in enumerate(labels)}, **dims)
    model = LayoutLMv3ForTokenClassification(cfg)
    model.to(device=device, dtype=dtype)  # type: ignore[call-arg]
    ip = LayoutLMv3ImageProcessorPil(apply_ocr=False)
    return LayoutLMv3Extractor.from_bundle(make_bundle("bench/layoutlmv3", "token", model, tok, ip,
                                                       batch_size=batch_size))


def donut_engine(size: str, device: Any, dtype: Any, batch_size: int, tmp: str,
                 image: tuple[int, int]) -> Any:
    """A Donut (DonutSwin + MBart) parsing engine with random weights."""
    from transformers import (
        DonutImageProcessorPil,
        DonutSwinConfig,
        DonutSwinModel,
        MBartConfig,
        MBartForCausalLM,
        VisionEncoderDecoderModel,
    )

    from extractors.models import runtime
    from extractors.models.donut import DonutBundle, DonutExtractor, _generate
    from extractors.settings import Settings

    tok = _bpe_tokenizer(tmp, "RobertaTokenizer")  # Donut's own is XLM-R (sentencepiece); same role
    tok.add_special_tokens({"additional_special_tokens": ["<s_cord-v2>", "<s_total>", "</s_total>"]})
    if size == "base":
        enc = DonutSwinConfig(image_size=list(image), patch_size=4, embed_dim=128, depths=[2, 2, 14, 2],
                              num_heads=[4, 8, 16, 32], window_size=10)
        d_model, layers, heads, ffn = 1024, 4, 16, 4096
    else:
        enc = DonutSwinConfig(image_size=list(image), patch_size=4, embed_dim=64, depths=[2, 2, 2, 2],
                              num_heads=[2, 4, 8, 16], window_size=10)
        d_model, layers, heads, ffn = 512, 2, 8, 2048
    dec = MBartConfig(vocab_size=57525, d_model=d_model, decoder_layers=layers, encoder_layers=layers,
                      decoder_attention_heads=heads, encoder_attention_heads=heads,
                      decoder_ffn_dim=ffn, encoder_ffn_dim=ffn, max_position_embeddings=1536,
                      is_decoder=True, add_cross_attention=True, pad_token_id=tok.pad_token_id,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)  # type: ignore[call-arg]
    model = VisionEncoderDecoderModel(encoder=DonutSwinModel(enc), decoder=MBartForCausalLM(dec))
    model.config.decoder_start_token_id = tok.bos_token_id
    model.config.pad_token_id = tok.pad_token_id
    model.to(device=device, dtype=dtype).eval()  # type: ignore[call-arg]
    ip = DonutImageProcessorPil(size={"height": image[0], "width": image[1]}, do_align_long_axis=False)
    bundle = DonutBundle("bench/donut", model, tok, ip, device, dtype, ["<s_cord-v2>"], 1536)
    bundle.runner = runtime.BatchRunner(lambda it: _generate(bundle, it), batch_size)
    eng = DonutExtractor.__new__(DonutExtractor)
    eng.settings = Settings(batch_size=batch_size)
    eng.model_name = bundle.name
    eng.bundle = bundle
    eng.prompt = "<s_cord-v2>"
    return eng


def _time(fn: Any, n_pages: int, warmup: bool = True) -> float:
    import torch

    if warmup:
        fn(1)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn(n_pages)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return n_pages / (time.perf_counter() - t0)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    import tempfile

    import torch

    from extractors.models import runtime

    runtime.require_torch()
    torch.manual_seed(0)
    torch.set_grad_enabled(False)
    devices = [d for d in args.device.split(",") if d]
    if devices == ["auto"]:
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    rows: list[dict[str, Any]] = []
    image = tuple(int(v) for v in args.donut_image.lower().split("x"))
    for dev_name in devices:
        device = torch.device(dev_name)
        for dt_name in args.dtypes.split(","):
            dtype = dtypes[dt_name]
            for arch in args.arch.split(","):
                for bs in (int(b) for b in args.batch_sizes.split(",")):
                    with tempfile.TemporaryDirectory() as tmp:
                        row = {"arch": arch, "size": args.size, "device": dev_name, "dtype": dt_name,
                               "batch_size": bs}
                        try:
                            if arch == "layoutlmv3":
                                eng = layoutlmv3_engine(args.size, device, dtype, bs, tmp)
                                pages = args.pages

                                def go(n: int, eng: Any = eng) -> None:
                                    eng.tag_pages(_doc(n))
                            else:
                                eng = donut_engine(args.size, device, dtype, bs, tmp, image)  # type: ignore[arg-type]
                                eng.max_new_tokens = args.donut_tokens
                                pages = args.donut_pages or args.pages

                                def go(n: int, eng: Any = eng) -> None:
                                    eng._run_pages(_doc(n), eng.prompt, max_new_tokens=args.donut_tokens)
                            row["pages"] = pages
                            row["pages_per_s"] = round(_time(go, pages), 3)
                        except Exception as exc:  # an unsupported dtype on a device, OOM …
                            row["error"] = f"{type(exc).__name__}: {str(exc)[:120]}"
                        print(json.dumps(row), flush=True)
                        rows.append(row)
                        if dev_name.startswith("cuda"):
                            torch.cuda.empty_cache()
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.models", description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, or a comma list")
    p.add_argument("--arch", default="layoutlmv3,donut")
    p.add_argument("--size", default="base", choices=("base", "small"))
    p.add_argument("--batch-sizes", default="1,8,32")
    p.add_argument("--dtypes", default="fp32,fp16")
    p.add_argument("--pages", type=int, default=64, help="pages per timed LayoutLMv3 run")
    p.add_argument("--donut-pages", type=int, default=None, help="pages per timed Donut run")
    p.add_argument("--donut-tokens", type=int, default=128, help="tokens generated per Donut page")
    p.add_argument("--donut-image", default="2560x1920", help="Donut input HEIGHTxWIDTH")
    p.add_argument("--json", default=None, help="also write the rows here")
    args = p.parse_args(argv)
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "cpu_threads": torch.get_num_threads(), "machine": platform.machine()}
    print(json.dumps(info))
    rows = run(args)
    print()
    print("| arch | size | device | dtype | batch | pages | pages/s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['arch']} | {r['size']} | {r['device']} | {r['dtype']} | {r['batch_size']} | "
              f"{r.get('pages', '-')} | {r.get('pages_per_s', r.get('error', '-'))} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"info": info, "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
