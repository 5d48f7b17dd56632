"""TextSamples: every process generates (a sharded model's forward needs all of them), in
lockstep, and only rank 0 prints and keeps the samples."""

from types import SimpleNamespace

from multimodal.callbacks import text_samples
from multimodal.callbacks.text_samples import TextSamples


def test_every_process_generates_and_rank_zero_prints(tiny_lm, capsys, monkeypatch):
    calls, real_generate = [], text_samples.generate

    def generate(*args, **kwargs):
        calls.append((kwargs, real_generate(*args, **kwargs)))
        return calls[-1][1]

    monkeypatch.setattr(text_samples, "generate", generate)
    callback = TextSamples(["To be", "Or"], max_new_tokens=5, seed=3)
    module = SimpleNamespace(model=tiny_lm)

    callback.on_fit_start(SimpleNamespace(is_global_zero=False), module)
    assert capsys.readouterr().out == "" and callback.printed == {}
    callback.on_fit_end(SimpleNamespace(is_global_zero=True), module)
    out = capsys.readouterr().out
    assert out.startswith("\n--- samples after training ---\n")
    printed = callback.printed["after"]
    assert len(printed) == 2 and printed[0].startswith("To be") and printed[1].startswith("Or")
    assert all(s.strip() in out for s in printed)
    # both processes generated, in lockstep, the same tokens (same prompts and seed)
    (first, tokens_first), (second, tokens_second) = calls
    assert first["lockstep"] and second["lockstep"]
    assert tokens_first == tokens_second and [len(t) for t in tokens_first] == [5, 5]
