"""Our record in a LATENT (`acestep_v1`: the source's length, a repaint/extend region) after ComfyUI's own
latent nodes, which copy the dict, record included, while they change the latent's length or batch;
and Cancel inside one decoder or vocoder pass. Every graph runs through ComfyUI's executor."""
from __future__ import annotations

import copy
import sys
from contextlib import contextmanager
from pathlib import Path

import comfy.model_management as mm
import pytest
import torch

sys.path.append(str(Path(__file__).parent))
import acestep_node_graphs as graphs  # noqa: E402

SOURCE_FILE = "src_sines_44k.wav"  # 3.0 s: 33 latent frames
RIGHT = 1.0  # seconds every extend below adds after the song


class Song:
    """A graph with a model, tags, lyrics and the source song's latent, to which a test adds its branches."""

    def __init__(self):
        self.g = graphs.Graph()
        o = self.g.out
        self.model = self.g.add("AceStepV1ModelLoader", model_name=graphs.MODEL_NAME, dtype="float32",
                                offload="comfyui")
        self.tags = self.g.add("AceStepV1TextEncode", model=o(self.model), tags="pop, piano, 100 bpm")
        self.lyrics = self.g.add("AceStepV1LyricsEncode", model=o(self.model), lyrics="[inst]", language="auto")
        audio = self.g.add("LoadAudio", audio=SOURCE_FILE)
        self.latent = self.g.add("AceStepV1AudioToLatent", model=o(self.model), audio=o(audio))

    def add(self, class_type: str, **inputs) -> str:
        return self.g.add(class_type, **inputs)

    def extend(self, latent: str, left: float = 0.0, right: float = RIGHT) -> str:
        return self.add("AceStepV1ExtendRegion", latent=[latent, 0], left_seconds=left, right_seconds=right)

    def half(self, latent: str) -> str:
        """The latent times 0.5 (a second, different song of the same length; the record is copied)."""
        return self.add("LatentMultiply", samples=[latent, 0], multiplier=0.5)

    def sample(self, latent: str, seeds: str = "42", retake_seeds: str = "7") -> str:
        """Sampler (2 steps, variation noise) → decode → PreviewAudio; the sampler's id."""
        o = self.g.out
        noise = self.add("AceStepV1SeededNoise", seed=0, seeds=seeds)
        noise = self.add("AceStepV1VariationNoise", noise=o(noise), retake_seed=0, variance=1.0,
                         retake_seeds=retake_seeds)
        sampler = self.add("AceStepV1Sampler", model=o(self.model), tags=o(self.tags), lyrics=o(self.lyrics),
                           noise=o(noise), latent=[latent, 0], steps=2, guidance_scale=15.0,
                           audio2audio_strength=0.0)
        decode = self.add("AceStepV1LatentToAudio", model=o(self.model), latent=o(sampler), sample_rate="44100",
                          mode="plain")
        self.add("PreviewAudio", audio=o(decode))
        return sampler


def _record_free(latent: dict) -> dict:
    """The same samples (and mask) without our record: what a native node that rebuilds the dict gives."""
    return {k: v for k, v in latent.items() if k != "acestep_v1"}


def _extend_directly(node_classes, latent: dict, left: float = 0.0, right: float = RIGHT) -> dict:
    return node_classes["AceStepV1ExtendRegion"].execute(latent=latent, left_seconds=left,
                                                         right_seconds=right).args[0]


def _same_region(ours: dict, expected: dict) -> None:
    assert torch.equal(ours["samples"], expected["samples"])
    assert torch.equal(ours["noise_mask"], expected["noise_mask"])
    a, b = ours["acestep_v1"]["region"], expected["acestep_v1"]["region"]
    assert (a["start"], a["end"], a["frames"], a["left"], a["right"]) == \
           (b["start"], b["end"], b["frames"], b["left"], b["right"])
    assert torch.equal(a["source"], b["source"])


# ---------------------------------------------------------------------------- length changes

# Native nodes that change an ACE-Step latent's frame count ([B, 8, 16, T]: "x" is T), and the count.
LENGTH_CHANGES = {
    "LatentCut": ({"dim": "x", "index": 0, "amount": 20}, 20),
    "LatentCut-tail": ({"dim": "x", "index": -25, "amount": 25}, 25),
    "LatentConcat": ({"dim": "x"}, 66),
    "LatentUpscale": ({"upscale_method": "nearest-exact", "width": 8 * 40, "height": 8 * 16, "crop": "disabled"},
                      40),
    "LatentCrop": ({"width": 8 * 20, "height": 8 * 16, "x": 8 * 5, "y": 0}, 20),
}


def _length_change(song: Song, case: str, latent: str) -> str:
    inputs, _ = LENGTH_CHANGES[case]
    class_type = case.split("-")[0]
    if class_type == "LatentConcat":
        return song.add(class_type, samples1=[latent, 0], samples2=[latent, 0], **inputs)
    return song.add(class_type, samples=[latent, 0], **inputs)


@pytest.mark.parametrize("case", list(LENGTH_CHANGES))
def test_extend_measures_a_cut_or_joined_song_by_its_frames(runner, node_classes, case):
    """The source length AudioToLatent recorded (3.0 s) no longer holds: the extend measures the frames,
    as for a native latent, instead of refusing ("longer than the source" / "adds nothing") or
    padding the wrong number of frames."""
    song = Song()
    changed = _length_change(song, case, song.latent)
    region = song.extend(changed)
    sampler = song.sample(region)
    res = runner.run(song.g.nodes)
    native = res.output(changed)
    assert native["samples"].shape[-1] == LENGTH_CHANGES[case][1]
    assert "acestep_v1" in native  # the native node did copy our record along
    _same_region(res.output(region), _extend_directly(node_classes, _record_free(native)))
    assert res.output(sampler)["samples"].shape == res.output(region)["samples"].shape


def test_source_length_survives_a_batch_change(runner, node_classes):
    """Same frames, another batch: the recorded source length still holds (not the padded frames' 3.05 s)."""
    song = Song()
    batch = song.add("RepeatLatentBatch", samples=[song.latent, 0], amount=2)
    region = song.extend(batch)
    song.sample(region, seeds="42, 43", retake_seeds="7, 8")
    res = runner.run(song.g.nodes)
    assert res.output(region)["acestep_v1"]["region"]["end"] == pytest.approx(3.0 + RIGHT)
    single = _extend_directly(node_classes, res.output(song.latent))
    assert torch.equal(res.output(region)["samples"], single["samples"].repeat(2, 1, 1, 1))


# ---------------------------------------------------------------------------- batch changes


def _from_batch(song: Song) -> tuple[str, str, str, str]:
    """An extend of a two-song batch, then its second song; against the extend of that song alone."""
    both = song.add("LatentBatch", samples1=[song.latent, 0], samples2=[song.half(song.latent), 0])
    picked = song.add("LatentFromBatch", samples=[song.extend(both), 0], batch_index=1, length=1)
    alone = song.extend(song.half(song.latent))
    return picked, alone, "42", "7"


def _batched(song: Song) -> tuple[str, str, str, str]:
    """Two extended songs batched; against the extend of the batch of both."""
    joined = song.add("LatentBatch", samples1=[song.extend(song.latent), 0],
                      samples2=[song.extend(song.half(song.latent)), 0])
    both = song.add("LatentBatch", samples1=[song.latent, 0], samples2=[song.half(song.latent), 0])
    return joined, song.extend(both), "42, 43", "7, 8"


def _repeated(song: Song) -> tuple[str, str, str, str]:
    """An extended song repeated; against the extend of the repeated song."""
    repeated = song.add("RepeatLatentBatch", samples=[song.extend(song.latent), 0], amount=3)
    reference = song.extend(song.add("RepeatLatentBatch", samples=[song.latent, 0], amount=3))
    return repeated, reference, "42, 43, 44", "7, 8, 9"


@pytest.mark.parametrize("build", [_from_batch, _batched, _repeated], ids=["LatentFromBatch", "LatentBatch",
                                                                           "RepeatLatentBatch"])
def test_extend_after_a_batch_change_extends_each_song_of_the_batch(runner, build):
    """The region's source is rebuilt item for item from the padded samples, so re-batching an
    extend region gives what extending the re-batched songs gives, seed for seed."""
    song = Song()
    ours, reference, seeds, retakes = build(song)
    a = song.sample(ours, seeds, retakes)
    b = song.sample(reference, seeds, retakes)
    res = runner.run(song.g.nodes)
    assert torch.equal(res.output(ours)["samples"], res.output(reference)["samples"])
    copied = res.output(ours)["acestep_v1"]["region"]["source"]
    assert copied.shape[0] != res.output(ours)["samples"].shape[0]  # the record copied along is another batch's
    assert torch.equal(res.output(a)["samples"], res.output(b)["samples"])


# ---------------------------------------------------------------------------- regions of another length


def test_sampler_refuses_a_region_whose_latent_was_cut(runner):
    song = Song()
    cut = song.add("LatentCut", samples=[song.extend(song.latent), 0], dim="x", index=0, amount=30)
    sampler = song.sample(cut)
    res = runner.run(song.g.nodes, expect_ok=False)
    assert res.error is not None and res.error["node_id"] == sampler
    message = res.error["exception_message"]
    assert "made for 43 frames but the latent now has 30" in message and "directly" in message


@pytest.mark.parametrize("first, second", [("extend", "extend"), ("repaint", "repaint"), ("extend", "repaint")])
def test_a_region_node_replaces_a_region_that_no_longer_fits(runner, node_classes, first, second):
    """A region whose latent a native node cut or joined is not 'a region already set': a new one replaces it."""
    song = Song()
    if first == "extend":
        region = song.extend(song.latent)
    else:
        region = song.add("AceStepV1RepaintRegion", latent=[song.latent, 0], start_seconds=0.5, end_seconds=1.5)
    joined = song.add("LatentConcat", samples1=[region, 0], samples2=[song.latent, 0], dim="x")
    if second == "extend":
        again = song.extend(joined)
    else:
        again = song.add("AceStepV1RepaintRegion", latent=[joined, 0], start_seconds=2.0, end_seconds=4.0)
    sampler = song.sample(again)
    res = runner.run(song.g.nodes)
    frames = res.output(joined)["samples"].shape[-1]
    region = res.output(again)["acestep_v1"]["region"]
    assert region["task"] == second and region["frames"] == res.output(again)["samples"].shape[-1]
    if second == "extend":
        _same_region(res.output(again), _extend_directly(node_classes, _record_free(res.output(joined))))
    else:
        assert frames == region["frames"]
    assert res.output(sampler)["samples"].shape[-1] == region["frames"]


# ---------------------------------------------------------------------------- Cancel inside a decode pass


def _by_type(prompt: dict, class_type: str) -> str:
    return next(k for k, v in prompt.items() if v["class_type"] == class_type)


@contextmanager
def _cancel_after(module: torch.nn.Module, sentinel: torch.nn.Module, ran: list[str]):
    """Press Cancel when `module` has run (inside a pass, between two layer checks); record whether
    `sentinel`, a later layer of the same pass, runs after that."""
    def press(_module, _args, _out):
        ran.append("pressed")
        mm.interrupt_current_processing(True)

    handles = [module.register_forward_hook(press),
               sentinel.register_forward_pre_hook(lambda _m, _a: ran.append("sentinel"))]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


# (mode, the network Cancel is pressed in); the progress ticks of the decode before the press
CANCEL_CASES = [("plain", "dcae", 0), ("plain", "vocoder", 1), ("chunked", "vocoder", 1), ("overlapped", "dcae", 0)]


@pytest.mark.parametrize("mode, where, ticks_before", CANCEL_CASES)
def test_cancel_stops_a_decode_inside_a_pass(fresh_runner, mode, where, ticks_before):
    prompt = graphs.text2music_graph(steps=2, output="PreviewAudio")
    first = fresh_runner.run(prompt)  # model, conditioning and latents are cached from here on
    model = first.output(_by_type(prompt, "AceStepV1ModelLoader"))
    decode = _by_type(prompt, "AceStepV1LatentToAudio")
    prompt = copy.deepcopy(prompt)
    prompt[decode]["inputs"].update(mode=mode, sample_rate="44100")  # only the decode and preview run again
    codec = model.pipe.codec
    if where == "dcae":
        module, sentinel = codec.dcae.decoder.conv_in, codec.dcae.decoder.conv_out
    else:
        module, sentinel = codec.vocoder.head.ups[0], codec.vocoder.head.conv_post
    ran: list[str] = []
    with _cancel_after(module, sentinel, ran):
        res = fresh_runner.run(prompt, expect_ok=False)
    assert res.interrupted and res.error is None
    assert ran == ["pressed"]  # not one further layer of that pass ran
    assert [v for n, v, _ in res.progress if n == decode] == list(range(1, ticks_before + 1))
    assert decode not in [d["node"] for d in res.events("executed")]
    assert all(not m._forward_pre_hooks for m in codec.modules())  # the decode's checks are gone
    # The next run works, and gives what an uninterrupted decode gives.
    ok = fresh_runner.run(prompt)
    latents = ok.output(_by_type(prompt, "AceStepV1Sampler"))["samples"]
    with torch.inference_mode(False), torch.no_grad():
        expected = model.pipe.decode_latents(latents, None, mode=mode)
    assert torch.equal(ok.output(decode)["waveform"], expected)
