"""Tests for the classifiers package: contract, determinism, artifacts, locations, training."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from classifiers import (
    SENTIMENTS,
    TOPICS,
    URGENCIES,
    Gazetteer,
    LocationExtractor,
    Prediction,
    RegressionRefused,
    load_classifier,
    run_training,
)
from classifiers.baseline import naive_tfidf_predict
from classifiers.evaluate import regressions
from classifiers.language import LanguageDetectorOffline
from classifiers.model import DEFAULT_ARTIFACT_DIR, CivicClassifier, load_heads, save_heads
from classifiers.sources import Row, feedback_rows
from classifiers.training import CLASSES, PROTOCOL, fit_head, prepare, train_main

DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"

TEXTS = [
    "Huge pothole on Main St, my tire blew out",
    "",
    "   ",
    "I smell gas in the hallway of my building, everyone is getting out",
    "Live wire down on the sidewalk sparking near the school",
    "Loud music next door every night until 3am",
    "Hay un bache enorme en la calle frente a mi casa",
    "Best concert ever!!! 😍😍",
    "Thanks for nothing @CityHall, still waiting on my trash pickup 🙄",
    "rats all over the alley behind the restaurant",
    "no heat in our apartment for 3 days, landlord ignoring us",
    "tents and needles under the overpass by the library",
    "🔥🔥🔥",
    "12345",
    "cars speeding through the school zone every morning, need speed bumps",
    "Street light out at the corner of Tremont and Boylston",
]


@pytest.fixture(scope="module")
def clf() -> CivicClassifier:
    return load_classifier(jobs=1)


def _check_prediction(p: Prediction) -> None:
    assert isinstance(p, Prediction)
    assert p.topic in TOPICS
    assert p.urgency in URGENCIES
    assert p.sentiment in SENTIMENTS
    assert isinstance(p.language, str) and p.language
    assert p.relevant == (p.topic != "none")
    for score in (
        p.relevance_score,
        p.topic_score,
        p.urgency_score,
        p.sentiment_score,
        p.language_score,
    ):
        assert 0.0 <= score <= 1.0
    for task in ("relevance", "topic", "urgency", "sentiment", "language"):
        assert task in p.evidence
    assert set(p.needs_review) <= {"relevance", "topic", "urgency", "sentiment", "language"}


def test_every_label_present_for_every_text(clf: CivicClassifier) -> None:
    preds = clf.predict(TEXTS)
    assert len(preds) == len(TEXTS)
    for p in preds:
        _check_prediction(p)
    assert preds[1].language == "und" and preds[1].topic == "none"
    out = preds[0].to_output("x1")
    assert {"relevant", "topic", "urgency", "sentiment", "language", "locations"} <= set(out)
    json.dumps(out)


def test_identity(clf: CivicClassifier) -> None:
    assert clf.name == "civic-classifier"
    assert clf.version
    assert len(clf.artifact_hash) == 64


def test_batch_equals_single(clf: CivicClassifier) -> None:
    batch = clf.predict(TEXTS)
    singles = [clf.predict([t])[0] for t in TEXTS]
    assert batch == singles
    shuffled = clf.predict(TEXTS[::-1])[::-1]
    assert shuffled == batch


def test_sensible_labels(clf: CivicClassifier) -> None:
    preds = dict(zip(TEXTS, clf.predict(TEXTS), strict=True))
    assert preds["Huge pothole on Main St, my tire blew out"].topic == "pothole"
    assert preds["Loud music next door every night until 3am"].topic == "noise"
    assert preds["rats all over the alley behind the restaurant"].topic == "pests"
    assert preds["Hay un bache enorme en la calle frente a mi casa"].language == "es"
    assert (
        preds["I smell gas in the hallway of my building, everyone is getting out"].urgency
        == "emergency"
    )
    assert preds["Live wire down on the sidewalk sparking near the school"].urgency == "emergency"
    assert (
        "rule:gas_leak"
        in preds["I smell gas in the hallway of my building, everyone is getting out"].evidence[
            "urgency"
        ]
    )
    assert preds["Best concert ever!!! 😍😍"].sentiment == "positive"
    assert not preds["Best concert ever!!! 😍😍"].relevant
    loc = preds["Street light out at the corner of Tremont and Boylston"].locations
    assert [(x.kind, x.text) for x in loc] == [("intersection", "Tremont & Boylston")]


def test_review_threshold_marks_low_scores() -> None:
    strict = load_classifier(review_threshold=1.01)
    lax = load_classifier(review_threshold=0.0)
    p_strict, p_lax = strict.predict(["pothole"])[0], lax.predict(["pothole"])[0]
    assert set(p_strict.needs_review) == {"relevance", "topic", "urgency", "sentiment", "language"}
    assert p_lax.needs_review == []


def test_save_reload_equality(clf: CivicClassifier, tmp_path: Path) -> None:
    heads, meta = load_heads(DEFAULT_ARTIFACT_DIR)
    save_heads(heads, meta, tmp_path)
    again = load_classifier(tmp_path)
    assert again.predict(TEXTS) == clf.predict(TEXTS)
    with np.load(tmp_path / "model.npz", allow_pickle=False) as npz:
        assert all(npz[k].dtype != object for k in npz.files)


def test_artifact_budget() -> None:
    size = sum(p.stat().st_size for p in DEFAULT_ARTIFACT_DIR.iterdir() if p.is_file())
    assert size <= 25 * 1024 * 1024
    t0 = time.perf_counter()
    load_classifier()
    assert time.perf_counter() - t0 < 2.0
    metrics = json.loads((DEFAULT_ARTIFACT_DIR / "metrics.json").read_text())
    for key in (
        "topic_macro_f1",
        "sentiment_macro_recall",
        "emergency_recall",
        "emergency_precision",
        "high_or_emergency_recall",
        "high_or_emergency_precision",
    ):
        assert key in metrics["headline"]


def test_parallel_equals_serial(clf: CivicClassifier) -> None:
    posts = [f"{t} #{i}" for i, t in enumerate(TEXTS * 40)]
    parallel = load_classifier(jobs=2)
    try:
        assert parallel.predict(posts) == clf.predict(posts)
    finally:
        parallel.close()


def test_throughput_sanity(clf: CivicClassifier) -> None:
    posts = [t for t in TEXTS if t.strip()] * 70
    clf.predict(posts)
    t0 = time.perf_counter()
    clf.predict(posts)
    rate = len(posts) / (time.perf_counter() - t0)
    assert rate > 1000, rate  # the real benchmark (make bench) targets >= 5,000/s


# -- overfit a tiny set -------------------------------------------------------------------------
def test_overfit_tiny_set() -> None:
    rows = []
    for i in range(6):
        rows.append(
            Row(
                f"pothole in the road number {i}",
                "t",
                topic="pothole",
                relevant=True,
                urgency="normal",
                sentiment="negative",
            )
        )
        rows.append(
            Row(
                f"graffiti tag on the wall {i}",
                "t",
                topic="graffiti",
                relevant=True,
                urgency="normal",
                sentiment="neutral",
            )
        )
        rows.append(
            Row(
                f"fire in the house people trapped {i}",
                "t",
                topic="other_service",  # a fire told first-hand is a request (life-safety)
                relevant=True,
                urgency="emergency",
                sentiment="negative",
            )
        )
        rows.append(
            Row(
                f"lovely sunny day at the beach {i}",
                "t",
                topic="none",
                relevant=False,
                urgency="low",
                sentiment="positive",
            )
        )
    prep = prepare(rows)
    everything = np.ones(len(rows), dtype=bool)
    heads = {h: fit_head(prep, h, everything, seed=0, C=100.0) for h in CLASSES}
    meta = {"feature_version": 1, "n_features": prep.X.shape[1], "version": "test"}
    clf = CivicClassifier(heads, meta)
    preds = clf.predict([r.text for r in rows])
    for r, p in zip(rows, preds, strict=True):
        assert p.topic == r.topic
        assert p.urgency == r.urgency
        assert p.sentiment == r.sentiment


# -- language ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("There is a huge pothole on my street and nobody fixed it", "en"),
        ("Hay un bache enorme en la calle y nadie lo arregla", "es"),
        ("Tem um buraco enorme na rua e ninguém conserta", "pt"),
        ("Il y a un énorme nid-de-poule dans ma rue", "fr"),
        ("Mwen gen yon gwo twou nan lari a, tanpri ede nou", "ht"),
        ("我家门口的路灯坏了好几天了", "zh"),
        ("Đèn đường trước nhà tôi bị hỏng", "vi"),
        # romanised Hindi, which Lingua does not know, and Creole with English street names
        ("Sector 9 mein kal se paani nahi aa raha hai, koi dekhne wala nahi", "hi"),
        ("Limyè lari a etenn depi 2 semèn sou Blue Hill Ave, li twò nwa aswè", "ht"),
        ("Is the library on Main St open on Monday?", "en"),
        # Italian and Tagalog that hold a word of another language's list ("i", "in", "at")
        ("Alluvione in Sardegna, i morti sono saliti a 18 e anche oggi allerta meteo", "it"),
        ("Walang pasok ngayon at ang lakas pa rin ng ulan sa kalye namin", "tl"),
        # curly quotes, an ellipsis and an emoji are not words: still English without Lingua
        ("“The pothole on my street…” it’s still there 😡", "en"),
        ("", "und"),
    ],
)
def test_language(text: str, lang: str) -> None:
    assert LanguageDetectorOffline().detect([text])[0][0] == lang


def test_punctuation_outside_ascii_keeps_the_english_fast_path() -> None:
    det = LanguageDetectorOffline()
    (lang, _, rule), accented = det.detect(
        ["“Is the light out?” it’s been a week… 😡", "Où est la rue…"]
    )
    assert (lang, rule) == ("en", "function-words")
    assert accented[2] == "lingua"  # a word with an accent is not English's fast path


# -- locations -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pothole at the corner of Tremont and Boylston", [("intersection", "Tremont & Boylston")]),
        ("light out at Mass Ave & Melnea Cass", [("intersection", "Mass Ave & Melnea Cass")]),
        ("trash all over 123 Main St. since monday", [("address", "123 Main St")]),
        ("hydrant leaking at 45 Tremont", [("address", "45 Tremont")]),
        ("tree down on Centre St / Green St", [("intersection", "Centre St & Green St")]),
        ("broken swing in Franklin Park", [("landmark", "Franklin Park")]),
        ("rats everywhere in Dorchester", [("neighborhood", "Dorchester")]),
        ("needles by the steps 42.3601, -71.0589", [("coordinates", "42.3601, -71.0589")]),
        (
            "bache en la esquina de Calle 5 y Avenida Juárez",
            [("intersection", "Calle 5 & Avenida Juárez")],
        ),
        ("I love the jp vibes and the dot ave food", [("street", "dot ave")]),
        # a connector is a whole word ("y" in "Bay" is not one); the street ends before "is"
        ("flooding at the corner of Bay and Pine", [("intersection", "Bay & Pine")]),
        (
            "corner of Walnut Rd and Orchard Ln is flooded again",
            [("intersection", "Walnut Rd & Orchard Ln")],
        ),
        (
            "bags dumped at the corner of E 8th St and G St. again",
            [("intersection", "E 8th St & G St")],
        ),
        ("no location here, just a pothole", []),
        # grid cities: a block or a direction instead of a suffix word, bare crossings
        (
            "trash not picked up on the 2400 block of S Hicks. its wednesday",
            [
                ("address", "2400 block of S Hicks"),
            ],
        ),
        ("streetlight out 1200 blk of main", [("address", "1200 blk of main")]),
        ("loud music from the house at 5130 S Marshfield", [("address", "5130 S Marshfield")]),
        ("Parties every weekend at 2600 Blaisdell", [("address", "2600 Blaisdell")]),
        ("tents at Kedzie & Belmont again", [("intersection", "Kedzie & Belmont")]),
        ("meter at 16th and Wazee eating coins", [("intersection", "16th & Wazee")]),
        ("pothole at Main St & Elm", [("intersection", "Main St & Elm")]),
        # what is no place: a time, a day, a kind of road, the words before a street's name
        ("see you at 10 Am on Monday & Tuesday", []),
        ("we waited 45 s for the bus, I paid 300 W", []),
        ("Stop sign twisted around facing the wrong way", []),
        ("Please sweep the bike lane, full of glass", []),
        ("water main break 35th ave sw water shooting up", [("street", "35th ave sw")]),
        ("pothole in front of 4500 35th ave se.", [("address", "4500 35th ave se")]),
        ("la 5 ave se inundó otra vez", [("address", "5 ave")]),
        ("overflowing bins on queen st w near the park", [("street", "queen st")]),
        ("Pothole Rathmines Road Lower outside the church", [("street", "Rathmines Road")]),
        # a name that ends in more than one suffix word, or is one
        ("I just moved into 77 Grove St, no carts", [("address", "77 Grove St")]),
        ("broken glass outside the pub on Quay St", [("street", "Quay St")]),
        ("Syringes in the laneway behind Grey St St Kilda", [("street", "Grey St")]),
        ("3300 block of Mount Pleasant.", [("address", "3300 block of Mount Pleasant")]),
        ("need a 4 way stop at Pine and 9th", [("intersection", "Pine & 9th")]),
        ("boarding house at 88 Railway Pde, Granville", [("address", "88 Railway Pde")]),
        # a direction after the suffix word is part of the name, not a side of something
        (
            "Signal out at Lawrence Ave E & Kennedy Rd",
            [("intersection", "Lawrence Ave E & Kennedy Rd")],
        ),
        ("pothole on 17th Ave SW. Please fix", [("street", "17th Ave SW")]),
        (
            "Signal out at Lawrence Ave E & Kennedy, no police",
            [("intersection", "Lawrence Ave E & Kennedy")],
        ),
        ("not shoveled in front of 2811 Fremont Ave S.", [("address", "2811 Fremont Ave S")]),
        ("tree down on Elm St E of the bridge", [("street", "Elm St")]),
        (
            "Pothole on Meridian St East Boston",
            [("street", "Meridian St"), ("neighborhood", "East Boston")],
        ),
        ("no lights on Main St W/ the whole block", [("street", "Main St")]),
        # a direction before the name is part of it too
        ("big pothole at 1200 NE Broadway", [("address", "1200 NE Broadway")]),
        ("pothole on NE Broadway by the bridge", [("street", "NE Broadway")]),
        ("light out on W. Broadway again", [("street", "W. Broadway")]),
        ("the SOUTH Broadway lights", [("street", "Broadway")]),
        # a saint's prefix, a first name with an initial, and the words before "Jr." belong to
        # the name; the initials of a name do not take the word before them
        ("pothole on St. Paul St", [("street", "St. Paul St")]),
        ("traffic on St Mark's Rd again", [("street", "St Mark's Rd")]),
        (
            "Huge pothole on Martin Luther King Jr. Drive",
            [("street", "Martin Luther King Jr. Drive")],
        ),
        ("weeds on Manuel T. Freitas Pkwy", [("street", "Manuel T. Freitas Pkwy")]),
        ("Location M G Cross road, loud music", [("street", "M G Cross road")]),
        ("@MumbaiPolice Andheri J. P. Road blocked", [("street", "J. P. Road")]),
        # a road named by its kind and a number or letter; its number is no house number
        ("drain under the Route 9 bridge is pouring", [("street", "Route 9")]),
        ("water main break on Avenue B", [("street", "Avenue B")]),
        ("debris on Hwy 101 at Main St", [("intersection", "Hwy 101 & Main St")]),
        ("crater on I-35 frontage rd sb", [("street", "I-35")]),
        ("the ramp to get onto Hwy 101 S. The", [("street", "Hwy 101")]),
        ("the US 10 dollar bill at the Avenue Bakery", []),
        # a number is a house number only right before its street's words: never across "at",
        # "on", "and" ...; the last number before the street then is ("between 21 and 71 ...")
        ("apt 3 at 120 Main St, no heat", [("address", "120 Main St")]),
        ("people doing 50 on Beacon Ave S near the school", [("street", "Beacon Ave S")]),
        ("SR 5 closed at Main St", [("street", "Main St")]),
        ("trash dumped between 21 and 71 Clyde Ave", [("address", "71 Clyde Ave")]),
        ("the alley between 810 and 818 5th Avenue", [("address", "818 5th Avenue")]),
        # a fraction is part of the house number
        ("pothole in front of 12 1/2 Oak St", [("address", "12 1/2 Oak St")]),
        ("rats at 45½ Elm Street again", [("address", "45½ Elm Street")]),
    ],
)
def test_location_extraction(text: str, expected: list[tuple[str, str]]) -> None:
    locs = LocationExtractor().extract_one(text)
    assert [(x.kind, x.text) for x in locs] == expected
    for x in locs:
        assert text[x.start : x.end].startswith(x.text.split(" & ")[0].split()[0])


def test_location_neighborhood_and_geocoder() -> None:
    class FakeGeocoder:
        def geocode(self, address: str, city: str) -> tuple[float, float] | None:
            return (1.0, 2.0) if city == "Boston" else None

    locs = LocationExtractor(geocoder=FakeGeocoder()).extract_one(
        "Graffiti at 12 Main St in Jamaica Plain"
    )
    addr = [x for x in locs if x.kind == "address"][0]
    assert addr.neighborhood == "Jamaica Plain"
    assert (addr.lat, addr.lon) == (1.0, 2.0)
    hood = [x for x in locs if x.kind == "neighborhood"][0]
    assert hood.lat is not None and hood.lon is not None


def test_gazetteer_is_per_city() -> None:
    city = Gazetteer.from_dict(
        {
            "city": "Springfield",
            "neighborhoods": [{"name": "Old Town", "lat": 1.0, "lon": 2.0, "aliases": ["oldtown"]}],
            "streets": [{"name": "Evergreen Terrace", "aliases": ["evergreen"]}],
            "landmarks": [
                {
                    "name": "Power Plant",
                    "lat": 3.0,
                    "lon": 4.0,
                    "neighborhood": "Old Town",
                    "aliases": [],
                }
            ],
        }
    )
    ex = LocationExtractor(city)
    assert [(x.kind, x.text) for x in ex.extract_one("smoke near the Power Plant in Oldtown")] == [
        ("landmark", "Power Plant"),
        ("neighborhood", "Oldtown"),
    ]
    assert [(x.kind, x.text) for x in ex.extract_one("evergreen and Main St")] == [
        ("intersection", "evergreen & Main St")
    ]
    assert ex.extract_one("rats in Dorchester") == []  # Boston is not baked into the extractor
    assert Gazetteer.load_default().city == "Boston"


# -- training ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "trial"),
    [
        ("TEST", True),
        ("TEST TEST TEST FOR PSD", True),
        ("[TEST for PSD] restroom needs attention", True),
        ("This is a test.  Please ignore it.", True),
        ("Test request for training purposes", True),
        ("testing please ignore", True),
        ("n/a", True),
        # a report that speaks of a test
        ("please remove failed test lane blockade along San Pedro", False),
        ("Pollution in waterway. Have it tested.", False),
        ("Broken meter \nTest test test", False),
    ],
)
def test_a_trial_of_the_request_form_is_no_training_row(text: str, trial: bool) -> None:
    from classifiers.sources import _placeholder

    assert _placeholder(text) is trial


def test_feedback_rows() -> None:
    rows = feedback_rows(
        [
            {"text": "a", "task": "topic", "label": "noise"},
            {"text": "b", "task": "urgency", "label": "emergency"},
            {"text": "c", "task": "relevance", "label": False},
            {"text": "d", "task": "topic", "label": "not-a-topic"},
        ]
    )
    assert [(r.topic, r.urgency, r.relevant) for r in rows] == [
        ("noise", None, True),
        (None, "emergency", None),
        ("none", None, False),
    ]
    assert all(r.weight > 1 for r in rows)


def test_regressions_guard() -> None:
    old = {
        "evaluation_protocol": "p",
        "headline": {"topic_macro_f1": 0.8, "sentiment_macro_recall": 0.7},
    }
    new = {
        "evaluation_protocol": "p",
        "headline": {"topic_macro_f1": 0.7, "sentiment_macro_recall": 0.71},
    }
    assert regressions(old, new) == ["headline.topic_macro_f1: 0.8000 -> 0.7000"]
    assert regressions(old, {**new, "evaluation_protocol": "other"}) == []


@pytest.mark.skipif(not (DATA_DIR / "topic_map.csv").exists(), reason="shared data not available")
def test_training_smoke(tmp_path: Path) -> None:
    out = tmp_path / "art"
    out.mkdir()
    # an existing model with better metrics: the new one must be refused
    (out / "metrics.json").write_text(
        json.dumps(
            {
                "evaluation_protocol": f"{PROTOCOL}-limit120",
                "headline": {"topic_macro_f1": 0.99, "sentiment_macro_recall": 0.99},
            }
        )
    )
    with pytest.raises(RegressionRefused) as err:
        run_training(DATA_DIR, out, limit=120, seed=1)
    metrics = err.value.metrics
    assert set(metrics["leave_one_source_out"]) == {"topic", "sentiment", "urgency"}
    assert "sanrafael" in metrics["leave_one_source_out"]["topic"]
    # every held-out unit carries the naive reference, trained without the project's own rows
    for units in metrics["leave_one_source_out"].values():
        for rep in units.values():
            naive = rep["naive_tfidf"]
            assert naive["n"] == rep["n"]
            assert 0 < naive["train_rows"] <= rep["train_rows"]
    assert set(metrics["naive_tfidf_headline"]) == set(metrics["headline"])
    in_city = metrics["in_city_sanrafael_20pct"]  # empty when the slice has under 20 reports
    assert not in_city or in_city["naive_tfidf"]["n"] == in_city["n"]
    assert not (out / "model.npz").exists()

    marker = "zorblax flibber wibble"
    feedback = [{"text": marker, "task": "topic", "label": "graffiti"}] * 3
    metrics = run_training(
        DATA_DIR, out, limit=120, seed=1, force=True, feedback=feedback, evaluate=False
    )
    assert metrics["data"]["feedback_rows"] == 3
    assert (out / "model.npz").exists() and (out / "meta.json").exists()
    assert metrics["artifact_bytes"] < 25 * 1024 * 1024
    clf = load_classifier(out)
    assert clf.artifact_hash == metrics["artifact_hash"]
    p = clf.predict([marker, "", "pothole on my street"])
    assert p[0].topic == "graffiti"
    for x in p:
        _check_prediction(x)


def test_train_main_cli(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        train_main(["--help"])
    code = train_main(
        ["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"), "--limit", "5"]
    )
    assert code == 1
    assert not (tmp_path / "o").exists()


def test_naive_baseline_learns_and_degrades_cleanly() -> None:
    texts = ["pothole on my street", "deep pothole here", "graffiti on the wall", "wall graffiti"]
    labels = ["pothole", "pothole", "graffiti", "graffiti"]
    assert naive_tfidf_predict(texts * 3, labels * 3, ["a pothole", "more graffiti"]) == [
        "pothole",
        "graffiti",
    ]
    assert naive_tfidf_predict(texts, labels, []) == []
    # one class only, or words all too rare for the vocabulary: still one label per text
    assert naive_tfidf_predict(texts[:2], labels[:2], ["x", "y"]) == ["pothole", "pothole"]
    assert len(naive_tfidf_predict(["a b", "c d"], ["p", "q"], ["a", "zzz"])) == 2


def test_reconciled_topics_bring_a_city_filing_convention_to_the_taxonomy() -> None:
    from classifiers.training import RECONCILE_SOURCES, reconciled_topics

    city = RECONCILE_SOURCES[0]
    rows = []
    for i in range(30):  # other sources teach the taxonomy
        rows.append(Row(f"the public trash can is overflowing again {i}", "other", topic="trash"))
        rows.append(Row(f"someone dumped a couch and a mattress {i}", "other", topic="dumping"))
    # the city files an overflowing can under dumping; its own dumping report stays dumping
    rows.append(Row("trash can overflowing at the corner", city, topic="dumping"))
    rows.append(Row("a couch was dumped next to the overflowing trash can", city, topic="dumping"))
    # a held-out row of the same city and a row of another source are never touched
    rows.append(Row("trash can overflowing by the bus stop", city, topic="dumping"))
    rows.append(Row("trash can overflowing by the library", "other", topic="dumping"))
    prep = prepare(rows)
    train = np.ones(len(rows), dtype=bool)
    train[-2] = False
    labels, changes = reconciled_topics(prep, train, seed=0)
    assert labels[-4] == "trash"
    assert labels[-3] == "dumping"  # its own topic has a keyword ("dumped")
    assert labels[-2] == "dumping" and labels[-1] == "dumping"
    assert changes == {("dumping", "trash"): 1}
    assert prep.labels["topic"][-4] == "dumping"  # the prepared labels (the test labels) stay
    # nothing of the city in training: nothing to do
    only_others = np.array([r.source != city for r in rows])
    assert reconciled_topics(prep, only_others, seed=0)[1] == {}


def test_judged_sample_scores_the_model_and_the_dataset_labels(tmp_path: Path) -> None:
    from classifiers import evaluate as ev
    from classifiers.training import _add_judged, _text_key

    texts = [f"garbage piled at corner number {i}" for i in range(24)] + ["Garbage!"] * 3
    rows = [Row(t, "city", topic="trash") for t in texts]
    prep = prepare(rows)
    path = tmp_path / "topics.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(
                {
                    "source": "city",
                    "key": ev.judged_key(_text_key(t)),
                    "topic": "dumping",
                    "sure": i % 2 == 0,
                }
            )
            for i, t in enumerate(texts[:-2])  # the repeated text is judged once
        ),
        encoding="utf-8",
    )
    judged = ev.load_judged(path)
    assert len(judged) == 25
    te = np.arange(len(rows))
    pred = ["dumping"] * 20 + ["trash"] * 7
    rep: dict = {}
    _add_judged(rep, prep, te, pred, judged)
    j = rep["taxonomy_judged"]
    assert j["model"]["n"] == 25  # a text repeated in the test rows counts once
    assert j["model"]["accuracy"] == pytest.approx(20 / 25)
    assert j["model_sure"]["n"] == 13
    assert j["city_labels"]["accuracy"] == 0.0  # the dataset says trash, the judgement dumping
    bare: dict = {}
    _add_judged(bare, prep, te, pred, judged, with_city=False)
    assert "city_labels" not in bare["taxonomy_judged"]
    # too few judged rows: nothing reported; a malformed line is an error with its place
    few: dict = {}
    _add_judged(few, prep, te[:5], pred[:5], judged)
    assert "taxonomy_judged" not in few
    path.write_text('{"key": "x"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="topics.jsonl:1"):
        ev.load_judged(path)
    assert ev.load_judged(tmp_path / "missing.jsonl") == {}


def test_relevance_and_topic_ignore_how_a_post_is_written_on_its_platform() -> None:
    from classifiers.features import PLATFORM_STYLE_TOKENS, token_columns

    rows = []
    for i in range(20):
        # the service requests come as forms, the other posts as tweets: a style cue that would
        # teach "a tweet is not a request"
        rows.append(
            Row(f"pothole on elm street number {i}", "form", topic="pothole", relevant=True)
        )
        rows.append(
            Row(
                f"@friend sooooo great game tonight!!! https://t.co/abc {i} #win",
                "tweet",
                relevant=False,
                sentiment="positive",
            )
        )
        rows.append(
            Row(
                f"@friend WORST GAME EVER!!! noooo https://t.co/xyz {i} #loss",
                "tweet",
                relevant=False,
                sentiment="negative",
            )
        )
    prep = prepare(rows)
    cols = token_columns(PLATFORM_STYLE_TOKENS)
    assert len(cols) == len(PLATFORM_STYLE_TOKENS)
    assert set(cols) <= set(prep.X.indices.tolist())  # the tweets do carry them
    everything = np.ones(len(rows), dtype=bool)
    for head in ("relevance", "topic"):
        assert not fit_head(prep, head, everything, seed=0).W[cols].any(), head
    # sentiment keeps them: "!!!" and capitals are how people say how they feel
    assert fit_head(prep, "sentiment", everything, seed=0).W[cols].any()


def test_urgency_thresholds_keep_recall_first_within_their_bounds() -> None:
    from classifiers.model import DEFAULT_THRESHOLDS
    from classifiers.training import urgency_thresholds

    classes = ["emergency", "high", "low", "normal"]
    rng = np.random.default_rng(0)
    y = np.array([0] * 40 + [1] * 40 + [3] * 40)

    def probs(em_level: float) -> np.ndarray:
        p = np.full((len(y), 4), 0.05)
        p[y == 0, 0] = em_level + rng.uniform(0, 0.05, (y == 0).sum())
        p[y == 1, 1] = 0.8
        p[y == 3, 3] = 0.8
        return p

    # crisis emergencies scored high: the threshold follows them (80 % of them above it)
    assert 0.4 < urgency_thresholds(probs(0.42), y, classes)["emergency"] <= 0.5
    # scored low (the model also learnt first-hand emergencies): not below the default, which
    # would flag ordinary service reports as emergencies
    low = urgency_thresholds(probs(0.05), y, classes)
    assert low["emergency"] == DEFAULT_THRESHOLDS["emergency"]
    assert low["urgent"] <= DEFAULT_THRESHOLDS["urgent"]
    # too few emergencies to choose from: the default
    few = np.array([0] * 5 + [3] * 40)
    p_few = np.full((len(few), 4), 0.25)
    assert urgency_thresholds(p_few, few, classes)["emergency"] == DEFAULT_THRESHOLDS["emergency"]
