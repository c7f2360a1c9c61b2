"""Sentence generator for the built-in corpus: the project's own grammar and word lists.

The grammar knows subject-verb agreement, tenses (present, past, future, progressive,
perfect, modals), negation, questions, prepositional phrases, numbers spelled out, names,
places, adjectives, adverbs, contractions ("don't", "it's", "the dog's") and simple
semantic classes (people eat food, drive vehicles, read texts...), so most sentences make
sense. Text is lower-case letters, apostrophe and space.

    sentence_pool(20000, seed=0)   # 20,000 distinct sentences, the same for the same seed
"""
from __future__ import annotations

import random
import re
from functools import lru_cache

from asr.corpus import CorpusError

# ---------------------------------------------------------------------------------------
# Word lists. Nouns: "singular" or "singular/plural" when the plural is irregular; "_"
# joins the words of one entry ("ice_cream"). Verbs: "base" or "base:past:participle", with
# ":ing-form" added where the spelling rules would get it wrong.

NOUNS = {
    "person": """
        teacher doctor nurse farmer baker cook driver pilot student child/children man/men
        woman/women person/people boy girl baby friend neighbor brother sister mother father
        son daughter uncle aunt cousin grandmother grandfather wife/wives husband manager
        worker engineer lawyer artist singer dancer writer painter musician actor actress
        police_officer firefighter soldier captain king queen prince princess guest visitor
        tourist customer waiter waitress shopkeeper scientist professor judge mayor reporter
        photographer programmer mechanic plumber carpenter gardener fisherman/fishermen
        hunter player coach runner swimmer stranger guard clerk librarian dentist chef boss
        partner colleague classmate roommate teenager grandson granddaughter nephew niece
        owner passenger traveler volunteer president secretary assistant officer poet author
        editor designer architect banker barber tailor butcher priest sailor pupil athlete
        patient detective thief/thieves lady/ladies gentleman/gentlemen kid nanny twin host
        hairdresser cashier accountant pharmacist surgeon vet sheriff prisoner champion winner
        beginner expert leader member fan
    """,
    "animal": """
        dog cat horse cow pig sheep/sheep goat chicken duck goose/geese rabbit mouse/mice
        rat bird fish/fish wolf/wolves fox bear lion tiger elephant monkey donkey camel
        deer/deer frog snake turtle owl eagle parrot pony puppy kitten hamster squirrel bee
        spider butterfly whale dolphin shark penguin zebra giraffe kangaroo bat swan crow
        pigeon hen lamb calf/calves bull ox/oxen beaver raccoon hedgehog goldfish/goldfish
        octopus/octopuses crab lobster seal otter panda koala gorilla leopard cheetah rooster
    """,
    "food": """
        apple banana orange pear peach grape lemon cherry strawberry tomato/tomatoes
        potato/potatoes carrot onion egg sandwich cake cookie pie pizza burger sausage
        biscuit muffin pancake cucumber pepper mushroom melon watermelon pineapple plum
        candy donut bagel taco salad steak nut olive bean pumpkin coconut avocado lime
        cupcake pretzel cracker dumpling meatball waffle croissant peanut apricot mango/mangoes
        radish cabbage sweet_potato/sweet_potatoes hot_dog pickle
    """,
    "drink": """
        coffee tea juice lemonade milkshake smoothie soda cocktail
    """,
    "thing": """
        key box bag bottle cup glass plate bowl spoon fork knife/knives chair lamp clock
        watch phone camera computer laptop radio pen pencil ball toy umbrella basket bucket
        blanket pillow towel mirror candle wallet purse suitcase backpack ladder hammer rope
        brush comb ring necklace bracelet coin package parcel picture painting photo
        envelope kettle pan pot jar tray shelf/shelves battery charger remote flashlight
        calculator stamp sticker balloon kite doll robot teddy_bear tent sleeping_bag toolbox
        screwdriver magnet compass telescope microscope
        vase rug cushion mug teapot printer keyboard speaker
        headphone tablet television fan bell whistle flag trophy medal
    """,
    "fixture": """
        door window gate light tap fridge oven stove drawer cupboard curtain heater sink
        shower fence roof wall floor ceiling mailbox elevator staircase
    """,
    "clothes": """
        shirt dress coat jacket hat scarf/scarves sweater skirt sock boot shoe glove belt
        tie uniform cap helmet raincoat blouse suit vest apron costume sandal slipper
        hoodie cardigan swimsuit bathrobe
    """,
    "vehicle": """
        car bus train truck bicycle bike boat ship plane taxi tractor motorcycle van
        scooter helicopter ambulance tram yacht canoe rocket ferry jeep
    """,
    "text": """
        book letter email report story poem message note list menu map newspaper magazine
        article novel recipe diary notebook document contract card postcard textbook
        dictionary essay invitation receipt manual chapter page comic brochure timetable
        passport license certificate speech lyric script
    """,
    "instrument": """
        piano guitar violin drum flute trumpet cello harp saxophone clarinet banjo accordion ukulele
    """,
    "abstract": """
        idea plan question problem answer decision mistake rule reason promise secret joke
        truth lie dream lesson opinion argument excuse difference meaning rumor riddle word
        name address password schedule topic theory method solution result choice puzzle
        mystery suggestion request warning instruction announcement
    """,
    "furniture": """
        table desk bed sofa chair bench shelf/shelves cupboard wardrobe armchair bookcase
        counter couch stool dresser
    """,
    "building": """
        kitchen garden park library office classroom hospital house bedroom bathroom hall
        museum shop store restaurant cafe hotel school church factory theater supermarket
        bakery cinema gym studio castle palace basement attic yard barn garage warehouse
        laboratory apartment bookshop pharmacy post_office police_station town_hall
        living_room dining_room playground stadium zoo farm market station airport bank
        harbor swimming_pool bus_stop gas_station
    """,
    "nature": """
        river mountain lake hill beach island bridge road forest valley field meadow
        waterfall cliff cave desert jungle pond stream ocean sea coast village city town
        street square tree rock shore
    """,
}

# Uncountable nouns: no plural, no "a".
MASS = {
    "food": "bread rice soup cheese butter honey chocolate meat pasta cereal jam yogurt "
            "cream flour ice_cream popcorn toast spaghetti salmon chicken_soup ",
    "drink": "water milk tea coffee juice lemonade hot_chocolate cocoa wine beer",
    "sport": "football tennis chess basketball soccer golf baseball hockey volleyball cricket "
             "badminton rugby table_tennis poker",
}

# Adjectives that fit each noun class.
COLORS = "red blue green yellow black white brown pink purple gray orange golden silver"
ADJECTIVES = {
    "person": """
        happy sad tired angry hungry thirsty busy kind clever friendly polite rude brave shy
        lazy quiet loud young old famous rich poor honest nervous calm proud lucky careful
        careless funny serious strict patient cheerful lonely sleepy sick healthy strong weak
        tall short smart wise gentle generous curious worried excited bored surprised
        confused grumpy clumsy elderly handsome pretty talented popular
    """,
    "animal": """
        big small little old young hungry sleepy friendly wild fat thin black white brown
        gray spotted fluffy noisy tiny huge clever lazy angry playful hairy dangerous cute
        striped
    """,
    "food": """
        hot cold fresh sweet sour spicy delicious salty warm ripe tasty bitter crispy soft
        raw cheap expensive homemade frozen burnt juicy rotten green huge tiny
    """,
    "drink": "hot cold fresh sweet sour warm cheap expensive iced strong weak",
    "thing": f"""
        heavy light broken clean dirty expensive cheap new old small big large tiny huge
        shiny plastic wooden metal leather empty full round useful strange beautiful ugly
        {COLORS}
    """,
    "fixture": f"broken clean dirty new old heavy wooden metal narrow wide {COLORS}",
    "furniture": f"old new heavy comfortable broken wooden expensive cheap small big {COLORS}",
    "clothes": f"""
        new old warm dirty clean wet dry long short cheap expensive woolen cotton striped
        tight loose fancy {COLORS}
    """,
    "vehicle": f"new old fast slow fancy rusty shiny noisy electric expensive cheap {COLORS}",
    "text": """
        long short boring interesting funny sad strange important secret old new famous
        exciting scary complicated
    """,
    "instrument": "old new expensive cheap beautiful broken loud wooden electric",
    "abstract": """
        good bad simple difficult clever strange important interesting crazy brilliant
        terrible wonderful obvious serious funny silly
    """,
    "building": """
        quiet busy crowded empty noisy dark bright warm cold clean dirty small big beautiful
        famous old new local modern ancient huge tiny cozy
    """,
    "nature": "quiet beautiful dark wide long deep huge small frozen peaceful wild sunny",
}

# Transitive verbs and the noun classes their objects come from. "@" after the classes:
# an animal may be the subject too ("the dog found a ball").
TRANSITIVE = """
    eat:ate:eaten                 food @
    drink:drank:drunk             drink @
    cook                          food
    bake                          food
    buy:bought:bought             food drink thing clothes vehicle text instrument furniture
    sell:sold:sold                food thing clothes vehicle text instrument furniture
    order                         food drink thing text
    taste                         food drink
    share                         food drink thing text abstract
    finish                        food drink text
    prepare                       food drink text
    want                          food drink thing clothes vehicle text instrument @
    like                          food drink thing clothes vehicle text person animal building instrument @
    love                          food drink thing clothes vehicle text person animal building instrument @
    hate                          food drink thing clothes vehicle text person animal building @
    need                          food drink thing clothes vehicle text
    bring:brought:brought         food drink thing clothes text instrument animal person
    carry                         thing food clothes instrument animal @
    find:found:found              thing clothes text animal person @
    lose:lost:lost                thing clothes text
    drop                          thing food
    fix                           thing fixture vehicle instrument furniture
    repair                        thing fixture vehicle furniture
    clean                         thing fixture vehicle building clothes furniture
    wash                          thing clothes vehicle animal food
    open                          thing fixture text
    close                         thing fixture text
    lock                          fixture vehicle
    paint                         thing fixture vehicle building furniture
    borrow                        thing clothes vehicle text instrument
    hide:hid:hidden               thing text food @
    move                          thing vehicle furniture
    break:broke:broken            thing fixture
    keep:kept:kept                thing text animal
    take:took:taken               thing text food
    use                           thing vehicle
    check                         thing fixture vehicle text
    pack                          thing clothes food
    choose:chose:chosen           thing clothes food text vehicle
    wear:wore:worn                clothes
    fold                          clothes text
    iron                          clothes
    meet:met:met                  person
    call                          person animal
    help                          person animal
    visit                         person building
    thank                         person
    ask                           person
    follow                        person animal vehicle @
    invite                        person
    remember                      person building abstract text
    forget:forgot:forgotten:forgetting person abstract thing text
    teach:taught:taught           person animal
    trust                         person animal
    miss                          person building
    hug                           person animal
    phone                         person
    marry                         person
    watch                         person animal vehicle @
    see:saw:seen                  person animal thing vehicle building nature @
    hear:heard:heard              person animal vehicle @
    feed:fed:fed                  animal person
    chase                         person animal vehicle @
    catch:caught:caught           animal vehicle @
    photograph                    person animal building vehicle nature
    draw:drew:drawn               person animal building vehicle thing nature
    read:read:read                text
    write:wrote:written           text
    print                         text
    sign                          text
    send:sent:sent                text thing
    translate                     text
    copy                          text
    study                         text abstract
    drive:drove:driven            vehicle
    park                          vehicle
    rent                          building vehicle thing
    ride:rode:ridden              vehicle
    stop                          vehicle person
    leave:left:left               building thing
    enter                         building
    reach                         building nature
    search                        building
    explore                       building nature
    explain                       abstract text
    discuss                       abstract text
    understand:understood:understood abstract text person
    consider                      abstract
    accept                        abstract
    ignore                        abstract person
    solve                         abstract
    play                          instrument sport
    practice                      instrument sport
    tune                          instrument
    throw:threw:thrown            thing food
    cut:cut:cut                   food thing
    heat                          food drink
    pour                          drink
    spill                         drink food
    serve                         food drink person
    smell                         food drink @
    steal:stole:stolen            thing food vehicle
    build:built:built             building thing
    decorate                      building thing
    describe                      person animal building thing abstract vehicle nature
    recognize                     person building
    introduce                     person
    warn                          person
    blame                         person
    forgive:forgave:forgiven      person
    pay:paid:paid                 person
    push                          thing vehicle person
    pull                          thing vehicle
    lift                          thing animal
    climb                         nature
    cross                         nature
    admire                        person animal building nature vehicle instrument
    guard                         building person
    deliver                       thing food text
    weigh                         thing food animal
    measure                       thing
    examine                       person animal thing text
    count                         thing animal
    collect                       thing text
    replace                       thing fixture
    return                        thing text
    offer                         food drink thing
    grab                          thing food
    drag                          thing
    shake:shook:shaken            thing
    touch                         thing animal
    bite:bit:bitten               food person @
    kick                          thing
    water                         nature
    scare                         person animal @
    comfort                       person animal
    interview                     person
    hire                          person
    inform                        person
    annoy                         person animal @
    surprise                      person
    rescue                        person animal
    """

# Intransitive verbs. "@": animals do it too; "!": vehicles do it too ("the bus arrived").
INTRANSITIVE = """
    sleep:slept:slept @  laugh  cry  smile  arrive @ !  wait @  rest @  swim:swam:swum @
    run:ran:run @  walk @  dance  sing:sang:sung @  work  travel  fall:fell:fallen @
    sit:sat:sat @  shout  cough  sneeze @  jump @  win:won:won  relax  study  complain
    agree  listen  hurry  stay @  leave:left:left !  cook  paint  fly:flew:flown @ !
    stop !  play @  hide:hid:hidden @  climb @  fight:fought:fought @  argue  pray  yell
    whistle  snore @  shiver @  worry  sigh  nod  wave  clap  knock  blink @  yawn @
    breathe  cheer  celebrate  vote  apologize  exercise  practice  improve  disappear @ !
    escape @  survive @  struggle  hesitate  recover  graduate  retire  sweat @
    listen  learn  read:read:read  write:wrote:written  drive:drove:driven
    speak:spoke:spoken  think:thought:thought  sit_down:sat_down:sat_down
    stand:stood:stood @  wake_up:woke_up:woken_up @  turn_around @  calm_down
    give_up:gave_up:given_up  slow_down !  speed_up !  break_down:broke_down:broken_down !
"""

# Verbs that take a person then a thing ("she gave her brother the keys"), or "to" + person.
DITRANSITIVE = """
    give:gave:given     food drink thing text clothes
    send:sent:sent      text thing food
    show:showed:shown   thing text building
    lend:lent:lent      thing text clothes vehicle instrument
    bring:brought:brought food drink thing text clothes
    offer               food drink thing
    sell:sold:sold      thing vehicle text instrument
    hand                thing text food drink
    pass                thing food drink text
    throw:threw:thrown  thing food
    teach:taught:taught sport instrument
    read:read:read      text
    write:wrote:written text
"""

NAMES = """
    james mary john patricia robert jennifer michael linda william elizabeth david barbara
    richard susan joseph jessica thomas sarah charles karen daniel nancy matthew lisa
    anthony betty mark margaret donald sandra steven ashley paul kimberly andrew emily
    joshua donna kenneth michelle kevin dorothy brian carol george amanda edward melissa
    ronald deborah timothy stephanie jason rebecca jeffrey sharon ryan laura jacob cynthia
    gary kathleen nicholas amy eric angela jonathan shirley stephen anna larry brenda
    justin pamela scott emma brandon nicole benjamin helen samuel samantha gregory
    katherine frank christine alexander debra raymond rachel patrick carolyn jack janet
    dennis catherine jerry maria tyler heather aaron diane jose ruth adam julie henry
    olivia nathan joyce douglas virginia zachary victoria peter kelly kyle lauren walter
    christina ethan joan jeremy evelyn harold judith keith megan christian cheryl roger
    andrea noah hannah gerald martha carl jacqueline terry frances sean gloria austin ann
    arthur teresa lawrence kathryn jesse sara dylan janice bryan jean joe alice jordan
    madison billy doris bruce abigail albert julia willie judy gabriel grace logan denise
    alan amber juan marilyn wayne beverly roy danielle ralph theresa randy sophia eugene
    marie vincent diana russell brittany elijah natalie louis isabella bobby charlotte
    philip rose johnny alexis oliver lucy leo mia chloe max ella oscar ruby felix ivy
    hugo zoe omar yuki kenji priya ravi ahmed fatima carlos sofia mateo lucia ivan olga
    hans greta pierre amelie marco giulia sven ingrid kofi amara
"""

CITIES = """
    london paris berlin madrid rome vienna prague dublin lisbon athens moscow cairo tokyo
    beijing delhi mumbai sydney melbourne toronto chicago boston seattle denver dallas
    houston miami atlanta phoenix detroit new_york los_angeles san_francisco new_orleans
    las_vegas mexico_city buenos_aires rio lima santiago bogota havana nairobi lagos
    istanbul dubai singapore bangkok seoul manila jakarta hong_kong amsterdam brussels
    stockholm oslo copenhagen helsinki warsaw budapest zurich geneva munich milan venice
    florence naples barcelona seville edinburgh glasgow manchester liverpool oxford
    cambridge york bristol montreal vancouver quebec cape_town marrakesh kyoto osaka
"""
COUNTRIES = """
    france germany spain italy portugal greece england scotland ireland wales norway
    sweden finland denmark poland russia egypt india china japan korea australia canada
    mexico brazil argentina peru chile cuba kenya nigeria morocco turkey iceland austria
    switzerland belgium holland hungary thailand vietnam indonesia iran
"""

REPORTING_VERBS = ["think:thought:thought", "say:said:said", "know:knew:known", "hope", "believe", "guess",
                   "tell:told:told", "wonder"]
MOTION_VERBS = ["go:went:gone", "fly:flew:flown", "move", "travel", "drive:drove:driven", "return",
                "come:came:come", "run:ran:run", "walk", "hurry"]

EVENTS = ["the meeting", "the train", "the bus", "the movie", "the concert", "the class", "the game",
          "the party", "our flight", "the lesson", "the show", "dinner"]
EVENT_VERBS = [("starts", "started", "will start"), ("leaves", "left", "will leave"), ("ends", "ended", "will end"),
               ("begins", "began", "will begin")]
COUNT_VERBS = ["bought", "sold", "ordered", "found", "needs", "wants", "counted"]
LIFE_EVENTS = ["was born", "moved to {city}", "started school", "got married", "visited {country}",
               "bought a house", "learned to drive", "won the prize"]
DURATION_VERBS = ["waited", "worked", "studied", "walked", "slept", "stayed", "traveled", "talked"]

MANNER = """
    quickly slowly carefully quietly loudly happily sadly angrily politely gently easily
    badly well suddenly finally patiently nervously calmly proudly softly eagerly silently
    secretly bravely kindly gladly proudly rudely honestly clearly perfectly quietly
"""
FREQUENCY = "always never often sometimes usually rarely seldom"
DEGREE = "very really quite too so extremely rather pretty fairly incredibly"

PREPS_BUILDING = ["in", "at", "near", "behind", "outside", "inside", "next to", "in front of",
                  "across from", "around", "far from"]
PREPS_NATURE = ["near", "by", "across", "along", "beside", "around"]
PREPS_THING = ["on", "under", "behind", "beside", "next to", "near"]

DAYS = "monday tuesday wednesday thursday friday saturday sunday"
MONTHS = "january february march april may june july august september october november december"
PARTS_OF_DAY = "morning afternoon evening"

ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen").split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
ORDINALS = ("first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
            "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth "
            "twentieth").split()

# Words the sentence frames use besides the lists above.
FUNCTION_WORDS = """
    a an the some many few several more enough no this that these those my your his her our
    their i you he she it we they me him us them am is are was were be been do does did have
    has will would can could should might must may not and but so because when while after
    before if until although since there what who which where why how of to for with from by at
    in on up down under ever just already please let's hundred thousand o'clock half past
    quarter dollars euros minutes hours hour days day weeks week months month years year ago
    last next every tonight today tomorrow yesterday now later soon right moment all home once
    twice well i'm you're he's she's it's we're they're i've you've we've they've i'll you'll
    he'll she'll we'll they'll i'd you'd he'd she'd we'd they'd isn't aren't wasn't weren't
    don't doesn't didn't haven't hasn't won't can't couldn't shouldn't wouldn't mustn't there's
    where's how's when's why's it'll recently talked weekend weekends night morning afternoon
    evening first second going lot how_many long far often hope think know said says
    thought believe told tell tells wonder wonders wondered heard hear hears asked ask asks
    guess says it's sunny rainy cloudy windy foggy snowy cold hot warm cool raining snowing
    outside surprised sunday sundays mondays fridays
"""


def _words(text: str) -> list[str]:
    return [w.replace("_", " ") for w in text.split()]


def _noun_entry(entry: str) -> tuple[str, str]:
    if "/" in entry:
        sg, pl = entry.split("/")
        return sg.replace("_", " "), pl.replace("_", " ")
    sg = entry.replace("_", " ")
    return sg, plural(sg)


def plural(noun: str) -> str:
    """Regular English plural of the last word ("bus" -> "buses", "city" -> "cities")."""
    if re.search(r"(s|x|z|ch|sh)$", noun):
        return noun + "es"
    if re.search(r"[^aeiou]y$", noun):
        return noun[:-1] + "ies"
    return noun + "s"


def _doubles(verb: str) -> bool:
    """One-syllable consonant-vowel-consonant verbs double the last letter: stop -> stopped."""
    return (len(re.findall(r"[aeiou]+", verb)) == 1
            and re.search(r"[^aeiou][aeiou][bdglmnprt]$", verb) is not None)


def verb_forms(spec: str) -> dict[str, str]:
    """Forms of a verb: base, s (3rd person singular), past, pp (participle), ing.

    A phrasal verb ("wake_up:woke_up:woken_up") inflects its first word.
    """
    parts = spec.split(":")
    base, *rest = parts[0].split("_")
    particle = " " + " ".join(rest) if rest else ""
    if re.search(r"(s|x|z|ch|sh|o)$", base):
        s = base + "es"
    elif re.search(r"[^aeiou]y$", base):
        s = base[:-1] + "ies"
    else:
        s = base + "s"
    if base == "have":
        s = "has"
    if re.search(r"ie$", base):
        ing = base[:-2] + "ying"
    elif re.search(r"[^aeiouy]e$", base) and base not in ("be",):
        ing = base[:-1] + "ing"
    elif _doubles(base):
        ing = base + base[-1] + "ing"
    else:
        ing = base + "ing"
    if len(parts) == 4:  # the spelling rules miss "forgetting"
        ing = parts[3]
    if len(parts) >= 3:
        past, pp = parts[1].replace("_", " "), parts[2].replace("_", " ")
    else:
        if base.endswith("e"):
            past = base + "d"
        elif re.search(r"[^aeiou]y$", base):
            past = base[:-1] + "ied"
        elif _doubles(base):
            past = base + base[-1] + "ed"
        else:
            past = base + "ed"
        past = pp = past + particle
    return {"base": base + particle, "s": s + particle, "past": past, "pp": pp, "ing": ing + particle}


def _parse_verbs(table: str) -> list[tuple[dict, list[str], bool, bool]]:
    """Rows of (forms, object classes, animals may be subjects, vehicles may be subjects)."""
    rows = []
    for line in table.strip().splitlines():
        spec, *classes = line.split()
        rows.append((verb_forms(spec), [c for c in classes if c not in "@!"], "@" in classes, "!" in classes))
    return rows


def _parse_intransitive(table: str) -> list[tuple[dict, bool, bool]]:
    rows, tokens = [], table.split()
    for i, tok in enumerate(tokens):
        if tok in "@!":
            continue
        flags = set()
        for nxt in tokens[i + 1:i + 3]:
            if nxt not in "@!":
                break
            flags.add(nxt)
        rows.append((verb_forms(tok), "@" in flags, "!" in flags))
    return rows


class Lexicon:
    """The word lists, parsed once: nouns per class with plurals, verbs with forms."""

    def __init__(self):
        self.nouns = {c: [_noun_entry(e) for e in text.split()] for c, text in NOUNS.items()}
        self.mass = {c: _words(text) for c, text in MASS.items()}
        self.adjectives = {c: sorted(set(_words(text))) for c, text in ADJECTIVES.items()}
        self.transitive = _parse_verbs(TRANSITIVE)
        self.ditransitive = _parse_verbs(DITRANSITIVE)
        self.intransitive = _parse_intransitive(INTRANSITIVE)
        self.names = _words(NAMES)
        self.cities = _words(CITIES)
        self.countries = _words(COUNTRIES)
        self.manner = sorted(set(_words(MANNER)))
        self.frequency = _words(FREQUENCY)
        self.degree = _words(DEGREE)
        self.days = _words(DAYS)
        self.months = _words(MONTHS)
        self.parts_of_day = _words(PARTS_OF_DAY)
        self.colors = _words(COLORS)


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    return Lexicon()


# ---------------------------------------------------------------------------------------
# Numbers


def number_words(n: int) -> str:
    """0..999,999 spelled out: 342 -> "three hundred and forty two"."""
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return ONES[n // 100] + " hundred" + ("" if rest == 0 else " and " + number_words(rest))
    rest = n % 1000
    head = number_words(n // 1000) + " thousand"
    if rest == 0:
        return head
    return head + (" and " if rest < 100 else " ") + number_words(rest)


def year_words(year: int) -> str:
    """1984 -> "nineteen eighty four", 2005 -> "two thousand and five"."""
    if 2000 <= year < 2010:
        return number_words(year)
    hi, lo = divmod(year, 100)
    if lo == 0:
        return number_words(hi) + " hundred"
    return number_words(hi) + " " + ("oh " + ONES[lo] if lo < 10 else number_words(lo))


def clock_words(rng: random.Random) -> str:
    h = rng.randint(1, 12)
    return rng.choice([
        f"{ONES[h]} o'clock",
        f"half past {ONES[h]}",
        f"quarter past {ONES[h]}",
        f"quarter to {ONES[h]}",
        f"{ONES[h]} {number_words(rng.choice([10, 15, 20, 25, 30, 40, 45, 50]))}",
        f"{number_words(rng.choice([5, 10, 20, 25]))} past {ONES[h]}",
    ])


def small_number(rng: random.Random) -> str:
    n = rng.choice([rng.randint(2, 12), rng.randint(2, 12), rng.randint(2, 20), rng.randint(13, 99),
                    rng.randint(13, 99), rng.randint(100, 999)])
    return number_words(n)


# ---------------------------------------------------------------------------------------
# Phrases. A subject is a dict: words, pron (the pronoun or None), agr ("1sg", "3sg" or "pl").

PRONOUNS = {"i": "1sg", "you": "pl", "he": "3sg", "she": "3sg", "we": "pl", "they": "pl"}
OBJECT_PRONOUN = {"i": "me", "you": "you", "he": "him", "she": "her", "we": "us", "they": "them"}
POSSESSIVE = ["my", "your", "his", "her", "our", "their"]
BE = {"present": {"1sg": "am", "3sg": "is", "pl": "are"}, "past": {"1sg": "was", "3sg": "was", "pl": "were"}}
SUBJECT_CONTRACTION = {("i", "am"): "i'm", ("you", "are"): "you're", ("he", "is"): "he's",
                       ("she", "is"): "she's", ("it", "is"): "it's", ("we", "are"): "we're",
                       ("they", "are"): "they're", ("i", "have"): "i've", ("you", "have"): "you've",
                       ("we", "have"): "we've", ("they", "have"): "they've"}
NEGATIVE = {"is": "isn't", "are": "aren't", "was": "wasn't", "were": "weren't", "do": "don't",
            "does": "doesn't", "did": "didn't", "have": "haven't", "has": "hasn't", "will": "won't",
            "can": "can't", "could": "couldn't", "should": "shouldn't", "would": "wouldn't",
            "must": "mustn't"}
MODALS = ["can", "could", "should", "might", "must", "would", "will"]

TIMES = {
    "present": ["every day", "every morning", "every evening", "on sundays", "on mondays",
                "on fridays", "in the evening", "in the morning", "on weekends", "twice a week",
                "once a month", "every summer", "after school", "after work", "at night"],
    "past": ["yesterday", "last night", "last week", "last year", "last summer", "this morning",
             "on {day}", "in {month}", "{num} days ago", "a few minutes ago", "at {clock}",
             "an hour ago", "in {year}", "after lunch", "before dinner", "yesterday afternoon"],
    "future": ["tomorrow", "next week", "tonight", "on {day}", "later", "soon", "next month",
               "in {month}", "at {clock}", "tomorrow morning", "next year", "after lunch",
               "this weekend", "in {num} minutes"],
    "progressive": ["right now", "at the moment", "today", "this week", "this evening", "now"],
    "past_progressive": ["yesterday", "last night", "at {clock}", "all day", "all morning",
                         "when we arrived", "when i called"],
    "perfect": ["this week", "today", "since {day}", "for {num} hours", "this year", "before",
                "since last summer", "for {num} years", "this morning"],
}


class Generator:
    """Random sentences from the lexicon; all randomness comes from `rng`."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.lex = lexicon()

    def p(self, prob: float) -> bool:
        return self.rng.random() < prob

    def choice(self, seq):
        return self.rng.choice(seq)

    def fill(self, text: str) -> str:
        """Fill the {day} {month} {num} {clock} {year} slots of a time phrase."""
        r = self.rng
        return text.format(day=r.choice(self.lex.days), month=r.choice(self.lex.months),
                           num=number_words(r.randint(2, 12)), clock=clock_words(r),
                           year=year_words(r.randint(1950, 2025)))

    def time(self, tense: str) -> list[str]:
        return self.fill(self.choice(TIMES[tense])).split()

    # -- noun phrases -----------------------------------------------------------------
    def article(self, word: str) -> str:
        vowel = word[0] in "aeiou" and not re.match(r"(uni|use|eu|one|ukulele)", word)
        return "an" if vowel or word.startswith(("hour", "honest")) else "a"

    def adjective(self, cls: str) -> list[str]:
        adj = [self.choice(self.lex.adjectives[cls])]
        if self.p(0.15):
            adj.insert(0, self.choice(["very", "really", "rather", "quite", "pretty"]))
        return adj

    def owner(self, animal: bool = True) -> str:
        """A possessive: "maria's", "the dog's", "my brother's"."""
        r = self.rng.random()
        if r < 0.4:
            return self.choice(self.lex.names) + "'s"
        cls = "person" if r < 0.85 or not animal else "animal"
        det = self.choice(["the", "the", "my", "your", "our", "his", "her", "their"])
        return f"{det} {self.choice(self.lex.nouns[cls])[0]}'s"

    def noun_phrase(self, cls: str, plural: bool | None = None, adj_prob: float = 0.3) -> tuple[list[str], bool]:
        """(words, is_plural) for a noun of class `cls`."""
        if cls in self.lex.mass and (cls not in self.lex.nouns or self.p(0.5)):
            noun = self.choice(self.lex.mass[cls]).split()
            if cls == "sport":
                return noun, False
            adj = self.adjective(cls) if self.p(adj_prob) else []
            det = self.choice(["the", "the", "some", "more", "", "", "a lot of", "enough", "no",
                               self.choice(POSSESSIVE), self.owner()])
            return det.split() + adj + noun, False
        sg, pl = self.choice(self.lex.nouns[cls])
        if plural is None:
            plural = self.p(0.35)
        adj = self.adjective(cls) if self.p(adj_prob) else []
        head = (pl if plural else sg).split()
        if plural:
            det = self.choice(["the", "the", "some", "these", "those", "many", "a few", "several",
                               "", small_number(self.rng), small_number(self.rng),
                               self.choice(POSSESSIVE), self.owner(cls not in ("building", "nature")), "all the",
                               "two", "three"])
        else:
            det = self.choice(["the", "the", "the", "a", "a", "a", "this", "that", "every", "the",
                               self.choice(POSSESSIVE), self.choice(POSSESSIVE),
                               self.owner(cls not in ("building", "nature"))])
            if det == "a":
                det = self.article((adj + head)[0])
        return det.split() + adj + head, plural

    def person_np(self, allow_pronoun: bool = True) -> dict:
        r = self.rng.random()
        if allow_pronoun and r < 0.35:
            pron = self.choice(list(PRONOUNS))
            return {"words": [pron], "pron": pron, "agr": PRONOUNS[pron]}
        if r < 0.6:
            words = [self.choice(self.lex.names)]
            if self.p(0.12):
                words += ["and", self.choice(self.lex.names)]
                return {"words": words, "pron": None, "agr": "pl"}
            return {"words": words, "pron": None, "agr": "3sg"}
        words, plural = self.noun_phrase("person")
        return {"words": words, "pron": None, "agr": "pl" if plural else "3sg"}

    def subject(self, animal: bool = False, vehicle: bool = False) -> dict:
        r = self.rng.random()
        if animal and r < 0.3:
            words, plural = self.noun_phrase("animal")
            return {"words": words, "pron": None, "agr": "pl" if plural else "3sg"}
        if vehicle and r > 0.8:
            words, plural = self.noun_phrase("vehicle", adj_prob=0.2)
            return {"words": words, "pron": None, "agr": "pl" if plural else "3sg"}
        return self.person_np()

    def object_np(self, cls: str) -> list[str]:
        if cls == "person" and self.p(0.25):
            return [self.choice(["me", "you", "him", "her", "us", "them"])]
        if cls in ("thing", "animal", "food") and self.p(0.05):
            return [self.choice(["it", "them"])]
        return self.noun_phrase(cls)[0]

    def place_pp(self) -> list[str]:
        r = self.rng.random()
        if r < 0.45:
            return [self.choice(PREPS_BUILDING)] + self.place_np("building")
        if r < 0.7:
            return [self.choice(PREPS_NATURE)] + self.place_np("nature")
        if r < 0.85:
            return ["in", self.choice(self.lex.cities + self.lex.countries)]
        return [self.choice(PREPS_THING)] + self.place_np("furniture")

    def place_np(self, cls: str) -> list[str]:
        sg, pl = self.choice(self.lex.nouns[cls])
        adj = self.adjective(cls) if self.p(0.2) else []
        person = self.choice(self.lex.nouns["person"])[0]
        owner = self.choice(self.lex.names) + "'s" if self.p(0.5) else f"the {person}'s"
        det = self.choice(["the", "the", "the", "the", "my", "our", "their", "this", "that", "your", owner])
        return det.split() + adj + sg.split()

    def with_pp(self) -> list[str]:
        r = self.rng.random()
        if r < 0.5:
            return ["with"] + self.person_np(allow_pronoun=False)["words"]
        if r < 0.75:
            return ["for"] + self.person_np(allow_pronoun=False)["words"]
        return ["with"] + self.noun_phrase("thing", adj_prob=0.2)[0]

    # -- verb groups ------------------------------------------------------------------
    def verb_group(self, subj: dict, forms: dict, tense: str, neg: bool = False) -> list[str]:
        """Subject + finite verb group, with agreement, negation and contractions."""
        agr, pron = subj["agr"], subj["pron"]
        contract = self.p(0.7)
        main = None  # (auxiliary, main verb form)
        if tense == "present":
            if not neg:
                return subj["words"] + [forms["s"] if agr == "3sg" else forms["base"]]
            main = ("does" if agr == "3sg" else "do", forms["base"])
        elif tense == "past":
            if not neg:
                return subj["words"] + [forms["past"]]
            main = ("did", forms["base"])
        elif tense == "future":
            main = ("will", forms["base"])
        elif tense == "going_to":
            main = (BE["present"][agr], "going to " + forms["base"])
        elif tense == "progressive":
            main = (BE["present"][agr], forms["ing"])
        elif tense == "past_progressive":
            main = (BE["past"][agr], forms["ing"])
        elif tense == "perfect":
            main = ("has" if agr == "3sg" else "have", forms["pp"])
            if not neg and self.p(0.25):
                main = (main[0], self.choice(["already", "just", "never", "recently"]) + " " + main[1])
        else:  # a modal
            main = (tense, forms["base"])
        aux, verb = main
        if pron and contract and (pron, aux) in SUBJECT_CONTRACTION and not (neg and aux == "have"):
            head = [SUBJECT_CONTRACTION[(pron, aux)]] + (["not"] if neg else [])
        elif pron and contract and aux in ("will", "would") and not neg:
            head = [pron + ("'ll" if aux == "will" else "'d")]
        elif neg and contract and aux in NEGATIVE:
            head = subj["words"] + [NEGATIVE[aux]]
        else:
            head = subj["words"] + [aux] + (["not"] if neg else [])
        return head + verb.split()

    def tense(self) -> str:
        return self.choice(["present", "present", "past", "past", "past", "future", "going_to",
                            "progressive", "progressive", "past_progressive", "perfect", "perfect",
                            "can", "could", "should", "might", "must", "would"])

    def time_for(self, tense: str) -> list[str]:
        key = tense if tense in TIMES else ("future" if tense in ("going_to", "will") else "future")
        return self.time(key)

    def adverbials(self, tense: str, manner: bool = True) -> list[str]:
        out = []
        if manner and self.p(0.15):
            out.append(self.choice(self.lex.manner))
        if self.p(0.35):
            out += self.place_pp()
        if self.p(0.12):
            out += self.with_pp()
        if self.p(0.35):
            out += self.time_for(tense)
        return out

    # -- clauses ----------------------------------------------------------------------
    def transitive_clause(self, tense: str | None = None, neg: bool | None = None) -> list[str]:
        forms, classes, animal, _ = self.choice(self.lex.transitive)
        subj = self.subject(animal=animal)
        tense = tense or self.tense()
        neg = self.p(0.2) if neg is None else neg
        words = self.verb_group(subj, forms, tense, neg)
        if tense == "present" and not neg and self.p(0.2):
            words.insert(len(subj["words"]), self.choice(self.lex.frequency))
        return words + self.object_np(self.choice(classes)) + self.adverbials(tense, manner=not neg)

    def intransitive_clause(self, tense: str | None = None, neg: bool | None = None) -> list[str]:
        forms, animal, vehicle = self.choice(self.lex.intransitive)
        subj = self.subject(animal=animal, vehicle=vehicle)
        tense = tense or self.tense()
        neg = self.p(0.2) if neg is None else neg
        words = self.verb_group(subj, forms, tense, neg)
        extra = self.adverbials(tense, manner=not neg)
        if not extra and self.p(0.6):
            extra = self.time_for(tense) if self.p(0.5) else self.place_pp()
        return words + extra

    def ditransitive_clause(self) -> list[str]:
        forms, classes, _, _ = self.choice(self.lex.ditransitive)
        subj = self.person_np()
        tense = self.tense()
        words = self.verb_group(subj, forms, tense, self.p(0.15))
        receiver = self.object_np("person")
        thing = self.object_np(self.choice(classes))
        if thing[0] in ("it", "them") or self.p(0.4):
            words += thing + ["to"] + receiver
        else:
            words += receiver + thing
        return words + (self.time_for(tense) if self.p(0.3) else [])

    def copula_clause(self) -> list[str]:
        cls = self.choice(["person", "person", "animal", "food", "drink", "thing", "clothes", "vehicle",
                           "text", "building", "nature", "abstract", "instrument"])
        if cls == "person":
            subj = self.person_np()
        else:
            words, plural = self.noun_phrase(cls, adj_prob=0.1)
            subj = {"words": words, "pron": None, "agr": "pl" if plural else "3sg"}
        tense = self.choice(["present", "present", "past", "future", "perfect", "might", "must"])
        neg = self.p(0.2)
        be = {"base": "be", "s": "is", "past": "was", "pp": "been", "ing": "being"}
        if tense == "present":
            verb = BE["present"][subj["agr"]]
            words = self.verb_group(subj, {**be, "base": verb}, "can", neg)  # reuse contraction rules
            words = self._fix_be(words, subj, verb, neg)
        elif tense == "past":
            verb = BE["past"][subj["agr"]]
            words = subj["words"] + ([NEGATIVE[verb]] if neg and self.p(0.7) else [verb] + (["not"] if neg else []))
        else:
            words = self.verb_group(subj, be, tense, neg)
        adj = self.choice(self.lex.adjectives[cls])
        if self.p(0.35):
            words.append(self.choice(self.lex.degree))
        words.append(adj)
        if self.p(0.25):
            other = self.choice(self.lex.adjectives[cls])
            if other != adj:
                words += [self.choice(["and", "and", "and", "but"]), other]
        if tense in ("present", "past") and self.p(0.3):
            words += self.time_for("progressive" if tense == "present" else tense)
        return words

    def _fix_be(self, words: list[str], subj: dict, verb: str, neg: bool) -> list[str]:
        """Present "be" as a main verb: "she's tired", "they aren't ready", "the cat is hungry"."""
        pron = subj["pron"]
        if pron and self.p(0.6) and (pron, verb) in SUBJECT_CONTRACTION:
            return [SUBJECT_CONTRACTION[(pron, verb)]] + (["not"] if neg else [])
        if neg and verb != "am" and self.p(0.7):
            return subj["words"] + [NEGATIVE[verb]]
        return subj["words"] + [verb] + (["not"] if neg else [])

    def there_clause(self) -> list[str]:
        cls = self.choice(["animal", "thing", "food", "person", "vehicle", "text", "clothes"])
        words, plural = self.noun_phrase(cls, adj_prob=0.3)
        if words[0] in ("the", "this", "that", "these", "those", "my", "your", "his", "her", "our", "their",
                        "every", "all") or words[0].endswith("'s"):
            words = ([self.article(words[1])] if not plural else [small_number(self.rng)]) + words[1:]
            if plural and words[1].endswith("'s"):
                words = words[:1] + words[2:]
        tense = self.choice(["present", "present", "present", "past", "past", "future"])
        if tense == "present":
            head = ["there's"] if not plural and self.p(0.5) else ["there", "are" if plural else "is"]
        elif tense == "past":
            head = ["there", "were" if plural else "was"]
        else:
            head = ["there", "will", "be"]
        return head + words + self.place_pp() + (self.time_for(tense) if self.p(0.3) else [])

    # -- sentence frames --------------------------------------------------------------
    def yes_no_question(self) -> list[str]:
        forms, classes, animal, _ = self.choice(self.lex.transitive)
        subj = self.subject(animal=animal)
        s = subj["words"] if subj["pron"] != "i" or self.p(0.2) else ["you"]
        agr = "pl" if s == ["you"] else subj["agr"]
        kind = self.choice(["do", "did", "will", "be", "have", "modal"])
        obj = self.object_np(self.choice(classes))
        if kind == "do":
            return ["does" if agr == "3sg" else "do"] + s + [forms["base"]] + obj + self.adverbials("present", False)
        if kind == "did":
            aux = "didn't" if self.p(0.15) else "did"
            return [aux] + s + [forms["base"]] + obj + self.adverbials("past", False)
        if kind == "will":
            return ["will"] + s + [forms["base"]] + obj + self.adverbials("future", False)
        if kind == "be":
            return [BE["present"][agr]] + s + [forms["ing"]] + obj + self.adverbials("progressive", False)
        if kind == "have":
            return ["has" if agr == "3sg" else "have"] + s + (["ever"] if self.p(0.2) else []) + \
                [forms["pp"]] + obj + self.adverbials("perfect", False)
        modal = self.choice(["can", "could", "should", "would", "might", "must"])
        if s == ["i"]:
            modal = self.choice(["can", "could", "should"])
        return [modal] + s + [forms["base"]] + obj + self.adverbials("future", False)

    def wh_question(self) -> list[str]:
        forms, classes, animal, _ = self.choice(self.lex.transitive)
        subj = self.subject(animal=animal)
        agr = subj["agr"]
        r = self.rng.random()
        aux, verb, tense = self.choice([("did", "base", "past"), ("do", "base", "present"),
                                        ("will", "base", "future"), ("can", "base", "future"),
                                        ("be", "ing", "progressive"), ("have", "pp", "perfect"),
                                        ("should", "base", "future")])
        if aux == "do":
            aux = "does" if agr == "3sg" else "do"
        elif aux == "be":
            aux = BE["present"][agr]
        elif aux == "have":
            aux = "has" if agr == "3sg" else "have"
        if r < 0.25:  # who broke the window
            cls = self.choice(classes)
            tense2 = self.choice(["past", "past", "present", "perfect", "future"])
            head = self.verb_group({"words": ["who"], "pron": None, "agr": "3sg"}, forms, tense2)
            return head + self.object_np(cls) + (self.time_for(tense2) if self.p(0.3) else [])
        if r < 0.45:  # what did you buy / which book does she want
            cls = self.choice(classes)
            if cls in self.lex.nouns and self.p(0.5):
                sg, pl = self.choice(self.lex.nouns[cls])
                lead = self.choice([["which", sg], ["which", pl], ["how", "many", pl], ["what", "kind", "of", sg]])
            else:
                lead = ["who" if cls == "person" else "what"]
            return lead + [aux] + subj["words"] + [forms[verb]] + self.adverbials(tense, False)
        wh = self.choice(["where", "when", "why", "how", "how often"])
        if wh == "why" and aux in NEGATIVE and self.p(0.4):
            aux = NEGATIVE[aux]
        if wh == "how often":
            aux, verb, tense = ("does" if agr == "3sg" else "do"), "base", "present"
        lead = wh.split()
        if not lead[-1].endswith("'s") and aux == "is" and self.p(0.4) and wh != "how often":
            return [wh + "'s"] + subj["words"] + [forms[verb]] + self.object_np(self.choice(classes))
        return lead + [aux] + subj["words"] + [forms[verb]] + self.object_np(self.choice(classes)) + \
            (self.time_for(tense) if self.p(0.3) and wh != "when" else [])

    def imperative(self) -> list[str]:
        forms, classes, _, _ = self.choice(self.lex.transitive)
        obj = self.object_np(self.choice(classes))
        r = self.rng.random()
        if r < 0.3:
            head = ["please", forms["base"]]
        elif r < 0.5:
            head = ["don't", forms["base"]]
        elif r < 0.7:
            head = ["let's", forms["base"]]
        else:
            head = [forms["base"]]
        tail = self.time_for("future") if self.p(0.35) else (self.place_pp() if self.p(0.3) else [])
        return head + obj + tail + (["please"] if r >= 0.7 and self.p(0.2) else [])

    def compound(self) -> list[str]:
        tense = self.choice(["present", "past", "past", "future", "progressive"])
        first = self.simple_clause(tense)
        conj = self.choice(["and", "but", "because", "so", "when", "while", "after", "before",
                            "although", "until"] + (["if"] if tense in ("present", "future") else []))
        second_tense = "present" if conj in ("if", "when", "until", "before", "after") and tense == "future" else tense
        if second_tense == "progressive" and conj in ("when", "after", "before", "until"):
            second_tense = "present"
        return first + [conj] + self.simple_clause(second_tense, short=True)

    def simple_clause(self, tense: str, short: bool = False) -> list[str]:
        r = self.rng.random()
        if r < 0.5:
            forms, classes, animal, _ = self.choice(self.lex.transitive)
            subj = self.subject(animal=animal)
            neg = self.p(0.15)
            return self.verb_group(subj, forms, tense, neg) + self.object_np(self.choice(classes)) + \
                (self.adverbials(tense, not neg) if not short and self.p(0.5) else [])
        forms, animal, vehicle = self.choice(self.lex.intransitive)
        subj = self.subject(animal=animal, vehicle=vehicle)
        neg = self.p(0.15)
        return self.verb_group(subj, forms, tense, neg) + \
            (self.adverbials(tense, not neg) if not short or self.p(0.3) else [])

    def reported(self) -> list[str]:
        subj = self.person_np()
        verb = verb_forms(self.choice(REPORTING_VERBS))
        tense = self.choice(["present", "past"])
        head = self.verb_group(subj, verb, tense)
        if verb["base"] == "tell":
            head += [self.choice(list(OBJECT_PRONOUN.values()))]
        if verb["base"] == "wonder":
            head += [self.choice(["if", "why", "where", "when", "whether"])]
        elif self.p(0.4):
            head += ["that"]
        inner = "past" if tense == "past" else self.choice(["present", "future", "past", "perfect"])
        return head + self.simple_clause(inner, short=True)

    def weather(self) -> list[str]:
        tense = self.choice(["present", "progressive", "past", "future"])
        where = ["in", self.choice(self.lex.cities + self.lex.countries)] if self.p(0.5) else []
        if tense == "progressive":
            head = [self.choice(["it's", "it is"]), self.choice(["raining", "snowing"])]
            if self.p(0.3):
                head = ["it", self.choice(["isn't", "wasn't"]), self.choice(["raining", "snowing"])]
            return head + where + self.time("progressive" if head[1] != "wasn't" else "past_progressive")
        adj = self.choice(["sunny", "rainy", "cloudy", "windy", "foggy", "snowy", "cold", "hot", "warm", "cool"])
        deg = [self.choice(self.lex.degree)] if self.p(0.3) else []
        head = {"present": self.choice([["it's"], ["it", "is"], ["it", "isn't"]]),
                "past": self.choice([["it", "was"], ["it", "wasn't"]]),
                "future": self.choice([["it", "will", "be"], ["it'll", "be"], ["it", "won't", "be"]])}[tense]
        return head + deg + [adj] + where + self.time("present" if tense == "present" and self.p(0.5) else
                                                      ("progressive" if tense == "present" else tense))

    def numbers_frame(self) -> list[str]:
        r = self.rng.random()
        name = self.person_np(allow_pronoun=False)
        agr = name["agr"]
        if r < 0.2:
            verb = self.choice(self.choice(EVENT_VERBS))
            return self.choice(EVENTS).split() + verb.split() + ["at"] + clock_words(self.rng).split()
        if r < 0.4:
            sg, pl = self.choice(self.lex.nouns[self.choice(["food", "thing", "clothes", "text"])])
            n = self.rng.randint(2, 30)
            verb = self.choice(COUNT_VERBS)
            price = number_words(self.rng.randint(2, 500))
            money = [self.choice(["dollars", "euros"])]
            return name["words"] + [verb] + number_words(n).split() + pl.split() + \
                (["for"] + price.split() + money if self.p(0.6) else [])
        if r < 0.55:
            age = number_words(self.rng.randint(2, 95))
            be = BE["present"][agr]
            return name["words"] + [be] + age.split() + (["years", "old"] if self.p(0.7) else [])
        if r < 0.7:
            year = year_words(self.rng.randint(1900, 2024))
            verb = self.choice(LIFE_EVENTS).format(city=self.choice(self.lex.cities),
                                                   country=self.choice(self.lex.countries))
            if agr == "pl":
                verb = verb.replace("was born", "were born")
            return name["words"] + verb.split() + ["in"] + year.split()
        if r < 0.85:
            n = number_words(self.rng.randint(2, 90))
            unit = self.choice(["minutes", "hours", "days", "weeks", "months", "years"])
            verb = self.choice(DURATION_VERBS)
            return name["words"] + [verb] + ["for"] + n.split() + [unit] + (self.place_pp() if self.p(0.3) else [])
        day = self.rng.randint(1, 20)
        return name["words"] + self.choice([["arrived"], ["will", "arrive"], ["left"], ["is", "leaving"]]) + \
            ["on", "the", ORDINALS[day - 1], "of", self.choice(self.lex.months)]

    def travel(self) -> list[str]:
        subj = self.person_np()
        place = self.choice(self.lex.cities + self.lex.countries)
        verb = verb_forms(self.choice(MOTION_VERBS))
        tense = self.choice(["past", "future", "going_to", "progressive", "perfect", "present", "might"])
        words = self.verb_group(subj, verb, tense, self.p(0.15))
        dest = ["to", place] if self.p(0.6) else ["to"] + self.place_np("building") if self.p(0.5) else \
            ["home"]
        if verb["base"] == "go" and tense == "perfect":
            words[-1] = "been"
        return words + dest + (self.time_for(tense) if self.p(0.5) else [])

    def sentence(self) -> list[str]:
        frames = [(self.transitive_clause, 26), (self.intransitive_clause, 10), (self.ditransitive_clause, 6),
                  (self.copula_clause, 9), (self.there_clause, 4), (self.yes_no_question, 8),
                  (self.wh_question, 8), (self.imperative, 5), (self.compound, 10), (self.reported, 5),
                  (self.weather, 2), (self.numbers_frame, 4), (self.travel, 4)]
        frame = self.rng.choices([f for f, _ in frames], weights=[w for _, w in frames])[0]
        return frame()


# ---------------------------------------------------------------------------------------

ALPHABET = re.compile(r"^[a-z']+( [a-z']+)*$")


def sentence_pool(n: int, seed: int, min_words: int = 4, max_words: int = 14) -> list[str]:
    """`n` distinct sentences of `min_words`..`max_words` words, deterministic from `seed`."""
    if n < 0 or min_words < 1 or max_words < min_words:
        raise CorpusError(f"sentence_pool: bad sizes n={n} min_words={min_words} max_words={max_words}")
    gen = Generator(random.Random(seed))
    seen: set[str] = set()
    pool: list[str] = []
    tries = 0
    while len(pool) < n:
        tries += 1
        if tries > 50 * n + 1000:
            raise CorpusError(f"the grammar gave only {len(pool)} distinct sentences of "
                              f"{min_words}-{max_words} words in {tries} tries; asked for {n}")
        text = " ".join(" ".join(gen.sentence()).split())
        if not min_words <= len(text.split()) <= max_words or text in seen:
            continue
        assert ALPHABET.match(text), text  # a grammar bug, not bad input
        seen.add(text)
        pool.append(text)
    return pool


@lru_cache(maxsize=1)
def vocabulary() -> frozenset[str]:
    """Every word the grammar can produce."""
    lex = lexicon()
    words: set[str] = set(FUNCTION_WORDS.replace("_", " ").split())
    phrases: list[str] = []
    for cls, entries in lex.nouns.items():
        for sg, pl in entries:
            phrases += [sg, pl] + ([sg + "'s"] if cls in ("person", "animal") else [])
    for table in (lex.transitive, lex.ditransitive):
        for forms, *_ in table:
            phrases += forms.values()
    for forms, *_ in lex.intransitive:
        phrases += forms.values()
    for spec in REPORTING_VERBS:  # in the present and past simple only
        phrases += [f for key, f in verb_forms(spec).items() if key in ("base", "s", "past")]
    for spec in MOTION_VERBS:
        phrases += verb_forms(spec).values()
    phrases += [w for ws in lex.mass.values() for w in ws]
    phrases += [w for ws in lex.adjectives.values() for w in ws]
    phrases += lex.names + [n + "'s" for n in lex.names] + lex.cities + lex.countries
    phrases += lex.manner + lex.frequency + lex.degree + lex.days + lex.months + lex.parts_of_day
    phrases += ONES[1:] + TENS[2:] + ORDINALS + PREPS_BUILDING + PREPS_NATURE + PREPS_THING
    phrases += EVENTS + [v for verbs in EVENT_VERBS for v in verbs] + COUNT_VERBS + DURATION_VERBS
    phrases += [e.format(city="", country="") for e in LIFE_EVENTS] + ["were born"]
    phrases += ["lunch", "kind", "whether", "oh", "summer", "arrive", "arrived", "leaving", "called"]
    for p in phrases:
        words.update(p.split())
    return frozenset(words)
