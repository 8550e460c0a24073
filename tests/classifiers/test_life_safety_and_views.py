"""Life-safety rules force emergency; keyword evidence and relevance; per-city gazetteer views."""

from __future__ import annotations

import pytest

from classifiers import Gazetteer, load_classifier
from classifiers.features import Analysis, analyse
from classifiers.model import CivicClassifier, GazetteerView, relevance_decision

EMERGENCIES = [
    "I smell gas on Adams St in Dorchester, strong!!",
    "GAS SMELL VERY STRONG on Bowdoin St, whole building outside",
    "carbon monoxide alarm going off in my apartment",
    "MANHOLE EXPLOSION on Summer St",
    "a kid got hit by a car on Blue Hill Ave",
    "shots fired on Elm St right now",
    "man unconscious on the sidewalk, not breathing",
    "wires down and sparking on the sidewalk",
    "kitchen fire in the apartment upstairs, smoke pouring out",
    "two people trapped in the car after the crash",
    "water pouring into our basement and it's up to the electrical panel",
    "huele a gas en todo el edificio",
    "Ngửi thấy mùi gas rất nặng ở Bowdoin St!! Đã gọi 911.",
    "Mwen pran sant gaz nan lari a!! Tout moun soti nan kay la.",
    "Hudson St 有很大的煤气味，已经打911",
    "someone just got shot outside the bodega on Blue Hill Ave",
    "a guy shot his neighbor on Elm St, police on the way",
    "there are 6 people under the rubbles of the school",
    "Car just plowed through the crosswalk at 16th & Mission and hit a pedestrian",
    "someone is doing CPR on a man outside the library",
    "person in a tent not moving, been there all day",
    "CAR STUCK IN THE FLOODED UNDERPASS, water up to the windows and someone's still inside",
    "tree limbs touching the power lines on Harvard St, sparks when its windy",
    "encampment fire under the bridge at 35W & Lake, lots of smoke",
    # a person named by a pronoun or a stronger word, someone still inside, a call to 999 or 119
    "Girl fell from the climbing frame at the playground. She's badly hurt, ambulance called",
    "old man slipped on the ice outside the library, he is bleeding from the head",
    "tree came down on a car on Anzac Pde, there's someone still inside, can't get the door open",
    "water already inside the houses on Victoria Rd and the old lady next door can't get out",
    "I heard gunshots on Elm St just now",
    "the apartment next door is on fire, everyone out",
    "my apartment is burning",
    "Cháy nhà ở hẻm 51 Cao Thắng, mọi người tránh xa!!",
    "man collapsed outside the station, we've called 999",
    "Huele muchísimo a gas en Ponzano esquina Ríos Rosas",
    "Cheira imenso a gás na Rua do Almada, as pessoas estão a sair dos prédios",
    # swept into water, trapped below ground, a seizure, a fall with a head injury, a mauling
    "two kids got swept into the river by the weir on Mill Rd",
    "a worker is trapped in a trench on Oak St and the sides keep slipping",
    "the wall of the dig caved in on a worker at the site on Elm St",
    "my son has been fitting for ten minutes and the ambulance isn't here",
    "my dad fell off the roof fixing the gutter and is bleeding from his ear",
    "the little girl fell off her bike outside no 12 and isn't waking up",
    "a pit bull is mauling a man outside the school on Elm St",
    "a van hit a jogger on the bridge, he's lying in the road",
    "someone is holding a knife to a woman's throat outside the station",
]

NOT_FORCED = [
    "Griffin on fire tonight, 23 points in the 3rd",
    "Bomb Squad bake sale Thursday!",
    "2-of-13 shooting on Friday, rough night",
    "Someone is going to get hit by a car at this corner, we need a crosswalk",
    "mi hijo casi fue atropellado en el cruce",
    "the kids are dying to play in the snow",
    "my idea for a bike lane was shot down again",
    "someone shot a video of the flooded underpass",
    "people shot off fireworks all night on our block",
    "kids shot fireworks at cars again",
    "encampment fire hazard near the brush",
    "the limb may fall and hit a pedestrian",
    "traffic not moving on I-94 again",
    "a CPR class at the library on Saturday",
    "he's hurt his back lifting the bins, the collection is too heavy",
    "this sidewalk is so bad someone could get badly hurt",
    "I have called 100 times about this pothole",
    "cars parked in the loading zone by the clinic, the ambulance couldn't pull up",
    "Loose pit bull attacked my dog on Crawford Ave",
    "a family of quail were stuck in the storm drain on 5th Ave",
    "leaves swept into the drain again, street cleaning please",
    "my son is not waking up in time for school with the bin lorry at 5am",
    "the new contractor keeps fitting the wrong bulbs in the street lights",
]


@pytest.fixture(scope="module")
def clf() -> CivicClassifier:
    return load_classifier(jobs=1)


@pytest.mark.parametrize("text", EMERGENCIES)
def test_life_safety_sets_emergency_outright(clf: CivicClassifier, text: str) -> None:
    p = clf.predict([text])[0]
    assert p.urgency == "emergency", text
    assert "emergency by life-safety rule (recall first)" in p.evidence["urgency"]
    assert any(e.startswith("life-safety rule:") for e in p.evidence["urgency"])
    assert p.urgency_score >= 0.8


def test_a_life_safety_post_without_a_service_topic_scores_the_rule_not_the_model(
    clf: CivicClassifier,
) -> None:
    texts = [t for t in EMERGENCIES if not analyse(t)[1].keywords]
    assert len(texts) >= 5
    probs, _ = clf.probabilities(texts)
    topics = clf.heads["topic"].classes
    other = topics.index("other_service")
    preds = clf.predict(texts)
    assert sum(p.relevant for p in preds) >= 3
    for text, p, pt in zip(texts, preds, probs["topic"], strict=True):
        if not p.relevant:
            continue
        assert p.topic == "other_service", text
        # the model's own choice, overruled, is what the score leaves out
        assert p.topic_score == pytest.approx(max(pt[other], 1.0 - pt.max()), abs=1e-4), text
        assert pt[other] <= p.topic_score <= 1.0


@pytest.mark.parametrize("text", NOT_FORCED)
def test_idioms_and_hedged_harm_are_not_forced(text: str) -> None:
    assert analyse(text)[1].life_safety == []


def test_hedge_only_covers_harm_to_people_just_before_it() -> None:
    # a hedge word does not cancel a gas leak
    assert analyse("I think I smell gas, it could be the stove")[1].life_safety == ["gas_leak"]
    # nor harm that happened, when the hedge word is elsewhere in the post
    an = analyse("a man was hit by a car on Elm St, will someone send an ambulance")[1]
    assert an.life_safety == ["person_hurt"] and not an.hedged
    an = analyse("Someone is going to get hit by a car at this corner")[1]
    assert an.life_safety == [] and an.hedged


AID_REQUESTS = [
    "We need food in Terre Noire, please. We are starving.",
    "The people in Silo have no tents. We are sleeping outside.",
    "WE ARE A GROUP OF VICTIMS ON THE ROAD GRAND RAVIN, WE DONT HAVE HELP YET",
    "since the storm we have not received any food or drinking water",
    "Where can I find a tent and food?",
    "Please do not forget us, nothing has come to our shelter",
    "I am in the camp near the church, I can't find food nor water to drink",
    "They're hungry, they need something to eat",
    "My house broke down, I sleep in the street",
    "we don't have anything please do something for us",
    "Good evening, when will I get help? We need clean water, food and tents. thanks",
    "what i need is:food,tent,thanks for your understanding",
    "Please come save me. We are in Betin",
    "Today is the 21st day we have found nothing to eat.",
    "Since the catastrophe the population hasn't received anything from the distribution",
    "I am pregnant. My house has been destroyed. I am living in the street.",
    "We are desperate for food and water.",
    "SEND US A TENT, WE CANNOT FIX IT OURSELVES",
    "we are hungry please help us now otherwise we die",
    "THERE ARE MANY VICTIMS BUT THEY DON'T FIND ANYTHING YET.",
    "I'm sleeping outside with a lot of other people and babies too",
]
NOT_AID_REQUESTS = [
    "Red Cross trucks brought food and water to 2,000 families in the valley",
    "Donate to help the victims: they need blankets and clothes",
    "the water main break on Elm St was fixed this morning",
    "I have no idea when the trash truck comes",
    "I am so hungry lol where is the pizza",
    "we sleep outside tonight under the stars, camping trip!",
    "I can't find parking anywhere near the stadium",
    "please save me a seat at the budget hearing",
    "I live on the street with the pothole, when will it be fixed",
    "we live by the open space and need a lot of street sweeping",
    "I haven't received anything from the city about my permit",
    "send me the link to pay the water bill",
    "I'm trapped in traffic on the bridge again lol",
    "I don't find anything on your website about permits",
]


@pytest.mark.parametrize("text", AID_REQUESTS)
def test_requests_for_the_necessities_of_survival_are_urgent(
    clf: CivicClassifier, text: str
) -> None:
    assert "aid_request" in analyse(text)[1].rules, text
    assert clf.predict([text])[0].urgency in ("high", "emergency"), text


@pytest.mark.parametrize("text", NOT_AID_REQUESTS)
def test_news_and_appeals_about_aid_are_not_requests(text: str) -> None:
    assert "aid_request" not in analyse(text)[1].rules, text


def test_a_plea_for_aid_is_at_least_high_even_when_the_model_is_sure_it_is_not() -> None:
    from classifiers.model import DEFAULT_THRESHOLDS, urgency_decision

    classes = ["emergency", "high", "normal", "low"]
    sure_low = [0.001, 0.009, 0.09, 0.9]
    j, score, used = urgency_decision(sure_low, ["aid_request"], classes, DEFAULT_THRESHOLDS)
    assert classes[j] == "high"
    assert score == pytest.approx(0.01)  # the model's urgent mass: below review, a person checks
    assert used == ["aid_request"]
    # other rules leave a sure model alone
    j, _, used = urgency_decision(
        sure_low, ["question", "crisis_report"], classes, DEFAULT_THRESHOLDS
    )
    assert classes[j] == "low" and used == []
    # a danger rule beside the plea lifts it even so: "we are dying of hunger"
    j, _, used = urgency_decision(
        sure_low, ["person_hurt", "aid_request"], classes, DEFAULT_THRESHOLDS
    )
    assert classes[j] == "emergency" and used == ["person_hurt"]
    j, _, used = urgency_decision(sure_low, ["person_hurt"], classes, DEFAULT_THRESHOLDS)
    assert classes[j] == "low" and used == []


# hazards of a city service that put people at risk, as residents report them
PEOPLE_AT_RISK = [
    "storm drain grate missing, open hole in the street at Harvard & Elm",
    "The lamp post by the bus stop is leaning badly, looks like it could fall on someone waiting",
    "big limb cracked, before someone gets hurt please send a crew",
    "signal stuck on red for 12th, people running it",
    "One Way sign on Chestnut is gone, cars going the wrong way all day",
    "load of lumber fell off a truck, planks all over the left lanes of the freeway",
    "widow maker hanging over the bus stop on Kirby Dr",
    "The tree on the corner split in half, half of it is resting on a parked car",
    "stray dog on Lake Ave, looks aggressive, following people",
    "Raccoon acting strange in the daytime, walking in circles near the school",
    "Building at 2201 Marshall has no working smoke detectors in the hallways",
    "I nearly got hit crossing at Broad and Olney, the walk signal never comes on",
    "rebar sticking out of the curb in front of 60 Hawthorne",
]
NOT_AT_RISK = [
    "I fell in love with this neighborhood",
    "that nap almost killed me, missed the whole game",
    "the tree out front is leaning a bit, can someone look at it next time you're around",
    "almost hit 1000 followers!",
    "we are going the wrong way on climate policy",
    "the smoke detector at home keeps chirping lol",
]


@pytest.mark.parametrize("text", PEOPLE_AT_RISK)
def test_a_hazard_that_puts_people_at_risk_is_high(clf: CivicClassifier, text: str) -> None:
    assert "person_at_risk" in analyse(text)[1].rules, text
    assert clf.predict([text])[0].urgency in ("high", "emergency"), text


@pytest.mark.parametrize("text", NOT_AT_RISK)
def test_hyperbole_and_ordinary_reports_put_no_one_at_risk(text: str) -> None:
    assert "person_at_risk" not in analyse(text)[1].rules, text


def test_a_person_at_risk_is_at_least_high_but_lifts_no_danger_rule() -> None:
    from classifiers.model import DEFAULT_THRESHOLDS, urgency_decision

    classes = ["emergency", "high", "normal", "low"]
    sure_normal = [0.001, 0.009, 0.9, 0.09]
    j, score, used = urgency_decision(sure_normal, ["person_at_risk"], classes, DEFAULT_THRESHOLDS)
    assert classes[j] == "high" and used == ["person_at_risk"]
    assert score == pytest.approx(0.01)  # below review: a person checks the model's doubt
    # unlike a plea for aid, it does not make a danger rule beside it an emergency
    j, _, used = urgency_decision(
        sure_normal, ["person_hurt", "person_at_risk"], classes, DEFAULT_THRESHOLDS
    )
    assert classes[j] == "high" and used == ["person_at_risk"]
    # thanks for a job done stays low
    j, _, _ = urgency_decision(
        sure_normal, ["person_at_risk", "thanks"], classes, DEFAULT_THRESHOLDS, praise=True
    )
    assert classes[j] == "low"


def test_keywords_in_more_languages() -> None:
    assert ("pothole", "坑洞") in analyse("Brighton Ave 上有一个很大的坑洞")[1].keywords
    assert [t for t, _ in analyse("Tuyết chưa được dọn trên vỉa hè")[1].keywords] == [
        "snow_ice",
        "sidewalk",
    ]
    assert "housing" in [t for t, _ in analyse("Pa gen chofaj nan apatman mwen")[1].keywords]


@pytest.mark.parametrize(
    ("text", "topics"),
    [
        # scripts whose words take particles and endings: stems found inside the words
        ("집 앞 가로등이 며칠째 꺼져 있어요", ["streetlight"]),
        ("Во дворе огромные ямы, машины ломаются", ["pothole"]),
        ("прямая дорога до центра", []),  # "яма" inside another word is no pit
        ("الحفرة في الشارع كبيرة جدا", ["pothole"]),
        ("हमारी गली में सड़क पर गड्ढे हैं", ["pothole"]),
        # the shared garbage words: trash only when a pickup or a bin is named
        ("쓰레기 수거가 일주일째 안 됐어요", ["trash", "dumping", "trash"]),
        ("공터에 쓰레기가 잔뜩 버려져 있어요", ["dumping"]),
        ("мусор не вывозят уже неделю", ["trash", "dumping", "trash"]),
        # Latin-script languages, with and without their accents
        ("Tem um buraco enorme na calçada da minha rua", ["pothole", "sidewalk"]),
        ("xe rac ko toi hem nha toi 3 ngay roi", ["trash"]),
        ("May natumbang puno sa kanto namin", ["tree"]),
        ("Gaariga qashinka ma iman toddobaadkan", ["trash"]),
        ("Le déneigement n'est pas fait sur notre rue", ["snow_ice"]),
    ],
)
def test_keywords_in_the_languages_residents_write_in(text: str, topics: list[str]) -> None:
    assert [t for t, _ in analyse(text)[1].keywords] == topics


def test_a_word_keeps_its_combining_marks() -> None:
    # Devanagari vowel signs and the nukta are marks, not letters: the word stays whole
    from classifiers.features import _WORD

    assert _WORD.findall("सड़क पर बड़ा गड्ढा") == ["सड़क", "पर", "बड़ा", "गड्ढा"]
    assert _WORD.findall("don't café") == ["don't", "café"]


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("Cheiro forte de gás no prédio, todo mundo saiu", "gas_leak"),
        ("Odeur de gaz dans l'escalier, on est tous dehors", "gas_leak"),
        ("В подъезде сильно пахнет газом", "gas_leak"),
        ("건물 2층에서 가스 냄새가 나요", "gas_leak"),
        ("Fio de alta tensão caído na calçada soltando faísca", "live_wire"),
        ("Fil kouran tonbe atè devan lekòl la", "live_wire"),
        ("Un piéton renversé par une voiture, il saigne beaucoup", "person_hurt"),
        ("Nasagasaan ang bata sa tapat ng school, duguan", "person_hurt"),
        ("Água entrando nas casas da nossa rua, ajuda", "flood_into_homes"),
        ("المية داخلة البيوت في شارعنا", "flood_into_homes"),
        ("Caiu uma árvore enorme no meio da avenida", "tree_blocking"),
        ("Bueiro sem tampa na frente da escola", "open_hole"),
    ],
)
def test_danger_cues_in_more_languages(text: str, rule: str) -> None:
    assert rule in analyse(text)[1].rules


@pytest.mark.parametrize(
    "text",
    [
        "A criança pode se machucar no parquinho",  # could get hurt: no one is
        "Фонари не горят вторую неделю",  # lights that do not "burn" are out, not on fire
        "La fuite d'eau continue rue Cartier",
    ],
)
def test_danger_cues_in_more_languages_need_the_danger(text: str) -> None:
    from classifiers.features import RULE_LEVEL

    assert not [r for r in analyse(text)[1].rules if RULE_LEVEL[r] == "emergency"]


@pytest.mark.parametrize(
    ("text", "topics"),
    [
        ("graffiti on the back of a stop sign", ["graffiti"]),
        ("Trash along the sidewalk on Sonoma Street", ["dumping"]),
        ("car parked at the red curb again", ["parking"]),
        ("pothole in front of the park", ["pothole"]),
        ("a couch left on the sidewalk", ["dumping", "dumping"]),
        # the only keyword stays, even where it names a place
        ("something broken on the sidewalk", ["sidewalk"]),
        ("tree fell in the park", ["tree"]),
        # the place is the problem's own topic: nothing is dropped
        ("broken swing in the park", ["parks", "parks"]),
        # people are never a place: "by" names who left it
        ("Piles of trash left behind by unhoused residents", ["dumping", "dumping", "encampment"]),
        ("needles by the homeless tents", ["encampment"] * 3),
        # and in Spanish
        ("Tiraron un colchón y muebles en la banqueta", ["dumping"] * 3),
        ("Hay una plaga de ratas en el parque", ["pests", "pests"]),
        ("Aguja tirada en la acera cerca de la escuela", ["encampment"]),
        # where it comes out of
        ("rats coming out of the storm drain at 33rd", ["pests"]),
        ("water coming out of the hydrant", ["water_sewer"]),
    ],
)
def test_keywords_that_only_say_where_do_not_count(text: str, topics: list[str]) -> None:
    assert [t for t, _ in analyse(text)[1].keywords] == topics


@pytest.mark.parametrize(
    ("text", "topics"),
    [
        # "garbage" names both where the post names the collection service; the rest decides
        ("garbage not picked up on Elm St", ["trash", "dumping", "trash"]),
        ("no recogieron la basura", ["trash", "trash", "dumping"]),
        ("the garbage truck never came, garbage everywhere", ["trash", "trash", "dumping"]),
        ("Garbage is over flowing", ["trash", "dumping"]),
        # (the bin only says where, so it is no keyword, but it still names the service)
        ("garbage piled next to the dustbin", ["trash", "dumping"]),
        # without a pickup, collector, truck or bin it is litter: dumping alone
        ("garbage dumped behind the store", ["dumping", "dumping"]),
        ("Lots of illegal garbage", ["dumping"]),
        ("Garbage thrown on the road near the school", ["dumping"]),
        ("a robin in the cabin, trash on the porch", ["dumping"]),
        ("Waste are scattered near the lake", ["dumping"]),
        ("waste collection truck did not come", ["trash"]),
        # garbage left uncleared is the collection service failing; a plea to clear litter is not
        ("garbage not lifted for three days", ["trash", "dumping"]),
        ("garbage is kept without clearing", ["trash", "dumping"]),
        ("garbage thrown on the road, it should be cleared", ["dumping"]),
        # a phrase that names no service is dropped where it starts like a keyword
        ("what a waste of money", []),
        ("a waste of time, the pothole is still there", ["pothole"]),
        # a parking lot is a place: what is wrong there names the topic
        ("City Parking Lot, Mission and E St: mattress and misc. junk", ["dumping", "dumping"]),
        ("car parked across two spaces in the parking lot", ["parking"]),
        # a longer phrase that starts with the word names one topic
        ("trash cans overflowing at the bus stop", ["trash", "trash"]),
    ],
)
def test_a_word_that_names_two_topics_counts_for_both(text: str, topics: list[str]) -> None:
    assert [t for t, _ in analyse(text)[1].keywords] == topics


@pytest.mark.parametrize(
    ("text", "topics"),
    [
        # a keyword inside a longer one of another topic is part of that one
        ("the traffic light is out at Elm and Main", ["signal_sign"]),
        ("rash riding without helmet, breaking signals", ["traffic_safety"] * 3),
        ("people jumping the signal at Andheri", ["traffic_safety"]),
        # a sign that names what it regulates is still a sign
        ("No Parking sign knocked down", ["signal_sign"] * 3),
        ("the speed limit sign is missing", ["signal_sign", "signal_sign"]),
        # one of the same topic, or one the longer keyword shares a topic with, still counts
        ("stop sign missing", ["signal_sign", "signal_sign"]),
        ("pile of garbage at the corner", ["dumping", "dumping"]),
        # single items left out, standing water, festival noise
        ("Old office chair", ["dumping", "dumping"]),
        ("several grocery carts on the street", ["dumping", "dumping"]),
        ("Water stays stagnant on the road", ["water_sewer"]),
        ("dhol playing at full volume after midnight", ["noise", "noise"]),
        ("a high volume of traffic and speeding on Elm", ["traffic_safety", "traffic_safety"]),
        # furniture left out is dumping; park furniture is the park's
        ("Two old table tops and a vacuum", ["dumping", "dumping"]),
        ("matresses on the corner again", ["dumping"]),
        ("picnic table broken, no dog poop bags", ["parks", "parks", "parks"]),
        ("ping pong table in the park is cracked", ["parks", "parks"]),
        # a phrase that names no table left out
        ("that option is still on the table, ask the front desk", []),
        # British English
        ("fly-tipping behind the shops", ["dumping"]),
        ("bins not emptied again", ["trash", "trash"]),
        ("dog fouling on the footway", ["street_cleaning"]),
        # what a sweeper clears from the roadway
        ("a buildup of leaves and glass on the road", ["street_cleaning"] * 2),
        ("construction debris on the road", ["dumping"]),
        ("blocked gully at the junction", ["water_sewer"]),
        # driving offences and a hole in the road
        ("bikers coming in the opposite direction, talking on phone", ["traffic_safety"] * 2),
        ("big hole on the road near the school", ["pothole", "pothole"]),
        ("holes in the sidewalk", ["sidewalk"]),
        ("huge cave-in on Lake St", ["pothole"]),
        ("drivers keep running the stop sign at Pine", ["traffic_safety"]),
        ("motorcycles with straight pipes revving", ["noise", "noise"]),
        ("coyote attacking pets", ["pests"]),
        ("I need a copy of my birth certificate", ["other_service"]),
        # what says a car is abandoned; bulk items are the collection service
        ("the car hasn't moved in a month, expired plates", ["parking"] * 2),
        ("the price hasn't moved", []),
        ("requesting a bulk pickup", ["trash"]),
    ],
)
def test_phrases_that_overlap_count_once_for_the_longer(text: str, topics: list[str]) -> None:
    assert [t for t, _ in analyse(text)[1].keywords] == topics


@pytest.mark.parametrize(
    ("text", "topics"),
    [
        # the forms a keyword takes in a sentence
        ("Need sweeping on Elm", ["street_cleaning"]),
        ("the street was never swept", ["street_cleaning"]),
        ("a single bin left out", ["trash"]),
        ("road was repaved but the patch is failing", ["pothole", "pothole"]),
        ("please trim the branches", ["tree", "tree"]),
        ("catch basin not draining", ["water_sewer"] * 3),
        ("bed bug in my apartment", ["pests"]),
        # the trade's own terms
        ("slurry seal never finished", ["pothole"]),
        ("delineators knocked down", ["signal_sign"]),
        ("light shield blown off, too bright at night", ["streetlight"] * 4),
        ("One of the green lights is out", ["signal_sign"]),
        ("Wasp nest in the ground by the bench", ["pests"]),
        ("pay station will not take cards", ["parking"]),
        # words that more than one city files under one topic
        ("the patch is sunken, a dip three inches deep", ["pothole"] * 4),
        ("water bubbling up and seeping", ["water_sewer", "water_sewer"]),
        ("the left turn sensor never sees bikes", ["signal_sign", "signal_sign"]),
        ("profanity on the wall, please paint over it", ["graffiti", "graffiti"]),
        ("the countdown timer is dark", ["signal_sign"]),
        # what the service is called in other places
        ("our black cart wasnt emptied this week", ["trash"]),
        # (the garbage word in it counts for both, as it does alone)
        ("Hard rubbish collection never came", ["trash", "trash", "dumping"]),
        ("no gritting on any of the side streets", ["snow_ice"]),
        ("Pay and display machine broken", ["parking"]),
        ("jackhammering at 11pm", ["noise"]),
        # what councils in Britain, Ireland, Australia, New Zealand, Canada and South Africa call it
        ("brown bin not emptied again", ["trash"] * 3),
        ("inorganic collection left half our pile", ["trash"]),
        ("flytip at the end of the lane", ["dumping"]),
        ("belisha beacon not lit on the crossing", ["signal_sign"]),
        ("robot not working at the corner of Main and Long", ["signal_sign"]),
        ("car parked on the zig zags outside the school", ["parking", "parking"]),
        ("shore blocked at the end of our road", ["water_sewer"]),
        ("windrow at the end of the driveway is three feet high", ["snow_ice"]),
        ("when is our street getting bladed?", ["snow_ice"]),
        ("boy racers doing doughnuts every night", ["traffic_safety"]),
        ("rough sleeper in the doorway not responding", ["encampment"]),
        ("is the house next door licensed as an HMO?", ["housing"]),
        ("council tax bill has the wrong band", ["other_service"]),
        ("bee swarm hanging off the tree at the bus stop", ["pests"]),  # the tree is where
        ("xmas tree pick up missed", ["trash"]),
        ("Does the city pick up christmas trees?", ["trash"]),
        ("purple cart wasnt emptied", ["trash"]),
        ("Black box missed on Fourth Ave", ["trash"]),
        ("Paving slab missing on the high street", ["sidewalk"]),
        ("the flashing beacon at the crosswalk isn't working", ["signal_sign"]),
        ("rat run through the side streets, need 20mph signs", ["traffic_safety", "signal_sign"]),
        ("Hoons doing burnouts every night", ["traffic_safety"] * 2),
        ("cars doing 80 in a 30 on Northmount Dr", ["traffic_safety"]),
        ("roads not sanded, ice everywhere", ["snow_ice"] * 2),
        ("Vacant rowhome next door, back door open", ["housing"]),
        ("Council website payment page keeps timing out", ["other_service"]),
        ("Verge not mowed by council in months", ["other_service"]),
        # "rates" is no plural of "rat" (council rates are a property tax); "rats" is
        ("council rates are a rip off", []),
        ("rats in the alley", ["pests"]),
        ("contenedores llenos", ["trash"]),
        ("Christmas tree collection skipped our street", ["trash"]),
        # spelled as residents spell it, and the words for it in Spanish
        ("lite out 2900 S Emerson", ["streetlight"]),
        ("neighbors subwoofer shaking my walls", ["noise"]),
        ("water meter lid broken", ["water_sewer"]),
        # French, Tagalog and romanised Hindi; their garbage words are shared, as "garbage" is
        ("il y a un nid-de-poule énorme sur le chemin Montréal", ["pothole"]),
        ("Barado yung kanal sa tapat ng palengke", ["water_sewer", "water_sewer"]),
        ("Tonk Road pe giant gaddha", ["pothole"]),
        ("les ordures ne sont pas ramassées", ["trash", "dumping"]),
        ("kachra pada hai road pe", ["dumping"]),
        # left out: they name another service as often
        ("shopping cart left by the creek", ["dumping", "dumping"]),
        ("jackhammers at 11pm, is there a permit for this?", ["noise"]),
        ("political party banners on the library branch", []),
        ("traffic backed up for a mile", ["traffic_safety"]),
        ("the lawn and the grass", []),
        ("peeling bark on our property, per the inspector", []),
        ("trash at the bus stop, see the website", ["dumping"]),
    ],
)
def test_a_keyword_counts_in_the_form_a_resident_writes_it(text: str, topics: list[str]) -> None:
    assert [t for t, _ in analyse(text)[1].keywords] == topics


def test_trash_needs_the_collection_service_named() -> None:
    from classifiers.model import topic_override

    litter = analyse("Garbage on the road for a week")[1]
    pickup = analyse("Garbage not collected for a week")[1]
    nothing = analyse("it smells terrible here")[1]
    assert topic_override(litter, "trash") == "dumping"
    assert topic_override(pickup, "trash") is None
    assert topic_override(nothing, "trash") is None  # nothing names dumping either
    assert topic_override(litter, "street_cleaning") is None  # only trash is overruled


def test_a_word_that_names_two_topics_is_one_piece_of_relevance_evidence() -> None:
    from classifiers.model import lexicon_matrix

    one = lexicon_matrix([analyse("so much garbage")[1]], "relevance", ["no", "yes"])
    two = lexicon_matrix([analyse("garbage and a pothole")[1]], "relevance", ["no", "yes"])
    assert one is not None and two is not None
    assert one[0].tolist() == [0.0, 1.0]
    assert two[0].tolist() == [0.0, 2.0]


def test_relevance_keyword_rule() -> None:
    kw = Analysis(keywords=[("pothole", "pothole")], tokens=["pothole"])
    placed = Analysis(keywords=[("pothole", "pothole")], tokens=["pothole", "_street"])
    assert relevance_decision(0.6, Analysis())
    assert not relevance_decision(0.3, Analysis())
    assert relevance_decision(0.3, kw)
    assert not relevance_decision(0.1, kw)
    assert relevance_decision(0.1, placed)
    assert not relevance_decision(0.01, placed)
    # a person in danger now asks for help whatever the model says; a danger set aside does not
    assert relevance_decision(0.01, Analysis(life_safety=["fire"]))
    assert not relevance_decision(0.01, Analysis(hedged=True))
    assert relevance_decision(0.01, Analysis(life_safety=["fire"], praise=True))


def test_an_emergency_told_first_hand_is_a_request(real_classifier) -> None:  # type: ignore[no-untyped-def]
    from classifiers.model import LIFE_SAFETY_EVIDENCE

    fire, past = real_classifier.predict(
        [
            "Vacant house at 9000 Prairie is on fire right now, kids were seen going in earlier",
            "thanks to the firefighters who put out the brush fire last week",
        ]
    )
    assert (fire.relevant, fire.urgency) == (True, "emergency")
    assert fire.topic != "none"
    if fire.relevance_score < 0.5:
        assert fire.evidence["relevance"][0] == LIFE_SAFETY_EVIDENCE
        assert "relevance" in fire.needs_review
    assert (past.relevant, past.topic) == (False, "none")


@pytest.mark.parametrize(
    ("text", "praise"),
    [
        ("thank you to the crew that fixed the pothole on Lawrence so fast!!", True),
        ("Shoutout to the crew that fixed the water main, water back on by morning 🙌", True),
        # as Britain, Ireland and New Zealand say it
        ("grand job by the lads who fixed the lights on our road in a day. fair play", True),
        ("chur to whoever fixed the swing at the park, kids stoked", True),
        ("roads gritted before 6am, cheers all", True),
        ("thank you roads crew for clearing our street before 7am!!", True),
        ("Kia ora, thanks for fixing the footpath so quick", True),
        ("The speed humps on Fairmount are great, thank you", True),
        ("Well done to the bin crews in this heat", True),
        ("Merci pour le déneigement rapide ce matin!", True),
        ("Nid de poule énorme rue Ontario. Merci pour votre attention", False),
        ("Merci pour le déneigement, mais notre rue est encore bloquée", False),
        ("thanks for clearing the road, can you also do the sidewalk?", False),
        ("bins still not emptied, cheers for nothing", False),
        ("Thanks for fixing the pothole! but there's another one at Elm", False),
        ("pothole got filled, thanks. Can you do Elm next?", False),
        ("Villa Ave storm drains need to be cleared. Thank you", False),
        ("streetlight still out, thanks for nothing", False),
    ],
)
def test_thanks_for_a_job_done_asks_for_nothing(text: str, praise: bool) -> None:
    an = analyse(text)[1]
    assert an.praise is praise
    # praise is never a request, however sure the model is; the others are left to it
    assert relevance_decision(0.99, an) is not praise


def test_praise_is_low_urgency_unless_life_is_at_risk() -> None:
    from classifiers.model import DEFAULT_THRESHOLDS, urgency_decision

    classes = ["emergency", "high", "normal", "low"]
    sure_high = [0.1, 0.7, 0.1, 0.1]
    assert urgency_decision(sure_high, [], classes, DEFAULT_THRESHOLDS)[0] == 1
    assert urgency_decision(sure_high, [], classes, DEFAULT_THRESHOLDS, praise=True) == (
        3,
        0.1,
        ["praise"],
    )
    assert (
        urgency_decision(sure_high, ["fire"], classes, DEFAULT_THRESHOLDS, ["fire"], True)[0] == 0
    )


def test_praise_is_not_a_service_request(real_classifier) -> None:  # type: ignore[no-untyped-def]
    from classifiers.model import PRAISE_EVIDENCE

    thanks, more = real_classifier.predict(
        [
            "Thank you @Chicago311 for the crew that fixed the pothole on Lawrence Ave so fast!!",
            "Thanks for fixing the pothole on Lawrence Ave! There's another one at Kimball though",
        ]
    )
    assert (thanks.relevant, thanks.topic) == (False, "none")
    assert thanks.evidence["relevance"][0] == PRAISE_EVIDENCE
    assert (more.relevant, more.topic) == (True, "pothole")


CITY = {
    "city": "Springfield",
    "neighborhoods": [{"name": "Old Town", "lat": 1.0, "lon": 2.0, "aliases": ["oldtown"]}],
    "streets": [{"name": "Evergreen Terrace", "aliases": ["evergreen"]}],
    "landmarks": [
        {"name": "Power Plant", "lat": 3.0, "lon": 4.0, "neighborhood": "Old Town", "aliases": []}
    ],
}


def test_with_gazetteer_view_shares_the_model_and_pool() -> None:
    gz = Gazetteer.from_dict(CITY)
    posts = [f"pothole near the Power Plant in Oldtown #{i}" for i in range(300)] + [
        "rats in Dorchester"
    ] * 20
    serial = load_classifier(jobs=1, gazetteer=gz)
    parallel = load_classifier(
        jobs=2
    )  # its own (Boston) gazetteer; the workers never see Springfield's
    try:
        view = parallel.with_gazetteer(gz)
        assert isinstance(view, GazetteerView) and view.base is parallel
        assert view.artifact_hash == parallel.artifact_hash
        got = view.predict(posts)
        assert got == serial.predict(posts)
        assert [
            loc.text for loc in got[-1].locations
        ] == []  # Dorchester is Boston's, not Springfield's
        assert [loc.text for loc in got[0].locations] == ["Power Plant", "Oldtown"]
        boston = parallel.predict(posts[-20:])
        assert [loc.text for loc in boston[0].locations] == ["Dorchester"]
        assert parallel._pool is not None  # the view used the shared worker pool
    finally:
        parallel.close()


LITTER = [
    "Garbage",
    "Garbage on road",
    "garbage thrown near the school gate",
    "Lots of garbage on the footpath",
    "basura en la esquina",
    "Trash all over the corner of Elm and Main",
]


def _overruled_between_trash_and_dumping(
    clf: CivicClassifier, texts: list[str], head: str, rule: str, evidence: str
) -> int:
    """How many of ``texts`` the topic head put under ``head`` and the rule moved to ``rule``
    (the other of trash and dumping), each with the pair's score and the rule's evidence first;
    every relevant post ends up anywhere but ``head``."""
    probs, _ = clf.probabilities(texts)
    topics = clf.heads["topic"].classes
    h, r = topics.index(head), topics.index(rule)
    ruled = 0
    for text, p, pt in zip(texts, clf.predict(texts), probs["topic"], strict=True):
        if not p.relevant:
            continue
        assert p.topic != head, text
        if int(pt.argmax()) == h:
            ruled += 1
            assert p.topic == rule, text
            assert p.topic_score == pytest.approx(pt[h] + pt[r], abs=1e-4), text
            assert p.evidence["topic"][0].startswith(evidence), text
    return ruled


def test_litter_the_head_calls_trash_is_dumping_with_the_pairs_score(clf: CivicClassifier) -> None:
    for an in clf.probabilities(LITTER)[1]:
        assert not any(t == "trash" for t, _ in an.keywords)
    ruled = _overruled_between_trash_and_dumping(clf, LITTER, "trash", "dumping", "rule:no pickup")
    assert ruled >= 1  # the trained head still reads some litter as trash: the rule is exercised
    pickup = clf.predict(["Garbage not collected on our street for a week"])[0]
    assert pickup.topic == "trash"
    assert not any(e.startswith("rule:") for e in pickup.evidence["topic"])


@pytest.mark.parametrize(
    ("text", "bulk"),
    [
        ("need bulk pickup for old couch and mattress, 902 Lakeview Terrace", True),
        ("We put our items out for the scheduled bulk collection on Monday", True),
        ("Booked a bulky item pickup through the app, nobody came", True),
        ("hard rubbish collection missed our street", True),
        ("picked up everything but the large items", True),
        # dumped, not put out for the collection
        ("someone dumped bulk items and a couch on the corner", False),
        ("illegal bulk dumping behind the school, please pick up", False),
        ("couch on the sidewalk for two weeks", False),
        ("bulk of the trash is on the sidewalk", False),
    ],
)
def test_items_put_out_for_the_bulk_collection(text: str, bulk: bool) -> None:
    from classifiers.model import topic_override

    an = analyse(text)[1]
    assert an.bulk is bulk
    assert topic_override(an, "dumping") == ("trash" if bulk else None)


BULK = [
    "need bulk pickup for old couch and mattress, 902 Lakeview Terrace",
    "Scheduled a bulk item pickup for the old sofa and dresser, they are on the curb",
    "mattress and box spring out for bulk collection since Monday",
    "Bulky item pickup missed, couch still at the curb",
]


def test_bulk_items_the_head_calls_dumping_are_trash_with_the_pairs_score(
    clf: CivicClassifier,
) -> None:
    from classifiers.model import BULK_EVIDENCE

    assert all(an.bulk for an in clf.probabilities(BULK)[1])
    assert [(p.relevant, p.topic) for p in clf.predict(BULK)] == [(True, "trash")] * len(BULK)
    ruled = _overruled_between_trash_and_dumping(clf, BULK, "dumping", "trash", BULK_EVIDENCE)
    assert ruled >= 1  # the trained head still reads furniture as dumping: the rule is exercised


@pytest.mark.parametrize(
    "text",
    ["hello", "Test post please ignore", "testing 123", "Hello, is this account monitored?"],
)
def test_a_post_that_says_nothing_is_no_request(real_classifier, text: str) -> None:  # type: ignore[no-untyped-def]
    assert real_classifier.predict([text])[0].topic == "none"


@pytest.mark.parametrize(
    ("text", "fires"),
    [
        ("Traffic light at Fulton & Ashland hanging by one cable after the wind", True),
        ("huge icicle hanging off the rail overpass on Yonge, right above the sidewalk", True),
        ("light pole knocked over by a car, wires exposed at the base", True),
        ("branch dangling over the bike lane", True),
        ("the pole is leaning over the road", True),
        ("the tree is about to fall on my house", True),
        # idioms and harmless things
        ("I was hanging out by the park", False),
        ("the bus service is hanging by a thread", False),
        ("icicles on my gutters", False),
        ("the fence is leaning a bit", False),
    ],
)
def test_something_overhead_about_to_come_down_is_a_hazard(text: str, fires: bool) -> None:
    assert ("falling_object" in analyse(text)[1].rules) is fires


def test_a_signal_hanging_by_a_cable_is_urgent(real_classifier) -> None:  # type: ignore[no-untyped-def]
    p = real_classifier.predict(["Traffic light at Fulton & Ashland hanging by one cable"])[0]
    assert p.urgency in ("high", "emergency")
    assert "rule:falling_object" in p.evidence["urgency"]


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("loose aggressive dog just bit a mail carrier on Culebra Rd", "person_hurt"),
        (
            "last year my neighbour broke her hip here and we had to call an ambulance",
            "person_hurt",
        ),
        ("Dab ayaa ka kacay suuqa Bakaaraha!! Fadlan dab-damiska", "fire"),
        ("कात्रज में गैस पाइपलाइन से बहुत तेज़ बदबू आ रही है", "gas_leak"),
        ("大角咀福全街一棟唐樓聞到好大陣煤氣味", "gas_leak"),
        ("학생이 맨홀에 빠졌어요. 119 불렀고 당산역 근처입니다", "call_911"),
    ],
)
def test_danger_cues_that_lift_the_model(text: str, rule: str) -> None:
    """Danger rules that lift the model's emergency probability (not all force it)."""
    assert rule in analyse(text)[1].rules


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("fallen tree blocking road near the school", "blocking"),
        ("flooded road by the park again", "flooded"),
        ("icy street outside the library", "icy"),
    ],
)
def test_a_road_state_word_is_no_street_name(clf: CivicClassifier, text: str, word: str) -> None:
    """ "tree blocking road" is a tree across a road, not a street named "Blocking Road": the
    word stays a feature and no place is made of it."""
    an = analyse(text)[1]
    assert word in an.tokens and "_street" not in an.tokens
    places = clf.locations.extract_one(text)
    assert not any(word in p.text.lower() for p in places), places
