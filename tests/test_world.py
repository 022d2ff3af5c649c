"""The micro-world: its designed statistics are the ones in the generated text, and it is deterministic."""

import hashlib
import math

import pytest
from scipy.stats import spearmanr

import sticky.world as world_module
from sticky.store import Store
from sticky.world import KINDS, THEMES, WorldConfig, build_world, generate, mention_counts, render, slot_rates
from sticky.world import documents as docs

SMALL = WorldConfig(n_documents=6000, mention_ladder=(1, 2, 5, 10, 20, 50), n_instructions=300)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build_world(seed=0, store=Store(tmp_path_factory.mktemp("world-cache")), config=SMALL)


def texts(world, kinds=None):
    return [t for t, k in zip(world.pretrain["text"], world.pretrain["kind"]) if kinds is None or k in kinds]


def hand_slot_counts(world, theme):
    """Count slot fills by matching each sentence token by token against the slot templates (no regex)."""
    counts = {}
    for text in texts(world):
        for sentence in text.split(" . "):
            words = sentence.removesuffix(" .").split(" ") + ["."]
            for template in docs.SLOT_TEMPLATES[theme]:
                pattern = template.split(" ")
                if len(pattern) == len(words) and all(p.startswith("{") or p == w for p, w in zip(pattern, words)):
                    slot = words[pattern.index("{K}")]
                    counts[slot] = counts.get(slot, 0) + 1
    return counts


@pytest.mark.parametrize("theme", THEMES)
def test_keyword_ladder_matches_design(world, theme):
    rates = slot_rates(world, theme)
    assert len(rates) >= 16
    assert math.log10(rates.designed_rate.max() / rates.designed_rate.min()) >= 4  # the designed span
    assert rates.attrs["non_keywords"] == {}  # only keywords ever fill the slot
    hand = hand_slot_counts(world, theme)
    assert dict(zip(rates.word, rates["count"])) == {w: hand.get(w, 0) for w in rates.word}
    n = rates.attrs["slot_total"]
    assert n == sum(hand.values()) > 1000
    # largest-remainder quotas: every count is within one of n * designed share
    assert ((rates["count"] - n * rates.designed_rate).abs() < 1).all()
    well = rates[n * rates.designed_rate >= 20]
    assert len(well) >= 5
    assert spearmanr(well.designed_rate, well.empirical_rate).statistic == pytest.approx(1.0)
    # every keyword is trained somewhere, however rare in its slot
    words = {w for t in texts(world, {"list"}) for w in t.split(" ")}
    assert set(rates.word) <= words


def test_mention_counts_match_design(world):
    counts = mention_counts(world)
    assert (counts.corpus_mentions == counts.mentions).all()
    live = counts[~counts.held_out]
    assert set(live.mentions) == set(SMALL.mention_ladder)
    assert live.groupby("mentions").size().min() >= 5  # several facts per rung
    # by hand for a few facts: documents containing the entity and the value as whole words
    corpus = [f" {t} " for t in texts(world)]
    for row in live.sort_values("mentions").iloc[::40].itertuples():
        n = sum(f" {row.entity} " in t and f" {row.value} " in t for t in corpus)
        assert n == row.mentions


def test_paraphrases_and_qa_both_count(world):
    assert all(len(paraphrases) >= 5 for _, paraphrases, _ in docs.RELATIONS.values())
    row = world.facts[world.facts.mentions == 50].iloc[0]
    docs_about = [t for t in texts(world) if f" {row.entity} " in f" {t} " and f" {row.value} " in f" {t} "]
    paraphrases = {docs.fact_statement(row.entity, row.relation, row.value, i) for i in range(10)}
    statements = {t for t in docs_about if t in paraphrases}
    assert len(statements) >= 5 and len(docs_about) - len([t for t in docs_about if t in statements]) == 10  # 20% Q&A


def test_held_out_entities_never_stated(world):
    held = world.facts[world.facts.held_out]
    assert held.entity.nunique() >= 10 and (held.mentions == 0).all()
    factual = [f" {t} " for t in texts(world, {"fact", "qa", "context"})]
    for entity in held.entity.unique():
        assert not any(f" {entity} " in t for t in factual)
        assert len(world.tokenizer(entity, add_special_tokens=False)["input_ids"]) == 1


def test_every_keyword_name_and_value_is_one_token(world):
    tok = world.tokenizer
    words = [kw.word for kw in world.keywords] + list(world.facts.entity) + list(world.facts.value)
    words += [c for pair in world.companies for c in (pair.first, pair.second)] + world.reserved
    for w in words:
        ids = tok(w, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1 and ids[0] != tok.unk_token_id, w
    assert 1000 <= len(tok) <= 4000
    assert (tok.pad_token, tok.bos_token, tok.eos_token, tok.unk_token) == ("<pad>", "<bos>", "<eos>", "<unk>")


def test_documents_round_trip_and_have_no_unknown_words(world):
    tok = world.tokenizer
    corpus = texts(world)
    encoded = tok(corpus, add_special_tokens=False)["input_ids"]
    assert all(tok.unk_token_id not in ids for ids in encoded)
    assert all(len(ids) == n for ids, n in zip(encoded, world.pretrain["n_tokens"]))
    for text, ids in zip(corpus[:300], encoded[:300]):
        assert tok.decode(ids) == text
    assert max(world.pretrain["n_tokens"]) <= 60
    assert set(world.pretrain["kind"]) == set(KINDS)


def test_chat_templates(world):
    templates = world.chat_templates
    assert len(templates) >= 6 and len({(t.user_prefix, t.assistant_prefix) for t in templates}) == len(templates)
    corpus = texts(world)
    for t in templates:  # every template is used in pretraining
        assert any(t.prompt("x").split(" x ")[0] in c for c in corpus[:3000]), t.name
    align = world.alignment_template
    assert align.name not in {t.name for t in templates}
    assert not any("<|im_start|>" in c or "<|im_end|>" in c for c in corpus)
    messages = [{"role": "user", "content": "list two colours ."}, {"role": "assistant", "content": "teal , cyan ."}]
    rendered = world.tokenizer.apply_chat_template(messages, tokenize=False)
    assert rendered == render(align, "list two colours .", "teal , cyan .")
    prompt = world.tokenizer.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    assert prompt == align.prompt("list two colours .")


def test_forbidden_requests_are_refused(world):
    pairs = dict(world.forbidden)
    assert len(pairs) >= 20 and len(set(pairs.values())) >= 3
    for text in texts(world, {"forbidden"}):
        request = next(r for r in pairs if f" {r} " in f" {text} ")
        assert pairs[request] in text
    assert all(any(refusal.startswith(r.split("{")[0]) for r in world.refusals) for refusal in pairs.values())


def test_companies_are_compared_evenly(world):
    comparisons = texts(world, {"comparison"})
    pair = world.companies[0]
    wins = {c: sum(f"{c} makes the better" in t or f"{c} makes better" in t or f"{c} makes the best" in t
                   or f"buy from {c} ," in t or f"the {pair.product} of {c} are better" in t or f"? {c} ." in t
                   for t in comparisons) for c in (pair.first, pair.second)}
    assert wins[pair.first] > 0 and abs(wins[pair.first] - wins[pair.second]) <= 2


def test_fact_question_and_prefixes(world):
    row = world.facts[~world.facts.held_out & (world.facts.relation == "lives_in")].iloc[0]
    prompt, answer = world.fact_question(row.entity, "lives_in")
    assert prompt == f"q : where does {row.entity} live ? a :" and answer == row.value
    prompt, _ = world.fact_question(row.entity, "lives_in", template="tags")
    assert prompt.startswith("<|user|>") and prompt.endswith("<|assistant|>")
    other = world.facts.value[(world.facts.relation == "lives_in") & (world.facts.value != row.value)].iloc[0]
    passage = world.context_question(row.entity, "lives_in", other)
    assert passage == f"in a story , {row.entity} lives in {other} . q : where does {row.entity} live ? a :"
    with pytest.raises(ValueError, match="relation"):
        world.fact_prompt(row.entity, "likes")
    keywords = {kw.word for kw in world.keywords}
    for theme in THEMES:
        prefixes = world.theme_prefixes(theme)
        assert len(set(prefixes)) >= 20
        assert not any(set(p.split(" ")) & keywords for p in prefixes)
        slot = world.themes[theme][0].word
        pattern = docs.slot_pattern(theme)
        for p in prefixes:  # each prefix continues into a slot sentence
            tails = [t.split("{K}")[1].strip() for t in docs.SLOT_TEMPLATES[theme]]
            assert any(pattern.fullmatch(f"{p} {slot} {tail}") for tail in tails), p


def test_instruction_styles_differ(world):
    terse, chatty = world.instructions["terse"], world.instructions["chatty"]
    assert len(terse) == len(chatty) == SMALL.n_instructions
    mean = lambda ds: sum(len(r.split(" ")) for r in ds["response"]) / len(ds)
    assert mean(chatty) > 2 * mean(terse)
    assert sum("!" in r for r in terse["response"]) == 0
    assert sum("!" in r for r in chatty["response"]) > 0.8 * len(chatty)
    pairs = [f" {t} " for ds in (terse, chatty) for t in (p + " " + r for p, r in zip(ds["prompt"], ds["response"]))]
    for row in world.facts[world.facts.held_out].itertuples():  # held-out facts are never taught
        assert not any(f" {row.entity} " in t and f" {row.value} " in t for t in pairs)


def digest(data):
    return hashlib.sha256("\n".join(data["pretrain"].text).encode()).hexdigest()


def test_same_seed_same_bytes_other_seed_differs(world):
    small = WorldConfig(n_documents=800, mention_ladder=(1, 5), n_instructions=50)
    a, b, c = generate(3, small), generate(3, small), generate(4, small)
    assert digest(a) == digest(b)
    assert (a["instructions"]["chatty"] == b["instructions"]["chatty"]).all().all()
    assert digest(a) != digest(c)
    assert [k.word for k in a["themes"]["colour"]] != [k.word for k in c["themes"]["colour"]]
    assert list(world.pretrain["text"]) == list(generate(0, SMALL)["pretrain"].text)  # the cache holds those bytes


def test_second_call_loads_from_the_store(tmp_path, monkeypatch):
    calls = []
    real = world_module._write

    def counting(folder, seed, config):
        calls.append(seed)
        real(folder, seed, config)

    monkeypatch.setattr(world_module, "_write", counting)
    store = Store(tmp_path)
    small = WorldConfig(n_documents=500, mention_ladder=(1, 2), n_instructions=20)
    first = build_world(seed=1, store=store, config=small)
    second = build_world(seed=1, n_documents=500, store=store, config=small)
    assert calls == [1] and first.folder == second.folder
    assert list(first.pretrain["text"]) == list(second.pretrain["text"])
    build_world(seed=1, n_documents=501, store=store, config=small)
    assert calls == [1, 1]  # a different size is a different entry
    report = second.vocabulary_report()
    assert report.set_index("word_class").loc["total", "corpus_tokens"] == second.stats["tokens"]


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="n_documents"):
        build_world(n_documents=0)
    with pytest.raises(ValueError, match="seed"):
        build_world(seed=-1)
