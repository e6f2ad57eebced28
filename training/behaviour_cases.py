"""Extra minimum-functionality cases for the behaviour suite: churn intent, negation, contrast.

Each case is a ``(text, label, expected)`` triple in the shape of
:class:`training.behaviour.MFTCase`: a post written to a brand, one label of the taxonomy
(``../shared/docs/taxonomy.md``) and whether the post must (``True``) or must not
(``False``) get it.

- :data:`CHURN_CASES` checks ``churn_intent`` across ten industries. The positives say plainly
  that the author is leaving, has left, is cancelling or is switching, in every form a customer
  uses (cancelling a contract, closing an account, porting a number, "won't be renewing",
  "bye @Netflix"), with and without a complaint before it. The near misses use the same words
  without leaving the brand: cancelling one order, booking, flight or transfer, changing plan or
  settings, switching *to* the brand, someone else leaving, idioms ("I'm dying laughing").
- :data:`NEGATION_CASES` checks sentiment and complaint on negation and contrast ("not bad at
  all", "can't fault", "never had a problem", "not once did ...", "it's not that I don't like
  the app, it just doesn't work"); every post appears twice, once per label.

Why: the suite's handful of churn and tone cases cannot tell a model that reads leaving and
negation from one that keys on "cancel", "switch", "done" or "not". These cases test both in
bulk, and only with posts a careful annotator would label the same way. They are written by hand,
independently of the training data, and must stay out of it.
"""

from __future__ import annotations

# --- Churn intent -----------------------------------------------------------------------

# Posts whose author is leaving the brand, by industry.
_CHURN_POSITIVES: dict[str, tuple[str, ...]] = {
    "telecoms": (
        "@Vodafone on hold 2 hours, cancelling my contract",
        "@Verizon I'm switching to T-Mobile",
        "@O2 ported my number to Vodafone yesterday, so you can stop texting me",
        "@Xfinity cancelling my internet service today, the router goes back on Friday",
        "@EE contract's up next month and I won't be renewing",
        "@SkyUK broadband's dropped again. that's it, I'm taking my business elsewhere",
        "@ThreeUK left you last month for Smarty and my signal's never been better",
    ),
    "streaming": (
        "bye @Netflix",
        "@Spotify cancelled my premium subscription, Apple Music here I come",
        "@DisneyPlus unsubscribed today, nothing new worth watching",
        "@hulu another price hike? cancelling my subscription tonight",
        "@YouTube not renewing Premium when this month runs out",
        "@Spotify switching to Tidal, at least they pay artists",
        "@PrimeVideo ads on a service I pay for? I'm done, cancelling",
    ),
    "banking": (
        "@Chase closing my account this week",
        "@Barclays moving my mortgage to another bank when the fixed rate ends",
        "@HSBC_UK third card blocked this month for no reason. switching to Monzo",
        "@Chase closing my credit card with you, the annual fee isn't worth it",
        "@NatWest used the switch service, my current account moves to Starling on Friday",
        "@santanderuk I've taken my savings and my salary elsewhere",
        "@WellsFargo closed all my accounts yesterday. 15 years with you, done",
    ),
    "retail": (
        "@Amazon cancelled my Prime membership, deliveries are slower than the post",
        "@Walmart this is my last order with you",
        "@ASOS never ordering from you again, third wrong item in a row",
        "@Argos done with you, Currys from now on",
        "@Target cut up my RedCard, I'll be doing my shopping at Costco from now on",
        "@eBay closing my seller account, the fees have eaten every penny",
        "@ZARA deleted my account. you won't be getting any more of my money",
    ),
    "games": (
        "@Xbox cancelled my Game Pass Ultimate subscription",
        "@PlayStation not renewing PS Plus after that price rise",
        "@EA this is the last game of yours I will ever buy",
        "@Xbox sold my Series X, moving to PC gaming for good",
        "@Ubisoft deleted my Ubisoft account, done with you and your launcher",
        "@NintendoAmerica cancelling my Switch Online membership when it expires",
        "@Warcraft unsubscribed from WoW after 12 years, it's not the game I loved",
    ),
    "utilities": (
        "@BritishGas switching to Octopus, the paperwork's already in",
        "@EDFEnergy estimated bills again. I'm moving my gas and electric to another supplier",
        "@OVOEnergy fixed deal ends in June and I won't be renewing with you",
        "@ScottishPower left you in March and I'm still waiting on my final bill",
        "@BritishGas I'm done with you. Octopus takes over my supply next week",
        "@eonenergyuk taking my business elsewhere as soon as this contract ends",
        "@octopus_energy loved you for years but I'm switching to another supplier",
    ),
    "insurance": (
        "@Geico switching to Progressive at renewal",
        "@Aviva premium up 40% for no reason, not renewing",
        "@StateFarm cancelled my home policy today and went with Allstate",
        "@Admiral I've cancelled my car insurance with you, the new policy starts tomorrow",
        "@AXA claim denied after 8 years of premiums. taking my business elsewhere",
        "@Progressive this is my last year with you",
        "@DirectLine moved my home and car cover to LV last week, bye",
    ),
    "gyms_subscriptions": (
        "@PureGym cancelled my membership today, the gym's always packed",
        "@onepeloton cancelling my subscription, can't justify it anymore",
        "@PlanetFitness making me come in person to cancel my membership. fine, I'm done",
        "@HelloFresh cancelled my plan, third box with missing ingredients",
        "@TheGymGroup I'm leaving for another gym, cancel my membership from next month",
        "@audible unsubscribed, I'll use the library instead",
        "@duolingo cancelled my Super subscription, bye",
    ),
    "food_delivery": (
        "@Deliveroo this is my last order, cold food every single time",
        "@UberEats deleted your app, switching to Deliveroo",
        "@DoorDash done with you. Grubhub from now on",
        "@JustEatUK cancelled my Just Eat+ membership, the fees wipe out the savings",
        "@Grubhub closing my account, 3 missing orders in a month",
        "@DoorDash cancelled DashPass and I'm not coming back",
        "@Deliveroo cancelling Plus. an hour late and half the order missing",
    ),
    "airlines_travel": (
        "@united that's the last time I fly United. Delta from now on",
        "@British_Airways never booking with you again after this trip",
        "@Ryanair switching to easyJet for all my trips from now on",
        "@AmericanAir cancelling my AAdvantage card and flying Southwest from now on",
        "@Expedia deleted my account, booking direct with hotels from now on",
        "@Delta 20 years a SkyMiles member and I'm taking my business elsewhere",
        "@easyJet I'm done with you. Jet2 from now on",
    ),
}

# Posts that use churn's words (cancel, switch, close, leave, done, dying) without the author
# leaving the brand, by industry.
_CHURN_NEAR_MISSES: dict[str, tuple[str, ...]] = {
    "telecoms": (
        "@Vodafone switching my plan to the bigger one, 100GB please",
        "@EE just switched to you from O2 and the signal's miles better",
        "@ThreeUK closing the app to restart it fixed the data counter, cheers",
        "@Verizon my brother is leaving you for T-Mobile. I'm staying, my signal's fine",
    ),
    "streaming": (
        "@netflix done with my exams, now to binge the whole season",
        "@Spotify switched the app to dark mode, my eyes thank you",
        "@Netflix I'm dying laughing at this new stand-up special",
        "@hulu just switched to you from Netflix, the catalogue is great",
    ),
    "banking": (
        "@Chase how do I cancel the transfer I just sent? typed the wrong amount",
        "@Monzo please cancel the payment to my landlord, I sent it twice",
        "@Barclays switching to paperless statements, where's the setting?",
        "@StarlingBank just moved my salary to you from Barclays, smoothest switch ever",
    ),
    "retail": (
        "@Amazon need to cancel my order, bought the wrong size",
        "@Argos can you cancel my click and collect? found the kettle in the loft",
        "@Target closing the app and reopening it fixed checkout, all good",
        "@eBay my mum says she's leaving you for Vinted lol. I'm not going anywhere",
    ),
    "games": (
        "@Xbox how do I cancel a pre-order? someone got me the game as a gift",
        "@PlayStation switching my PS5 to rest mode overnight, will downloads keep going?",
        "@XboxSupport just switched to Series X from PS5, Game Pass is unreal",
        "@Steam done with my finals, time to clear the backlog",
    ),
    "utilities": (
        "@BritishGas switching to your fixed tariff, where do I sign?",
        "@octopus_energy just switched over to you from EDF, painless",
        "@BritishGas need to cancel Friday's engineer visit, fixed the boiler myself",
        "@EDFEnergy moving house next month, can I take my account with me?",
    ),
    "insurance": (
        "@Geico please cancel the tow truck, the car started after all",
        "@Aviva switching the car on my policy to the new one, what do you need from me?",
        "@Admiral just switched to you from Direct Line and saved £200",
        "@Progressive my roommate is ditching you for Geico, I'm staying put",
    ),
    "gyms_subscriptions": (
        "@PureGym can I cancel my spin class booking for tonight?",
        "@PureGym upgrading to the multi-gym membership, how do I do it?",
        "@PlanetFitness I'm dying after that leg day 😂 see you tomorrow",
        "@onepeloton done with my 100th ride!! onto the next hundred",
    ),
    "food_delivery": (
        "@Deliveroo cancel my order please, the restaurant says they're closed",
        "@UberEats how do I switch the delivery address on my order?",
        "@DoorDash just switched to you from Grubhub, way more restaurants",
        "@JustEatUK done with my shift, treating myself to a curry 🍛",
    ),
    "airlines_travel": (
        "@united need to cancel my flight to Denver on the 12th, family emergency",
        "@Ryanair cancel my booking for March please, the trip's off",
        "@Delta switching my seat to an aisle, can I do it in the app?",
        "@United leaving on the 6am tomorrow, is the lounge open that early?",
    ),
}

CHURN_CASES: tuple[tuple[str, str, bool], ...] = tuple(
    (text, "churn_intent", True) for texts in _CHURN_POSITIVES.values() for text in texts
) + tuple(
    (text, "churn_intent", False) for texts in _CHURN_NEAR_MISSES.values() for text in texts
)

# --- Negation and contrast ---------------------------------------------------------------

# Every post appears twice: a sentiment check and a complaint check, or two sentiment checks.
NEGATION_CASES: tuple[tuple[str, str, bool], ...] = (
    # negated negatives: praise or relief, not a complaint
    ("@Deliveroo not bad at all, food was still hot", "sentiment:positive", True),
    ("@Deliveroo not bad at all, food was still hot", "complaint", False),
    ("I thought @Ryanair would be awful but it wasn't", "sentiment:negative", False),
    ("I thought @Ryanair would be awful but it wasn't", "complaint", False),
    ("can't fault @Monzo's support", "sentiment:positive", True),
    ("can't fault @Monzo's support", "complaint", False),
    ("never had a problem with @Tesco deliveries", "sentiment:negative", False),
    ("never had a problem with @Tesco deliveries", "complaint", False),
    ("@Argos no complaints, collection took 2 minutes", "sentiment:positive", True),
    ("@Argos no complaints, collection took 2 minutes", "complaint", False),
    ("@Amazon nothing wrong with the order, arrived perfect", "sentiment:positive", True),
    ("@Amazon nothing wrong with the order, arrived perfect", "complaint", False),
    ("@Geico couldn't have asked for a smoother claim", "sentiment:positive", True),
    ("@Geico couldn't have asked for a smoother claim", "complaint", False),
    ("@DoorDash no missing items, no cold fries, no late driver. perfect",
     "sentiment:positive", True),
    ("@DoorDash no missing items, no cold fries, no late driver. perfect", "complaint", False),
    ("@Barclays I don't hate the new app, I love it", "sentiment:positive", True),
    ("@Barclays I don't hate the new app, I love it", "sentiment:negative", False),
    ("@octopus_energy never thought I'd say this about an energy company but you're brilliant",
     "sentiment:positive", True),
    ("@octopus_energy never thought I'd say this about an energy company but you're brilliant",
     "sentiment:negative", False),
    ("@Ryanair I can't believe how easy check-in was", "sentiment:positive", True),
    ("@Ryanair I can't believe how easy check-in was", "complaint", False),
    ("@StarlingBank not gonna lie, best bank app I've used", "sentiment:positive", True),
    ("@StarlingBank not gonna lie, best bank app I've used", "sentiment:negative", False),
    ("@onepeloton the bike isn't cheap but it's worth every penny", "sentiment:positive", True),
    ("@onepeloton the bike isn't cheap but it's worth every penny", "complaint", False),
    # negation in a question or request: neutral, not a complaint
    ("@Vodafone no issues, just wondering if I can add a second SIM", "sentiment:neutral", True),
    ("@Vodafone no issues, just wondering if I can add a second SIM", "complaint", False),
    ("@Tesco not sure if you deliver on Sundays, do you?", "sentiment:neutral", True),
    ("@Tesco not sure if you deliver on Sundays, do you?", "complaint", False),
    ("@Chase I don't have a problem, just a question: what's the wire cutoff time?",
     "sentiment:neutral", True),
    ("@Chase I don't have a problem, just a question: what's the wire cutoff time?",
     "complaint", False),
    # negated positives and negative negation: unhappy, a complaint
    ("used to love you @Spotify, now I'm done", "sentiment:positive", False),
    ("used to love you @Spotify, now I'm done", "complaint", True),
    ("@EE not happy, signal gone again", "sentiment:positive", False),
    ("@EE not happy, signal gone again", "complaint", True),
    ("not once did @Vodafone call me back", "sentiment:negative", True),
    ("not once did @Vodafone call me back", "complaint", True),
    ("@netflix not impressed with the new price", "sentiment:negative", True),
    ("@netflix not impressed with the new price", "complaint", True),
    ("@Verizon not one bar of signal in my own house", "sentiment:negative", True),
    ("@Verizon not one bar of signal in my own house", "complaint", True),
    ("@united never been treated so badly by an airline", "sentiment:negative", True),
    ("@united never been treated so badly by an airline", "complaint", True),
    ("@PureGym not a single machine working on the leg floor", "sentiment:positive", False),
    ("@PureGym not a single machine working on the leg floor", "complaint", True),
    ("@Netflix nobody at support could tell me why I was charged twice",
     "sentiment:positive", False),
    ("@Netflix nobody at support could tell me why I was charged twice", "complaint", True),
    ("@SkyUK no signal, no engineer, no callback. pathetic", "sentiment:negative", True),
    ("@SkyUK no signal, no engineer, no callback. pathetic", "complaint", True),
    ("@British_Airways couldn't be more disappointed with the lounge",
     "sentiment:negative", True),
    ("@British_Airways couldn't be more disappointed with the lounge", "complaint", True),
    # contrast: the praise or the softener is not the point, the failure is
    ("@Chase it's not that I don't like the app, it just doesn't work",
     "sentiment:positive", False),
    ("@Chase it's not that I don't like the app, it just doesn't work", "complaint", True),
    ("@BritishGas the engineer wasn't rude or anything, he just never turned up",
     "sentiment:positive", False),
    ("@BritishGas the engineer wasn't rude or anything, he just never turned up",
     "complaint", True),
    ("@hulu the show isn't bad, the app is. crashes every episode", "sentiment:positive", False),
    ("@hulu the show isn't bad, the app is. crashes every episode", "complaint", True),
    ("@Deliveroo the food wasn't bad, the 2 hour wait was", "sentiment:positive", False),
    ("@Deliveroo the food wasn't bad, the 2 hour wait was", "complaint", True),
    ("@Xbox I wanted to love Game Pass but it won't download a single game",
     "sentiment:positive", False),
    ("@Xbox I wanted to love Game Pass but it won't download a single game", "complaint", True),
    ("@Walmart I'm not angry, just disappointed half my order never arrived",
     "sentiment:positive", False),
    ("@Walmart I'm not angry, just disappointed half my order never arrived", "complaint", True),
)
