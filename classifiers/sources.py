"""Prepare: read every dataset in ``../shared/data`` into one table of labelled rows.

Each row carries the labels its source can give (``None`` where it says nothing about a task):
topic through ``topic_map.csv`` (plus this project's own mapping of Boston 311 types), relevance,
urgency from crisis-tweet annotations and sentiment from the tweet corpora.  Hand-written seed
examples (``classifiers/seed/*.jsonl``) and staff corrections from the console join the same table.
Nothing here is copied into the repository: the data is read where it lies.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from classifiers.api import SENTIMENTS, TOPICS, URGENCIES

SEED_DIR = Path(__file__).parent / "seed"
CIVIC_TOPICS: tuple[str, ...] = tuple(t for t in TOPICS if t != "none")


@dataclass(slots=True)
class Row:
    """One labelled text; ``source`` is the dataset, ``group`` a finer unit (event, file)."""

    text: str
    source: str
    group: str = ""
    topic: str | None = None
    relevant: bool | None = None
    urgency: str | None = None
    sentiment: str | None = None
    weight: float = 1.0


class DataError(RuntimeError):
    """The shared data directory is missing or malformed."""


def _read_csv(path: Path) -> Iterator[dict[str, str]]:
    if not path.exists():
        raise DataError(f"missing dataset file: {path}")
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        yield from csv.DictReader(fh)


def load_topic_map(data_dir: Path) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for r in _read_csv(data_dir / "topic_map.csv"):
        label, topic = r["source_label"], r["topic"]
        extra = r.get(None)  # type: ignore[call-overload]
        if extra:  # an unquoted comma inside the label: the topic is the last field
            label, topic = ",".join([label, topic, *extra[:-1]]), extra[-1]
        if topic.strip() in TOPICS:
            out[(r["dataset"].strip(), label.strip())] = topic.strip()
    return out


# The project's own mapping of Boston 311 TYPE names (first matching substring wins).
BOSTON_TYPE_RULES: tuple[tuple[str, str], ...] = (
    ("noise", "noise"),
    ("rooftop & mechanical", "noise"),
    ("working beyond hours", "noise"),
    ("pothole", "pothole"),
    ("roadway repair", "pothole"),
    ("street light", "streetlight"),
    ("lighting", "streetlight"),
    ("knockdown", "streetlight"),
    ("major system failure", "streetlight"),
    ("snow", "snow_ice"),
    ("unshoveled", "snow_ice"),
    ("space saver", "snow_ice"),
    ("icy", "snow_ice"),
    ("graffiti", "graffiti"),
    ("tree", "tree"),
    ("planting", "tree"),
    ("sidewalk repair", "sidewalk"),
    ("curb", "sidewalk"),
    ("sign", "signal_sign"),
    ("traffic signal repair", "signal_sign"),
    ("traffic signal inspection", "signal_sign"),
    ("pavement marking", "signal_sign"),
    ("traffic signal studies", "traffic_safety"),
    ("traffic engineering", "traffic_safety"),
    ("abandoned vehicle", "parking"),
    ("parking", "parking"),
    ("meter", "parking"),
    ("no-tow", "parking"),
    ("street cleaning", "street_cleaning"),
    ("catchbasin", "water_sewer"),
    ("hydrant", "water_sewer"),
    ("watermain", "water_sewer"),
    ("sewer", "water_sewer"),
    ("bwsc general", "water_sewer"),
    ("equipment repair", "parks"),
    ("ground maintenance", "parks"),
    ("park", "parks"),
    ("rodent", "pests"),
    ("dead animal", "pests"),
    ("infestation", "pests"),
    ("bed bugs", "pests"),
    ("mosquito", "pests"),
    ("rat bite", "pests"),
    ("unsanitary conditions", "pests"),
    ("needle", "encampment"),
    ("heat - excessive", "housing"),
    ("residential", "housing"),
    ("living conditions", "housing"),
    ("unsatisfactory utilities", "housing"),
    ("poor conditions of property", "housing"),
    ("abandoned building", "housing"),
    ("building inspection", "housing"),
    ("unsafe dangerous", "housing"),
    ("rooming house", "housing"),
    ("illegal occupancy", "housing"),
    ("overcrowding", "housing"),
    ("lead", "housing"),
    ("ventilation", "housing"),
    ("rental unit", "housing"),
    ("egress", "housing"),
    ("breathe easy", "housing"),
    ("maintenance - homeowner", "housing"),
    ("illegal dumping", "dumping"),
    ("trash on vacant lot", "dumping"),
    ("construction debris", "dumping"),
    ("litter basket", "trash"),
    ("bulk item", "trash"),
    ("missed trash", "trash"),
    ("dumpster", "trash"),
    ("recycling cart", "trash"),
    ("storage of trash", "trash"),
    ("general request", "other_service"),
    ("mbta", "other_service"),
    ("animal", "other_service"),
    ("bicycle", "other_service"),
    ("contractor", "other_service"),
    ("news boxes", "other_service"),
    ("utility", "other_service"),
    ("bridge", "other_service"),
    ("highway maintenance", "other_service"),
    ("electrical", "housing"),
    ("plumbing", "housing"),
    ("mechanical", "housing"),
)
BOSTON_URGENT = {
    "Tree Emergencies": "high",
    "Downed Wire": "emergency",
    "Watermain Break": "high",
    "Carbon Monoxide": "emergency",
    "Unsafe Dangerous Conditions": "high",
    "Fire in Food Establishment": "emergency",
    "Major System Failure": "high",
    "No Utilities Residential - Gas": "high",
    "No Utilities Residential - Electricity": "high",
    "Heat - Excessive  Insufficient": "high",
    "Street Light Knock Downs": "high",
    "Sidewalk Repair (Make Safe)": "high",
    "Traffic Signal Repair": "high",
}


def boston_topic(type_name: str) -> str | None:
    t = type_name.lower()
    for needle, topic in BOSTON_TYPE_RULES:
        if needle in t:
            return topic
    return None


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


# what staff type to try the request form: no report, whatever category the form was left on
PLACEHOLDERS = frozenset(["sample", "n/a", "na", "none"])
# a trial of the form ("test", "testing") and in more words: "TEST TEST TEST FOR PSD", "[TEST for PSD] restroom needs
# attention", "This is a test.  Please ignore it.", "Test request for training purposes"
TEST_SUBMISSION = re.compile(
    r"^\W*(?:test(?:ing)?\b|this is a test\b|we are testing\b)|\btest (?:request|submission)\b|"
    r"\bfor training purposes\b|\bplease ignore\b|\bq&a test\b",
    re.IGNORECASE,
)


def _placeholder(text: str) -> bool:
    return text.lower().strip(" .!?-") in PLACEHOLDERS or TEST_SUBMISSION.search(text) is not None


def load_sanrafael(data_dir: Path, tmap: dict[tuple[str, str], str]) -> list[Row]:
    rows = []
    for r in _read_csv(data_dir / "sanrafael_311_seeclickfix" / "sanrafael_311_2022_2026.csv"):
        text = _clean(r.get("description"))
        if len(text) < 3 or _placeholder(text):
            continue
        cat = r.get("category_short", "").strip()
        topic = tmap.get(("sanrafael", cat))
        rows.append(Row(text, "sanrafael", cat, topic=topic, relevant=True, urgency="normal"))
    return rows


# a Bengaluru "Waste/Garbage" complaint names its waste (or bins, collection, the smell); rows that do
# not are left out of topic training
NAAGARIK_WASTE_CUE = re.compile(
    r"garbage|waste|trash|dust ?bin|dump|litter|plastic|rubbish|debris|smell|stink|stench|clean|sweep"
    r"|\bbins?\b|filth|dirt|kachra|kasa|segregat|collect|pick ?up|mosquito|rot",
    re.IGNORECASE,
)


def load_naagarik(data_dir: Path, tmap: dict[tuple[str, str], str]) -> list[Row]:
    rows = []
    for r in _read_csv(data_dir / "bangalore_civic_naagarik" / "naagarik_finalData.csv"):
        text = _clean(r.get("description"))
        if len(text) < 3:
            continue
        if r.get("civic_issue") == "1":
            topic = tmap.get(("naagarik", r.get("category", "").strip()))
            if topic == "trash" and not NAAGARIK_WASTE_CUE.search(text):
                # "Waste/Garbage" also holds water-board tweets, news and spam: relevant, but they
                # would teach "any complaint tweet is trash"
                topic = None
            rows.append(
                Row(
                    text,
                    "naagarik",
                    "civic",
                    topic=topic,
                    relevant=True,
                    urgency="normal",
                    weight=0.6,
                )
            )
        else:
            rows.append(
                Row(
                    text,
                    "naagarik",
                    "chatter",
                    topic="none",
                    relevant=False,
                    urgency="low",
                    weight=0.6,
                )
            )
    return rows


def load_mumbai(data_dir: Path, tmap: dict[tuple[str, str], str]) -> list[Row]:
    rows = []
    for r in _read_csv(data_dir / "mumbai_civic_tweets" / "mumbai_civic_tweets_train.csv"):
        text = _clean(r.get("tweet"))
        if len(text) < 3:
            continue
        if r.get("complaint") == "1":
            topic = tmap.get(("mumbai", r.get("category_name", "").strip()))
            rows.append(
                Row(text, "mumbai", "complaint", topic=topic, relevant=True, urgency="normal")
            )
        else:
            rows.append(
                Row(text, "mumbai", "not_complaint", topic="none", relevant=False, urgency="low")
            )
    return rows


def load_nyc(data_dir: Path, tmap: dict[tuple[str, str], str]) -> list[Row]:
    rows = []
    for r in _read_csv(data_dir / "nyc_311_sample" / "ny311_ready_900.csv"):
        ctype, desc = r.get("Complaint Type", "").strip(), r.get("Descriptor", "").strip()
        topic = tmap.get(("nyc311", ctype))
        text = _clean(f"{desc} {ctype}".replace("/", " / "))
        rows.append(
            Row(text, "nyc311", ctype, topic=topic, relevant=True, urgency="normal", weight=0.5)
        )
    return rows


def load_boston(data_dir: Path) -> list[Row]:
    seen: set[tuple[str, str]] = set()
    rows = []
    for r in _read_csv(
        data_dir / "boston_311_2015_sample" / "boston_311_2015_stratified_sample.csv"
    ):
        type_name = r.get("TYPE", "").strip()
        topic = boston_topic(type_name)
        urgency = BOSTON_URGENT.get(type_name, "normal")
        for text in (
            _clean(r.get("CASE_TITLE")),
            _clean(type_name),
            _clean(f"{r.get('REASON', '')} {type_name}"),
        ):
            if len(text) < 4 or (text, type_name) in seen:
                continue
            seen.add((text, type_name))
            rows.append(
                Row(
                    text,
                    "boston311",
                    type_name,
                    topic=topic,
                    relevant=True,
                    urgency=urgency,
                    weight=2.0,
                )
            )
    return rows


def load_complaints_twitter(data_dir: Path) -> list[Row]:
    rows = []
    smap = {"positive": "positive", "neutral": "neutral", "negative": "negative"}
    for r in _read_csv(
        data_dir / "complaints_twitter" / "xci_complaints_severity_sentiment_emotion.csv"
    ):
        text = _clean(r.get("tweet"))
        if len(text) < 3:
            continue
        urgency = "low" if r.get("label") == "0" else "normal"
        rows.append(
            Row(
                text,
                "complaints_twitter",
                r.get("domain", ""),
                topic="none",
                relevant=False,
                urgency=urgency,
                sentiment=smap.get(r.get("sentiment", "").strip().lower()),
                weight=0.5,
            )
        )
    return rows


CRISISLEX_HIGH = {"Affected individuals", "Infrastructure and utilities", "Caution and advice"}


def load_crisislex(data_dir: Path) -> list[Row]:
    rows = []
    for r in _read_csv(data_dir / "crisislex_t26" / "crisislex_t26_labeled.csv"):
        text = _clean(r.get("tweet_text"))
        if len(text) < 3:
            continue
        inf, itype, event = (
            r.get("informativeness", ""),
            r.get("information_type", ""),
            r.get("event", ""),
        )
        topic: str | None = None
        relevant: bool | None = None
        if inf == "Not related":
            urgency, topic, relevant = "low", "none", False
        elif inf != "Related and informative":
            urgency = "low"
        elif itype in CRISISLEX_HIGH:
            urgency = "high"
        elif itype == "Sympathy and support":
            urgency, topic, relevant = "low", "none", False
        else:
            urgency = "normal"
        rows.append(
            Row(text, "crisislex_t26", event, topic=topic, relevant=relevant, urgency=urgency)
        )
    for r in _read_csv(data_dir / "crisislex_t6" / "crisislex_t6_ontopic_offtopic_sample18k.csv"):
        text = _clean(r.get("tweet_text"))
        if r.get("label") == "off-topic" and len(text) >= 3:
            rows.append(
                Row(
                    text,
                    "crisislex_t6",
                    r.get("event", ""),
                    topic="none",
                    relevant=False,
                    urgency="low",
                    weight=0.5,
                )
            )
    return rows


# TREC-IS "actionable" information types
TREC_HIGH = {
    "SearchAndRescue",
    "MovePeople",
    "EmergingThreats",
    "GoodsServices",
    "NewSubEvent",
    "ServiceAvailable",
    "MedicalAid",
}
TREC_EMERGENCY = {"SearchAndRescue", "MedicalAid"}
TREC_LOW = {"Irrelevant", "Sentiment", "Hashtags", "Discussion"}


def trec_urgency(priority: str, categories: Iterable[str]) -> str:
    cats = set(categories)
    if priority in ("Critical",) or cats & TREC_EMERGENCY:
        return "emergency"
    if priority in ("High", "Medium") or cats & TREC_HIGH:
        return "high"
    if not cats or cats <= TREC_LOW:
        return "low"
    return "normal"


def load_trec(data_dir: Path) -> list[Row]:
    rows = []
    for r in _read_csv(data_dir / "trec_is" / "trecis_2019B_fixture_ucd_preprocessed.csv"):
        text = _clean(r.get("text"))
        if len(text) < 3:
            continue
        cats = [c for c in (r.get("categories") or "").split("|") if c]
        rows.append(
            Row(
                text,
                "trec_is",
                r.get("event_id", ""),
                urgency=trec_urgency(r.get("priority", ""), cats),
            )
        )
    return rows


def load_disaster_response(data_dir: Path) -> list[Row]:
    rows = []
    for r in _read_csv(
        data_dir / "disaster_response_messages" / "disaster_response_validation.csv"
    ):
        text = _clean(r.get("message"))
        if len(text) < 3:
            continue

        def on(k: str, r: dict[str, str] = r) -> bool:
            return r.get(k) == "1"

        if not on("related"):
            urgency = "low"
        elif (
            on("search_and_rescue") or on("medical_help") or on("death") or on("missing_people")
        ) and (on("request") or on("direct_report")):
            urgency = "emergency"
        elif on("request") or (
            on("direct_report")
            and (
                on("infrastructure_related")
                or on("weather_related")
                or on("buildings")
                or on("water")
                or on("food")
                or on("shelter")
            )
        ):
            urgency = "high"
        else:
            urgency = "normal"
        rows.append(Row(text, "disaster_response", r.get("genre", ""), urgency=urgency))
    return rows


def load_sentiment(data_dir: Path, none_every: int = 4) -> list[Row]:
    """General tweets: sentiment labels; every ``none_every``-th also teaches relevance=none."""
    rows = []
    base = data_dir / "sentiment_tweets"
    i = 0

    def add(text: str, label: str, source: str, group: str) -> None:
        nonlocal i
        text = _clean(text.replace("\\u2019", "'").replace("\\u002c", ",").replace("\\u2018", "'"))
        if len(text) < 3 or label not in SENTIMENTS:
            return
        i += 1
        extra = i % none_every == 0
        rows.append(
            Row(
                text,
                source,
                group,
                sentiment=label,
                topic="none" if extra else None,
                relevant=False if extra else None,
                urgency="low" if extra else None,
            )
        )

    for r in _read_csv(base / "semeval2013_2016_task4A_train.csv"):
        add(
            r.get("text", ""),
            r.get("label_name", "").strip().lower(),
            "semeval",
            r.get("source_file", ""),
        )
    for r in _read_csv(base / "tweeteval_sentiment_emotion_trainval.csv"):
        if r.get("task") == "sentiment":
            add(
                r.get("text", ""),
                r.get("label_name", "").strip().lower(),
                "tweeteval",
                r.get("split", ""),
            )
    for r in _read_csv(base / "vader_icwsm2014_tweets_groundtruth.csv"):
        add(r.get("text", ""), r.get("label_3way", "").strip().lower(), "vader", "vader")
    return rows


def load_seeds(seed_dir: Path = SEED_DIR) -> list[Row]:
    """Hand-written examples of the project's own (JSONL: text, topic?, urgency?, sentiment?)."""
    rows = []
    for path in sorted(seed_dir.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            d = json.loads(line)
            topic = d.get("topic")
            rows.append(
                Row(
                    d["text"],
                    "seed",
                    path.stem,
                    topic=topic,
                    relevant=None if topic is None else topic != "none",
                    urgency=d.get("urgency"),
                    sentiment=d.get("sentiment"),
                    weight=float(d.get("weight", 3.0)),
                )
            )
    return rows


def feedback_rows(feedback: Iterable[dict[str, object]], weight: float = 5.0) -> list[Row]:
    """Staff corrections from the console: ``{"text", "task", "label"}``, weighted above the data."""
    rows = []
    for d in feedback:
        text, task, label = str(d.get("text", "")), str(d.get("task", "")), d.get("label")
        if not text.strip():
            continue
        row = Row(text, "feedback", task, weight=weight)
        if task == "topic" and label in TOPICS:
            row.topic, row.relevant = str(label), label != "none"
        elif task == "relevance" and isinstance(label, bool | int | str):
            rel = (
                label
                if isinstance(label, bool)
                else str(label).lower() in ("1", "true", "yes", "relevant")
            )
            row.relevant = bool(rel)
            if not rel:
                row.topic = "none"
        elif task == "urgency" and label in URGENCIES:
            row.urgency = str(label)
        elif task == "sentiment" and label in SENTIMENTS:
            row.sentiment = str(label)
        else:
            continue
        rows.append(row)
    return rows


def load_feedback_file(path: Path) -> list[dict[str, object]]:
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def load_all(data_dir: Path, *, limit: int | None = None, seed: int = 0) -> list[Row]:
    """Every dataset (each cut to ``limit`` rows, sampled, when given) plus the seed examples."""
    data_dir = Path(data_dir)
    if not (data_dir / "topic_map.csv").exists():
        raise DataError(f"no topic_map.csv in {data_dir}: is --data pointing at ../shared/data?")
    tmap = load_topic_map(data_dir)
    parts = [
        load_sanrafael(data_dir, tmap),
        load_naagarik(data_dir, tmap),
        load_mumbai(data_dir, tmap),
        load_nyc(data_dir, tmap),
        load_boston(data_dir),
        load_complaints_twitter(data_dir),
        load_crisislex(data_dir),
        load_trec(data_dir),
        load_disaster_response(data_dir),
        load_sentiment(data_dir),
    ]
    rng = random.Random(seed)
    rows: list[Row] = []
    for part in parts:
        if limit is not None and len(part) > limit:
            part = rng.sample(part, limit)
        rows.extend(part)
    rows.extend(load_seeds())
    return rows
