"""Student: segment log-probs, the OSIPO loss, LoRA SFT that learns and resumes."""

from __future__ import annotations

import torch
from omegaconf import OmegaConf

from coldstart_exp.methods.scaletot.student import Student, encode_chain, osipo_loss, segment_logps


def test_osipo_loss_prefers_chosen_and_weights_segments():
    ref = torch.zeros(1, 3)
    w = torch.tensor([1.0, 0.0, 2.0])
    better = osipo_loss(torch.tensor([[0.5, 0.0, 0.5]]), torch.zeros(1, 3), ref, ref, w, beta=0.1)
    worse = osipo_loss(torch.zeros(1, 3), torch.tensor([[0.5, 0.0, 0.5]]), ref, ref, w, beta=0.1)
    assert better < torch.log(torch.tensor(2.0)) < worse  # log 2 = loss at zero margin
    # a zero-weight segment does not move the loss
    pc = torch.tensor([[0.0, 5.0, 0.0]], requires_grad=True)
    osipo_loss(pc, torch.zeros(1, 3), ref, ref, w, beta=0.1).backward()
    assert pc.grad[0, 1] == 0 and pc.grad[0, 0] != 0


def test_segment_logps_split_by_step(tiny_lm, spec):
    model, tok = tiny_lm
    ids, seg = encode_chain(spec, tok, "viewer: student \n", ["student", "busy", "humor", "comedy", "fun"])
    assert sorted(set(seg)) == [-1, 0, 1, 2, 3, 4]
    lp = segment_logps(model, [(ids, seg)], spec.k, 0)
    assert lp.shape == (1, spec.k) and (lp < 0).all()
    with torch.no_grad():  # the sum over segments equals the direct sum over label tokens
        full = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0, :-1], -1)
        direct = sum(float(full[i - 1, ids[i]]) for i in range(1, len(ids)) if seg[i] >= 0)
    assert abs(float(lp.sum()) - direct) < 1e-3


EXAMPLES = [("viewer: student \n", ["student", "busy", "humor", "comedy", "fun"]),
            ("viewer: retired \n", ["retired", "quiet", "emotions", "drama", "classic"])]


def student_cfg(**kw):
    return OmegaConf.create({"lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": ["q_proj", "v_proj"],
                             "sft_steps": 6, "sft_batch": 2, "sft_lr": 0.05, "save_every": 3, "osipo_steps": 4,
                             "osipo_batch": 2, "osipo_lr": 0.01, "beta": 0.1, **kw})


def test_sft_learns_and_resumes(tiny_lm, spec, tmp_path):
    model, tok = tiny_lm
    cfg, ex = student_cfg(), EXAMPLES
    s1 = Student(model, tok, spec, cfg, tmp_path)
    info = s1.sft(ex)
    assert info["sft_loss_last"] < info["sft_loss_first"]
    assert (tmp_path / "sft" / "DONE").exists()
    # a new student with more steps resumes from the finished checkpoint (step 6) instead of restarting
    cfg2 = OmegaConf.merge(cfg, {"sft_steps": 9})
    (tmp_path / "sft" / "DONE").unlink()
    s2 = Student(model, tok, spec, cfg2, tmp_path)
    info2 = s2.sft(ex)
    assert info2["sft_steps"] == 9 and info2["sft_loss_first"] < info["sft_loss_first"]
    # OSIPO raises the chosen chain's margin over the rejected one
    pairs = [{"user": 0, "chosen": ex[0][1], "rejected": ["teen", "busy", "humor", "horror", "fun"], "margin": 1.0}]
    out = s2.osipo(pairs, {0: ex[0][0]})
    assert out["osipo_steps"] == 4 and out["osipo_loss_last"] < out["osipo_loss_first"]
    # the base model stayed untouched (the student trains a private copy)
    assert not any("lora" in n for n, _ in model.named_parameters())


def test_a_reused_student_scores_like_the_one_that_trained(tiny_lm, spec, tmp_path):
    """A later run that reuses the finished SFT and OSIPO stages from the cache must give the trained student's
    outputs exactly (peft hands back a model in training mode: LoRA dropout would perturb every pass)."""
    model, tok = tiny_lm
    cfg, ex = student_cfg(lora_dropout=0.5, sft_steps=4, save_every=2, osipo_steps=2, osipo_batch=1), EXAMPLES
    pairs = [{"user": 0, "chosen": ex[0][1], "rejected": ["teen", "busy", "humor", "horror", "fun"], "margin": 1.0}]
    batch = [encode_chain(spec, tok, h, lab) for h, lab in ex]

    def trained_then_scored() -> tuple[dict, dict, torch.Tensor]:
        s = Student(model, tok, spec, cfg, tmp_path)
        a, b = s.sft(ex), s.osipo(pairs, {0: ex[0][0]})
        with torch.no_grad():
            return a, b, segment_logps(s.model, batch, spec.k, 0)

    _, _, cold = trained_then_scored()
    sft, osipo, warm = trained_then_scored()
    assert sft.get("sft_reused") and osipo.get("osipo_reused")
    assert torch.equal(cold, warm)
