"""Word lists of the built-in corpus's sentence grammar (asr/corpus/grammar.py): data only.

Nouns, adjectives and verbs by semantic class, names and places, numbers, function words, and
the phrase tables (pronouns, contractions, negations, modals, time expressions per tense).
Changing any of them changes the generated corpus.
"""

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


# ---------------------------------------------------------------------------------------
# Phrase tables. A subject is a dict: words, pron (the pronoun or None), agr ("1sg", "3sg" or "pl").

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
