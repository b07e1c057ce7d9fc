"""Whole text2music run (load → text → 27 euler/APG steps → decode) on the random full-size checkpoint.

Loading is timed separately from generation: the issue's "whole song" figure is the generation.
The upstream variant calls the original ``ACEStepPipeline`` the same way (read-only use).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
import weakref
from pathlib import Path


import common as C

PROMPT = ("pop, rock, electric guitar, drums, bass, synth pads, female vocals, energetic, catchy melody, "
          "120 bpm, major key, radio mix")
_VERSE = ("Neon lights are flickering bright, we are running through the city night, "
          "hearts are racing, never slow, there is nowhere else to go. ")
_CHORUS = "Oh oh oh, sing it loud, we are shining in the crowd, la la la, here we are. "


def lyrics_for(seconds: float) -> str:
    """Verse/chorus text whose length grows with the duration (~10 lyric tokens per second)."""
    parts, n = [], max(1, int(seconds // 20))
    for _ in range(n):
        parts.append("[verse]\n" + _VERSE * 2)
        parts.append("[chorus]\n" + _CHORUS * 2)
    return "\n".join(parts)


def _vocab() -> str:
    for p in (os.environ.get("ACESTEP_LYRIC_VOCAB", ""), os.path.join(tempfile.gettempdir(), "acestep-test-vocab.json"),
              "/tmp/upstream/acestep/models/lyrics_utils/vocab.json"):
        if p and Path(p).is_file():
            return p
    raise FileNotFoundError("set ACESTEP_LYRIC_VOCAB to ACE-Step's lyric vocab.json")


def _torchaudio_save_with_soundfile() -> None:
    """torchaudio >= 2.9 saves through torchcodec, which a CPU-only venv may lack; the original only
    writes its output file with it, so soundfile stands in (outside the timed part's numbers)."""
    import soundfile as sf
    import torchaudio

    def save(path, src, sample_rate, **_kwargs):
        sf.write(str(path), src.detach().float().cpu().numpy().T, int(sample_rate))

    torchaudio.save = save


def part_song(args, dtype) -> dict:
    seconds, steps = args.seconds, args.steps
    call = dict(prompt=PROMPT, lyrics=lyrics_for(seconds), audio_duration=seconds, infer_step=steps,
                guidance_scale=15.0, scheduler_type="euler", cfg_type="apg", omega_scale=10.0, manual_seeds=[42])
    t0 = time.perf_counter()
    if args.impl == "ours":
        from acestep_core import AceStepPipeline, SamplingPolicy

        pipe = AceStepPipeline.from_pretrained(args.ckpt, dtype=args.dtype, device=args.device,
                                               lyric_vocab=_vocab(), low_memory=args.low_memory, download=False)
        call["policy"] = SamplingPolicy(batch_guidance=args.batch_guidance, guidance_cache_interval=args.guidance_cache)
        passes = []
        tr = pipe.transformer  # loaded here so that load time is not generation time
        # Weakly: with low_memory the pipeline frees the transformer after sampling, and a strong
        # reference here would keep its 10 GB through the decode (it did until 2026-12-02).
        orig_decode = weakref.WeakMethod(tr.decode)

        def counted(*a, **k):
            passes.append(1)
            return orig_decode()(*a, **k)

        tr.decode = counted
        del tr
        if not args.low_memory:
            pipe.text_encoder, pipe.codec  # noqa: B018 (load everything up front, as upstream)
        load_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        out = pipe(**call, write_files=False)
        gen_s = time.perf_counter() - t1
        timecosts = out.params["timecosts"]
    else:
        C.import_upstream()
        _torchaudio_save_with_soundfile()
        from acestep.pipeline_ace_step import ACEStepPipeline

        pipe = ACEStepPipeline(checkpoint_dir=args.ckpt, dtype=args.dtype)
        pipe.load_checkpoint(args.ckpt)
        pipe.loaded = True
        load_s = time.perf_counter() - t0
        passes = []
        orig_decode = pipe.ace_step_transformer.decode

        def counted(*a, **k):
            passes.append(1)
            return orig_decode(*a, **k)

        pipe.ace_step_transformer.decode = counted
        with tempfile.TemporaryDirectory() as tmp:
            t1 = time.perf_counter()
            res = pipe(**call, save_path=tmp + "/")
            gen_s = time.perf_counter() - t1
        timecosts = res[-1].get("timecosts", {}) if isinstance(res[-1], dict) else {}
    return {"time_s": gen_s, "load_s": load_s, "dit_passes": len(passes), "steps": steps,
            "diffusion_s": timecosts.get("diffusion"), "decode_s": timecosts.get("latent2audio"),
            "text_s": timecosts.get("preprocess"), "low_memory": args.low_memory,
            "batch_guidance": args.batch_guidance}


if __name__ == "__main__":
    sys.exit("run through bench/worker.py --part song")
