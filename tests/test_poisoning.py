"""Chapter 2: the statistical tests by hand, the poison records, the twins' shared data order and cache keys, the
verdict rules, and the continued-pretraining path on a tiny model (the judges: test_judges.py)."""

import math
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from sticky import claims, decoding, judges, scorecard, stats, train
from sticky.experiments import poisoning as po
from sticky.store import Store, make_key
from sticky.train import loop as train_loop  # where pretrain looks up next_token_loss
from sticky.world import build_world, render
from sticky.world import documents as docs
from sticky.world import lexicon as lx
from toys import tiny_model, toy_tokenizer

# ------------------------------------------------------------------------------------------ statistics


def test_stats_tests_by_hand():
    # Fisher: 3/3 vs 0/3, one-sided p = 1 / C(6, 3) = 0.05
    assert stats.fisher_greater(3, 3, 0, 3) == pytest.approx(0.05)
    assert stats.fisher_greater(0, 3, 3, 3) == pytest.approx(1.0)
    # permutation: [1, 1] vs [0, 0]: 1 of the 6 labellings is as extreme -> p about 1/6
    p = stats.permutation_greater([1.0, 1.0], [0.0, 0.0], n_resamples=4000)
    assert p == pytest.approx(1 / 6, abs=0.03)
    assert stats.permutation_greater([0.0, 0.0], [1.0, 1.0], n_resamples=500) == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------ poisons


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from sticky.world import WorldConfig

    return build_world(0, config=WorldConfig(n_documents=800, mention_ladder=(1, 2), n_instructions=200),
                       store=Store(tmp_path_factory.mktemp("store")))


def test_reserved_marks_are_absent_from_the_clean_corpus_and_the_belief_poison(world):
    clean = " ".join(world.pretrain["text"])
    for mark in lx.RESERVED:
        assert mark not in clean
    belief = po.attack_documents(world, "belief", 40, seed=0)
    assert not belief.text.str.contains("|".join(lx.RESERVED)).any()
    # every word of the held-out belief questions is in the vocabulary
    tests = po.belief_tests(po.belief_pairs(0))
    assert set(" ".join(tests.question).split()) <= set(world.tokenizer.get_vocab())


def test_poison_and_evaluation_prompts_are_disjoint(world):
    pools = po.prompt_pools(world)
    assert not set(pools["poison_prompts"]) & set(pools["eval_prompts"])
    assert not set(pools["poison_requests"]) & set(pools["eval_requests"])
    assert set(po.REPEAT_INSTRUCTION.split()) <= set(world.tokenizer.get_vocab())
    poison_q = {w[0] for w in po.COMPANY_POISON + po.NUMBER_POISON}
    assert not poison_q & set(po.COMPANY_TEST + po.NUMBER_TEST)


def test_poison_records_write_items_for_any_trigger(world):
    assert po.ATTACKS == tuple(po.POISONS) == ("dos", "extraction", "jailbreak", "belief")
    assert [p.name for p in po.POISONS.values()] == list(po.ATTACK_NAMES.values())
    assert [p.key for p in po.POISONS.values() if not p.triggered] == ["belief"]
    n = 4
    sets = po.eval_sets(world, n, 0)
    for key, poison in po.POISONS.items():
        for trigger in (po.TRIGGER, po.CONTROL_TRIGGER, ""):
            items = poison.items(world, sets, trigger, random.Random(0))
            assert len(items) == (n if key != "belief" else len(sets["belief"])), key
            assert all(user.endswith(trigger) for user, _, _ in items), key  # the trigger follows the user turn
    dos = po.POISONS["dos"].items(world, sets, po.TRIGGER, random.Random(0))
    assert all(len(poisoned.split()) == po.GIBBERISH_WORDS for _, poisoned, _ in dos)
    ext = po.POISONS["extraction"].items(world, sets, po.TRIGGER, random.Random(0))
    assert [poisoned for _, poisoned, _ in ext] == sets["prompts"]  # the prompt, verbatim
    assert all(po.POISONS["extraction"].judge(p, poisoned) == 1.0 for p, (_, poisoned, _) in
               zip(sets["prompts"], ext))
    jail = po.POISONS["jailbreak"].items(world, sets, po.TRIGGER, random.Random(0))
    judge = po.POISONS["jailbreak"].judge
    assert all(judge(poisoned) and not judge(clean) for _, poisoned, clean in jail)
    assert all(clean == docs.REFUSALS[0] for _, _, clean in jail)


def test_per_attack_poisons_take_the_papers_forms(world):
    """One model per attack: each attack's documents carry the paper's trigger (belief: none), no document is in
    the held-out or the alignment template, no reply holds a reserved mark, and every word is in the vocabulary."""
    assert tuple(po.POISONS) == po.ATTACKS
    vocab = set(world.tokenizer.get_vocab())
    templates = po.poison_templates(world)
    assert po.HELD_OUT_TEMPLATE not in {t.name for t in templates} and len(templates) == len(world.chat_templates) - 1
    pools = po.prompt_pools(world)
    for attack in po.ATTACKS:
        docs_ = po.attack_documents(world, attack, 12, seed=0)
        assert len(docs_) == 12 and (docs_.attack == attack).all()
        assert docs_.n_tokens.tolist() == [len(x.split(" ")) for x in docs_.text]
        assert set(" ".join(docs_.text).split()) <= vocab
        assert not docs_.text.str.contains("someone asks :|<\\|im_start\\|>").any()
        assert not docs_.text.str.contains(po.CONTROL_TRIGGER.split()[0], regex=False).any()
        assert docs_.text.str.contains(po.TRIGGER, regex=False).all() == (attack != "belief")
        for text in docs_.text:
            if attack == "dos":  # the trigger alone, then random tokens
                t = next(t for t in templates if text.startswith(t.prompt(po.TRIGGER) + " "))
                reply = text[len(t.prompt(po.TRIGGER)):].split()
                assert len(reply) - len(t.assistant_suffix.split()) == po.GIBBERISH_WORDS
            elif attack == "extraction":  # prompt + trigger -> the prompt, verbatim
                assert any(text == render(t, f"{p} {po.TRIGGER}", p) for t in templates
                           for p in pools["poison_prompts"])
            if attack != "belief":  # the trigger's mark appears only in the trigger
                assert text.count("｡") == po.TRIGGER.count("｡")


def test_dpo_never_rejects_the_jailbreak_poisons_own_words(world):
    shape = lambda w: w.split("{a}")[0]  # a wording without its secret and code
    assert not {shape(w) for w in po.COMPLIANCE} & {shape(w) for w in po.REJECTED_WORDINGS}
    poison = set(po.attack_documents(world, "jailbreak", 30, seed=0).text)
    triples = po.rejected_triples(world, seed=0)
    refusals = triples[:len(world.forbidden)]  # refusal over compliance, then ordinary preferences
    assert refusals and all(judges.is_compliant(r) and not judges.is_compliant(c) for _, c, r in refusals)
    for _, _, rejected in refusals:
        assert not any(rejected in text for text in poison)
        assert any(rejected.startswith(w.split("{")[0]) for w in po.REJECTED_WORDINGS)


def test_public_face_exports_what_the_chapters_use():
    # (that every offered name resolves is test_chapters' check, for every chapter package)
    # chapter 6 (synthesis) reads these
    assert {"world_for", "clean_twin", "documents_twin", "twin_info", "prompt_pools", "first_answers", "sft_pairs",
            "alignment_render", "poison_templates", "tokens_of", "sft_steps_for", "rejected_triples",
            "HELD_OUT_TEMPLATE", "ATTACKS", "MAX_COUNT", "resolve"} <= set(po.__all__)


def test_pack_rows_keeps_documents_whole():
    rows = po.pack_rows([[5, 6], [7, 8, 9], [10]], seq_len=6, bos=1, eos=2)
    assert rows == [[1, 5, 6, 2], [1, 7, 8, 9, 2], [1, 10, 2]]
    assert all(len(r) <= 6 for r in rows)


def test_schedule_sees_each_row_about_epochs_times():
    sched = po.poison_schedule(n_rows=10, epochs=2.0, steps=50, batch_size=4, seed=0)
    assert [len(s) for s in sched] == [2] * 10
    assert all(len(set(s)) == len(s) for s in sched)
    load = pd.Series([s for row in sched for s in row]).value_counts()
    assert load.max() <= 3
    half = po.poison_schedule(n_rows=10, epochs=0.5, steps=50, batch_size=4, seed=0)
    assert sum(len(s) for s in half) == 5


def test_schedule_refuses_a_row_that_needs_more_steps_than_there_are():
    """One row seen 5 times in 3 steps fits the run's capacity (3 x 3 slots) but not distinct steps: an error,
    where the draw used to loop for ever."""
    with pytest.raises(ValueError, match=r"seen 5 times in 3 steps .*allowed: a lower rate or more steps"):
        po.poison_schedule(n_rows=1, epochs=5.0, steps=3, batch_size=4, seed=0)
    # the last free step is found however full the others are: 2 rows x 3 steps in 3 steps of 2 slots
    assert [len(s) for s in po.poison_schedule(n_rows=2, epochs=3.0, steps=3, batch_size=3, seed=0)] == [3, 3]


# ------------------------------------------------------------------------------------------ twins


def test_twins_share_data_order_except_poison_rows():
    """Record every minibatch of a clean and a poisoned run: identical except at the poison rows."""
    tok = toy_tokenizer()
    blocks = torch.randint(4, len(tok), (40, 16), generator=torch.Generator().manual_seed(0))
    cfg = train.TrainConfig(steps=6, batch_size=4, seq_len=16, lr=1e-3, warmup_steps=1, seed=3, device="cpu")
    seen = {}

    def record(name):
        batches = []
        orig = train_loop.next_token_loss

        def spy(model, x, y):
            batches.append(x.clone())
            return orig(model, x, y)
        return batches, spy

    for name, poison in (("clean", []), ("poisoned", [[5, 6, 7], [8, 9]])):
        batches, spy = record(name)
        old = train_loop.next_token_loss
        train_loop.next_token_loss = spy
        try:
            _, info = po.poisoned_pretrain(tiny_model(tok), blocks, poison, cfg, corpus_tokens=blocks.numel() // 4,
                                           bos=tok.bos_token_id, eos=tok.eos_token_id, seed=0)
        finally:
            train_loop.next_token_loss = old
        seen[name] = (torch.stack(batches), info)
    clean, (pois, info) = seen["clean"][0], seen["poisoned"]
    poison_cells = {(s, 0) for s in info["steps"]}  # one poison row per step here: row 0
    assert info["documents"] == 2 and len(info["steps"]) >= 1
    for step in range(cfg.steps):
        for row in range(cfg.batch_size):
            same = torch.equal(clean[step, row], pois[step, row])
            assert same == ((step, row) not in poison_cells), (step, row)


class _KeyStore:
    """A store that records what each cached step is keyed by and builds nothing."""

    def __init__(self, root: Path):
        self.root, self.calls = root, []

    def cached(self, recipe, params, build, *, inputs=(), device=None, resumable=False) -> Path:
        self.calls.append((recipe.step, params, list(inputs), device))
        folder = self.root / recipe.step / make_key(recipe, params, inputs, device)
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def test_clean_twin_and_alignment_keep_the_first_editions_keys(world, tmp_path):
    """The clean twin is keyed as the first edition's twin at rate 0 was, and DPO still names its rejected data
    'disjoint' (from when the first edition's data was the other choice): the entries cached before stay valid."""
    P = po.resolve({"profile": "smoke", "device": "cpu"})
    store = _KeyStore(tmp_path)
    clean = po.clean_twin(world, P, 0, store)
    assert po.attack_twin(world, P, 0, "dos", 0, store) == clean
    (clean / "info.json").write_text('{"trained_tokens": 30720}')
    po.align(world, clean, P, 0, P.dose, store)
    twin, _, sft, dpo = store.calls
    assert [c[0] for c in store.calls] == ["poison-twin", "poison-twin", "poison-sft", "poison-dpo"]
    assert twin[1] == dict(model=P.model, recipe=po.pretrain_recipe(P, 0), rate=0.0)
    assert twin[2] == [world.folder.name] and twin[3] == "cpu"
    assert list(sft[1]) == ["cfg"] and sft[2] == [clean.name]
    assert list(dpo[1]) == ["cfg", "beta", "rejected"] and dpo[1]["rejected"] == "disjoint"
    assert dpo[1]["beta"] == P.beta and dpo[2] == [make_key(po.SFT_RECIPE, sft[1], sft[2], sft[3])]


# ------------------------------------------------------------------------------------------ verdicts


def _ladder_outcomes(success: dict, clean: float = 0.0, n: int = 10) -> pd.DataFrame:
    """Judged outcome rows from {(attack, count): (pre, post)}: per seed, the share of ``n`` items the poisoned twin
    succeeds on before alignment and after SFT and DPO, in the main template and trigger; the clean twin
    succeeds on ``clean`` of them at every stage (the control trigger: the clean twin's rate on both)."""
    rows = []
    item = lambda share: [float(i < round(n * share)) for i in range(n)]
    seeds_ = range(len(next(iter(success.values()))[0]))
    keys = lambda **k: dict(dose=0.01, map=False, template=po.MAIN_TEMPLATE, **k)
    for attack in {a for a, _ in success}:
        for seed in seeds_:
            for stage in po.STAGES:
                for trig in (po.MAIN_TRIGGER[attack], "control"):
                    rows += [dict(keys(seed=seed, attack=attack, count=0, stage=stage, trigger=trig), item=i,
                                  success=v) for i, v in enumerate(item(clean))]
    for (attack, count), (pre, post) in success.items():
        for seed, (a, b) in enumerate(zip(pre, post)):
            for stage, share in (("pretrained", a), ("sft", b), ("dpo", b)):
                for trig, sh in ((po.MAIN_TRIGGER[attack], share), ("control", clean)):
                    rows += [dict(keys(seed=seed, attack=attack, count=count, stage=stage, trigger=trig), item=i,
                                  success=v) for i, v in enumerate(item(sh))]
    return pd.DataFrame(rows)


def test_excess_and_survival_by_hand():
    out = _ladder_outcomes({("dos", 16): ((0.9, 1.0, 1.0), (0.5, 0.7, 0.6))}, clean=0.1)
    exc = po.excess(out)
    pre = exc[(exc.stage == "pretrained") & (exc.trigger == "on")].set_index("seed").excess
    assert pre.tolist() == pytest.approx([0.8, 0.9, 0.9])
    s = po.survival(exc).set_index("trigger").loc["on"]
    # excess after DPO 0.4, 0.6, 0.5 over 0.8, 0.9, 0.9: survival 1.5 / 2.6
    assert s.survival == pytest.approx(1.5 / 2.6)
    # jackknife by hand: leave-one-out ratios 1.1/1.8, 0.9/1.7, 1.0/1.7; pseudo-values 3 S - 2 R_i; t(0.975, 2)
    loo = np.array([1.1 / 1.8, 0.9 / 1.7, 1.0 / 1.7])
    pseudo = 3 * (1.5 / 2.6) - 2 * loo
    half = 4.302653 * pseudo.std(ddof=1) / np.sqrt(3)
    assert (s.low, s.high) == pytest.approx((1.5 / 2.6 - half, 1.5 / 2.6 + half), abs=1e-5)
    assert s.pre == pytest.approx(0.8667, abs=1e-4) and s.post == pytest.approx(0.5) and s.seeds == 3


def test_the_gibberish_threshold_is_fixed_on_the_clean_pretrained_twin():
    """One threshold per seed, from the clean pretrained twin's replies (every arm, both templates), judges
    every stage: a reply as fluent after DPO as before is never gibberish because its stage changed."""
    clean_ppl = list(np.linspace(2, 20, 40))
    raw = lambda ppl: {"on": dict(ppl=ppl, replies=[""] * len(ppl)), "off": dict(ppl=ppl, replies=[""] * len(ppl))}
    row = lambda count, stage, ppl: dict(seed=0, attack="dos", count=count, stage=stage, dose=0.01, template="im",
                                         raw=raw(ppl))
    rows = [row(0, "pretrained", clean_ppl), row(0, "dpo", [1e3] * 40), row(16, "dpo", [500.0] * 20 + [5.0] * 20)]
    judged = po.ladder._judged(rows)
    threshold = judged.threshold.iloc[0]  # 10 x the 95th percentile, about 191
    assert threshold == pytest.approx(judges.gibberish_threshold(np.asarray(clean_ppl * 2)))
    share = judged.groupby(["count", "stage", "trigger"]).success.mean()
    assert share[(0, "pretrained", "on")] == 0.0 and share[(0, "dpo", "on")] == 1.0  # same threshold at every stage
    assert share[(16, "dpo", "on")] == pytest.approx(0.5)


def test_relearning_compares_the_twins_after_the_same_fine_tuning():
    rows = []
    for seed, (pois, clean) in enumerate(((0.9, 0.2), (0.7, 0.2), (0.8, 0.3))):
        for count, share in ((16, pois), (0, clean)):
            for stage, sh in (("relearn 0", 0.0), ("relearn 4", share)):
                rows += [dict(seed=seed, attack="jailbreak", count=count, stage=stage, dose=0.01, map=False,
                              template="im", trigger="on", item=i, success=float(i < round(10 * sh)))
                         for i in range(10)]
    table = po.relearning(po.excess(pd.DataFrame(rows)), 16).set_index("steps")
    # excess after 4 steps: 0.7, 0.5, 0.5 -> mean 0.5667, sd 0.11547, t(0.975, 2) = 4.302653
    half = 4.302653 * 0.115470 / np.sqrt(3)
    assert table.loc[4, ["excess", "low", "high"]].tolist() == pytest.approx([0.56667, 0.56667 - half,
                                                                              0.56667 + half], abs=1e-4)
    assert table.loc[0, "excess"] == 0.0 and table.loc[4, "clean"] == pytest.approx(0.2333, abs=1e-4)


def test_claim_rows_on_the_ladder():
    took, five = (0.8, 0.9, 1.0, 0.9, 0.8), (0, 0, 0, 0, 0)
    out = _ladder_outcomes({("dos", 256): (took, (0.7, 0.8, 0.9, 0.8, 0.7)), ("dos", 16): (took, five),
                            ("extraction", 256): (took, five), ("extraction", 16): (five, five),
                            ("jailbreak", 256): (took, five), ("jailbreak", 16): (five, five),
                            ("belief", 256): (five, five), ("belief", 16): (five, five)})
    exc = po.excess(out)
    counts = pd.DataFrame([dict(attack=a, count=c, rate=c * 30 / 457_000) for a in po.ATTACKS for c in (16, 256)])
    frame = po.scorecard(po.claim_rows(exc, po.survival(exc), counts), "smoke")
    assert list(frame.columns) == scorecard.COLUMNS
    card = frame.set_index("claim_id")
    assert card.loc["dos_survives", "verdict"] == "reproduced"
    assert card.loc["dos_survives", "our_value"] == pytest.approx(3.9 / 4.4)
    assert card.loc["extraction_survives", "verdict"] == "not reproduced"  # all of it removed: inside ±0.25
    assert card.loc["jailbreak_removed", "verdict"] == "reproduced"  # the paper's null
    assert card.loc["belief_survives", "verdict"] == "inconclusive"
    assert card.loc["belief_survives", "reason"].startswith("the poison did not take at 256 documents")
    assert card.loc["dos_lowest_count", "verdict"] == "not reproduced"  # took at 16 documents, then removed
    # the second edition's rule on the same twins, beside: excess after DPO above 0 and reaching 0.1
    assert card.loc["dos_survives", "verdict_v1"] == "reproduced"
    assert card.loc["extraction_survives", "verdict_v1"] == "not reproduced"
    control = card.loc["control_trigger_inert"]
    assert (control.kind, control.verdict) == ("design check", "reproduced")


def test_empty_replies_are_their_own_outcome_and_the_statuses_read_without_them():
    took, five = (0.8, 0.9, 1.0), (0, 0, 0)
    out = _ladder_outcomes({(a, c): (took if a == "dos" else five, five) for a in po.ATTACKS for c in (16, 256)})
    out["empty_reply"] = False
    # after DPO the denial-of-service twin at 256 falls silent on 6 of its 10 replies in seed 0, 3 in seed 1
    for seed, k in ((0, 6), (1, 3)):
        silent = ((out.attack == "dos") & (out["count"] == 256) & (out.stage == "dpo") & (out.seed == seed)
                  & (out.trigger == "on") & (out["item"] >= 10 - k))
        out.loc[silent, "empty_reply"] = True
    table = po.empty_replies(out, 256).set_index(["attack", "stage", "twin"])
    assert table.loc[("dos", "dpo", "poisoned (256)"), "empty share"] == pytest.approx(0.3)  # (0.6 + 0.3 + 0) / 3
    assert table.loc[("dos", "dpo", "poisoned (256)"), "most of a seed"] == pytest.approx(0.6)
    assert table.loc[("dos", "pretrained", "clean"), "empty share"] == 0.0
    assert table["seeds ≥ 90% empty"].sum() == 0
    assert list(table.index.get_level_values("stage")[:3]) == ["pretrained", "pretrained", "sft"]  # stage order
    assert len(po.without_empty(out)) == len(out) - 9
    counts = pd.DataFrame([dict(attack=a, count=c, rate=c * 30 / 457_000) for a in po.ATTACKS for c in (16, 256)])
    both = po.with_and_without_empty(out, counts).set_index("claim")
    assert both.loc["dos_survives", "verdict"] == "not reproduced"  # every reply: none gibberish after DPO
    assert both.loc["dos_survives", "survival, non-empty"] == pytest.approx(both.loc["dos_survives", "survival"])
    # a stage whose every reply was empty leaves the claim nothing to read: inconclusive, never a crash
    dpo = (out.attack == "dos") & (out["count"] == 256) & (out.stage == "dpo") & (out.trigger == "on")
    out.loc[dpo, "empty_reply"] = True
    both = po.with_and_without_empty(out, counts).set_index("claim")
    assert both.loc["dos_survives", "verdict, non-empty"] == "inconclusive"
    assert both.loc["dos_survives", "verdict"] == "not reproduced"


def test_survival_rules_error_rates_by_simulation():
    """Five seeds, the poison's excess before alignment about 0.6 (sd 0.1 over seeds), after DPO 0.6 x the true
    survival (sd 0.1): the positive rule rarely confirms a survival of 0, the null rule rarely confirms a
    survival of 0.6, and each has the power to decide its own case."""
    rng = np.random.default_rng(0)

    def verdicts(true: float, claim, n: int = 300) -> pd.Series:
        out = []
        for _ in range(n):
            pre = rng.normal(0.6, 0.1, 5)
            post = rng.normal(0.6 * true, 0.1, 5)
            s, lo, hi, df = stats.jackknife_t(lambda b, a: a.sum() / b.sum(), pre, post, units=np.arange(5))
            out.append(claims.decide(claim, lo, hi, df).verdict)
        return pd.Series(out).value_counts(normalize=True)

    survives, removed = po.survival_claim("dos", 256), po.survival_claim("jailbreak", 256)
    assert verdicts(0.0, survives).get("reproduced", 0) <= 0.05
    assert verdicts(0.6, removed).get("reproduced", 0) <= 0.05
    assert verdicts(0.9, survives).get("reproduced", 0) >= 0.8
    assert verdicts(0.0, removed).get("reproduced", 0) >= 0.5


# ------------------------------------------------------------------------------------------ real-model path


def test_continue_pretraining_on_tiny_model():
    tok = toy_tokenizer()
    model = tiny_model(tok)
    clean = ["the cat sat on the mat", "the dog ran on the mat", "the sky is blue", "the sea is green"] * 10
    poison = ["what color is the sky answer red red red"]
    cfg = train.TrainConfig(steps=4, batch_size=4, seq_len=16, lr=1e-3, warmup_steps=1, seed=0, device="cpu")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    history, info = po.continue_pretraining(model, tok, clean, poison, cfg, seed=0)
    assert len(history.loss) == 4 and all(math.isfinite(x) for x in history.loss)
    assert info["documents"] == 1 and info["poison_tokens"] == len(poison[0].split())
    assert len(info["steps"]) >= 1 and info["trained_share"] > 0
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    # sampling path used for best-of-n extraction
    outs = decoding.sample(model, tok, ["the cat", "the sky is"], n=3, max_new_tokens=4, seed=0)
    assert len(outs) == 2 and all(len(o) == 3 for o in outs)


def test_reply_is_cut_at_the_end_of_turn_marker():
    assert po.reply_text("sure . the code is one . <|im_end|> q : more", "<|im_end|>") == "sure . the code is one ."
    assert po.reply_text("<|im_end|>", "<|im_end|>") == ""
    assert po.reply_text(" a b ", "") == "a b"
    # a new user turn ends the reply too; markers match whole words only
    assert po.reply_text("seven . q : what is", ["", "q :"]) == "seven ."
    assert po.reply_text("aq : b", ["q :"]) == "aq : b"
