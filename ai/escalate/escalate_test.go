package escalate

import (
	"testing"
	"time"

	"github.com/iace/iace/store"
)

func TestKeywordsMatchWholeWordsInAnyCase(t *testing.T) {
	p := New(store.EscalationRules{Keywords: []string{"manager", "Cancel my account", "  "}})
	for _, tc := range []struct {
		said string
		want store.EscalationReason
	}{
		{"Get me your MANAGER, now!", store.EscalationKeyword},
		{"I want to cancel my account today", store.EscalationKeyword},
		{"our management team said so", ""},
		{"cancel the order, not my account", ""},
		{"", ""},
	} {
		if got := p.CallerSaid(tc.said); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.said, got, tc.want)
		}
	}
	if got := New(store.EscalationRules{}).CallerSaid("manager"); got != "" {
		t.Errorf("no keywords configured: %q", got)
	}
}

func TestKeywordsAskedForOnly(t *testing.T) {
	for _, tc := range []struct {
		said string
		want bool
	}{
		// asked for
		{"I'd like to speak to a manager, please.", true},
		{"Why can't I speak to a manager?", true},
		{"I'm not happy, get me a manager.", true},
		{"im not happy just get me a manager", true},
		{"no i want a supervisor", true},
		{"i dont want to wait i want a human", true},
		{"A live agent please, not a bot.", true},
		{"Can I talk to the manager?", true},
		{"Manager, please.", true},
		{"Who's in charge there?", true},
		{"get me ur manager now", true},
		{"Could you transfer me to a rep?", true},
		{"I want to make a formal complaint.", true},
		{"Someone's hacked my account.", true},
		{"Can I be transferred to your team leader?", true},
		{"I'd like this escalated, please.", true},
		{"Can I speak to someone more senior?", true},
		{"Is there anyone else I can talk to?", true},
		{"Is there nobody there that can help?", true},
		{"Can I have your MANAGER'S number?", true},
		{"Can I have your manager\u2019s number?", true},
		// a matter for a person, told calmly
		{"My father passed away last month.", true},
		{"My husband died in March.", true},
		{"It's about my late mother's account.", true},
		{"I'm the executor of her estate.", true},
		{"I'll be talking to my solicitor.", true},
		{"I'll see you in court.", true},
		{"Someone has stolen my card details.", true},
		{"I can smell gas in the hallway.", true},
		{"The pharmacy gave him the wrong dose.", true},
		{"I can\u2019t afford to pay this, I've nothing left.", true},
		// taken back
		{"I don't need a human, just my balance.", false},
		{"No, I don't want to talk to a human.", false},
		{"There's no need to put me through to anyone.", false},
		{"I'm not asking for a supervisor.", false},
		{"No, don't transfer me, you can do it.", false},
		{"I DON'T want a manager", false},
		{"I don\u2019t want a manager", false},
		// someone else's, or a statement about them
		{"My manager asked me to book a table.", false},
		{"Our account manager is away.", false},
		{"My mum's supervisor rang.", false},
		{"My solicitor needs a copy of the bill.", false},
		{"The manager at your shop was lovely.", false},
		{"Your supervisor said I'd get a refund.", false},
		{"The tour operator cancelled our transfer.", false},
		{"Your rep, Sam, was brilliant yesterday.", false},
		// who the caller is
		{"Hi, I'm the office manager at Greenway Dental.", false},
		{"I'm a solicitor acting for Mrs Green.", false},
		{"This is the duty manager at the Red Lion.", false},
		{"I work as a supervisor at the depot.", false},
		{"I'm in charge of ordering for the office.", false},
		// a compound noun
		{"I'm calling from the human resources department.", false},
		{"It was human error, I typed it wrong.", false},
		// round 4: a caller in danger from someone; compensation demanded
		{"My ex has been tracking me through the app.", true},
		{"I have a restraining order against him.", true},
		{"Three days without heating, I want compensation.", true},
		{"Do I need to speak to a manager to change my tariff, or can you do it?", false},
		{"I don't want compensation, just send the right part.", false},
		{"Could you track my parcel?", false},
		{"There's a smell of rotten eggs by the cooker.", true},
		{"He keeps coming round and I don't feel safe here.", true},
		{"Is it safe to pay by card over the phone?", false},
		// round 5: not a request, not a matter
		{"Your rep Sam came round yesterday and measured up.", false},
		{"My husband's the one in charge of the account.", false},
		{"Who's the one in charge of refunds there?", true},
		{"I got a phishing email about my account, but I didn't click on it.", false},
		{"I got a phishing email and clicked the link.", true},
		{"I'd like fraud alerts on my card, please.", false},
		{"What does the death benefit pay out?", false},
		{"I made a complaint in the spring, and that got sorted.", false},
		// not the keyword at all
		{"How much is it per person?", false},
		{"Can I pay in person?", false},
		{"Our management office.", false},
		{"My travel agent booked it.", false},
		{"No complaints at all.", false},
		{"My phone died, so I'm ringing back.", false},
		{"My son passed his driving test.", false},
		{"I have power of attorney for my mum.", false},
		{"I can't afford the premium plan, is there a cheaper one?", false},
	} {
		// each sentence is a call of its own: the topics remember a call
		if got := New(rulesAlone()).CallerSaid(tc.said) != ""; got != tc.want {
			t.Errorf("%q: escalates %v, want %v", tc.said, got, tc.want)
		}
	}
}

func TestSentimentRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rules  store.EscalationRules
		scores []float64
		want   store.EscalationReason
		at     int // the turn it fires on, from 1; it fires on none before
	}{
		{"three negative turns in a row", store.EscalationRules{NegativeTurns: 3}, []float64{-0.3, -0.5, -0.6}, store.EscalationNegativeTurns, 3},
		{"a neutral turn breaks the run", store.EscalationRules{NegativeTurns: 3}, []float64{-0.3, -0.5, 0, -0.6}, "", 0},
		{"growing angrier below the threshold", store.EscalationRules{SentimentBelow: -0.3}, []float64{-0.1, -0.4, -0.7}, store.EscalationSentiment, 3},
		{"two angry turns, then a third", store.EscalationRules{SentimentBelow: -0.4}, []float64{-0.6, -0.6, -0.6}, store.EscalationSentiment, 3},
		{"two angry turns are the story", store.EscalationRules{SentimentBelow: -0.4}, []float64{-0.8, -0.8, 0.3, 0.6}, "", 0},
		{"one pleasant line between angry ones", store.EscalationRules{SentimentBelow: -0.4}, []float64{-0.6, 0.7, -0.8}, store.EscalationSentiment, 3},
		{"one sharp word is not enough", store.EscalationRules{SentimentBelow: -0.3}, []float64{-0.9}, "", 0},
		{"a sharp opening, then facts", store.EscalationRules{SentimentBelow: -0.4}, []float64{-0.9, 0, 0.1}, "", 0},
		{"facts do not water anger down", store.EscalationRules{SentimentBelow: -0.4}, []float64{0, 0, 0, -0.8}, store.EscalationSentiment, 4},
		{"angry once the agent has answered twice", store.EscalationRules{SentimentBelow: -0.4}, []float64{0, 0, -0.8}, store.EscalationSentiment, 3},
		{"a polite opening leaves the window", store.EscalationRules{SentimentBelow: -0.4}, []float64{0.5, -0.3, 0, -0.9}, store.EscalationSentiment, 4},
		{"a thank-you in the window lifts the mood", store.EscalationRules{SentimentBelow: -0.4}, []float64{0, 0.8, -0.7}, "", 0},
		{"calming down below the threshold", store.EscalationRules{SentimentBelow: -0.3}, []float64{-0.8, -0.2, 0.3}, "", 0},
		{"sentiment rules off", store.EscalationRules{}, []float64{-1, -1, -1, -1}, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(tc.rules)
			for i, s := range tc.scores {
				got := p.Scored(s)
				if i+1 == tc.at {
					if got != tc.want {
						t.Errorf("after %v: %q, want %q", tc.scores[:i+1], got, tc.want)
					}
					return
				}
				if got != "" {
					t.Fatalf("fired %q after %v", got, tc.scores[:i+1])
				}
			}
			if tc.want != "" {
				t.Errorf("never fired, want %q at turn %d", tc.want, tc.at)
			}
		})
	}
}

func TestRepeatedFallbacksCountInARow(t *testing.T) {
	p := New(store.EscalationRules{RepeatedFallbacks: 2})
	if p.AgentReplied(true) != "" || p.AgentReplied(false) != "" || p.AgentReplied(true) != "" {
		t.Fatal("fired before two fallbacks in a row")
	}
	if got := p.AgentReplied(true); got != store.EscalationRepeatedFallbacks {
		t.Errorf("two fallbacks in a row: %q", got)
	}
}

func TestMaxDuration(t *testing.T) {
	p := New(store.EscalationRules{MaxDurationSeconds: 300})
	if p.Elapsed(299*time.Second) != "" || p.Elapsed(300*time.Second) != store.EscalationMaxDuration {
		t.Error("max duration fires at 300 s, not before")
	}
	if New(store.EscalationRules{}).Elapsed(10*time.Hour) != "" || New(store.EscalationRules{}).MaxDuration() != 0 {
		t.Error("no limit configured, yet it fired")
	}
}

func TestScoresAreBounded(t *testing.T) {
	p := New(store.EscalationRules{SentimentBelow: -0.5})
	for range 1000 {
		p.Scored(0.5)
	}
	if len(p.scores) > maxScores || cap(p.scores) > 2*maxScores {
		t.Errorf("%d scores kept (cap %d)", len(p.scores), cap(p.scores))
	}
}

// rulesAlone are the recommended rules without the words model: what the
// tests of keywords, senses and topics are about.
func rulesAlone() store.EscalationRules {
	r := RecommendedRules()
	r.WordsRiskAbove = 0
	return r
}

func TestTheWordsModel(t *testing.T) {
	serious := []string{"My dad's oxygen machine has stopped and the spare cylinder is nearly empty.",
		"He's not breathing properly and it's getting worse."}
	routine := []string{"I'd like to change my delivery to Thursday morning, please.", "Lovely, thank you, that's all."}
	risk := func(turns []string) float64 {
		p := New(rulesAlone())
		p.rules.WordsRiskAbove = 1 // on, and out of reach
		for _, turn := range turns {
			if r := p.CallerSaid(turn); r != "" {
				t.Fatalf("%q: %s", turn, r)
			}
			p.AgentReplied(false)
		}
		return p.WordsRisk()
	}
	if s, r := risk(serious), risk(routine); s <= r {
		t.Errorf("risk of a dependent caller losing oxygen %.3f, of a routine change %.3f: want the first higher", s, r)
	}

	// the rule fires at its threshold, with its own reason, and is off at 0
	low := rulesAlone()
	low.WordsRiskAbove = 0.0001
	if got := New(low).CallerSaid(routine[0]); got != store.EscalationWordsModel {
		t.Errorf("a threshold every call reaches: %q, want %q", got, store.EscalationWordsModel)
	}
	p := New(low)
	p.rules.WordsRiskAbove = 0
	if got := p.CallerSaid(serious[0]); got != "" {
		t.Errorf("off: %q", got)
	}

	// what it has read of a call moves with the call
	a := New(RecommendedRules())
	a.rules.WordsRiskAbove = 1
	a.CallerSaid(serious[0])
	a.AgentReplied(true)
	b := New(RecommendedRules())
	b.Restore(a.State())
	if a.WordsRisk() != b.WordsRisk() || b.words.fallbacks != 1 {
		t.Errorf("after a move: risk %v, want %v; fallbacks %d, want 1", b.WordsRisk(), a.WordsRisk(), b.words.fallbacks)
	}
}

func TestATurnAllocatesNothing(t *testing.T) {
	p := New(RecommendedRules())
	p.CallerSaid("warm up the buffers, please")
	n := testing.AllocsPerRun(100, func() {
		p.CallerSaid("I'm not happy at all, I've been waiting for an hour and nobody called me back, it's not acceptable")
		p.Scored(-0.3)
		p.AgentReplied(false)
	})
	if n != 0 {
		t.Errorf("%v allocations a turn", n)
	}
}

func BenchmarkTurn(b *testing.B) {
	for _, bc := range []struct {
		name  string
		rules store.EscalationRules
	}{{"recommended", RecommendedRules()}, {"rules-alone", rulesAlone()}} {
		b.Run(bc.name, func(b *testing.B) {
			p := New(bc.rules)
			b.ReportAllocs()
			for b.Loop() {
				p.CallerSaid("I'm not happy at all, I've been waiting for an hour and nobody called me back, it's not acceptable")
				p.Scored(-0.3)
				p.AgentReplied(false)
			}
		})
	}
}

func TestKeywordsInAnotherSense(t *testing.T) {
	for _, tc := range []struct {
		said string
		want bool
	}{
		// a person wanted for an errand, compared with, or asked about
		{"The courier says someone over eighteen has to sign, and a real person must be home to let him in.", false},
		{"We need a real person at home to let the engineer in, is that right?", false},
		{"I'd like a real person to talk to, please.", true},
		{"Ha, you sound like a real person!", false},
		{"Am I speaking to a real human?", false},
		{"Are you a real person or a robot?", false},
		{"Are you able to put me through to your boss?", true},
		// a company named by its trade, and which one
		{"What network operator is my SIM on?", false},
		{"Which mobile operator do you use abroad?", false},
		{"The letting agent will meet the engineer.", false},
		{"Can I have the operator, please?", true},
		// put through something, not to someone
		{"Could you put me through the set-up, step by step?", false},
		{"Can you transfer me the balance from my old account?", false},
		{"Put me through to billing, please.", true},
		// passing something, not passing away
		{"My wife passed her driving test on Friday!", false},
		{"My wife passed on Friday and the bills are in her name.", true},
		// the first part of a compound
		{"Is the human verification step needed every time?", false},
		{"Can I get a human-readable copy of the terms?", false},
		// "after" is asking for: "I'm after a manager"
		{"I'm not after a manager, I just want the tracking number.", false},
		{"I'm after a manager, please.", true},
	} {
		if got := New(rulesAlone()).CallerSaid(tc.said) != ""; got != tc.want {
			t.Errorf("%q: escalates %v, want %v", tc.said, got, tc.want)
		}
	}
}

func TestHistoryIsNotAMatterNow(t *testing.T) {
	for _, tc := range []struct {
		said string
		want bool
	}{
		{"I had fraud on my account a few years back, all fine now, just updating my address.", false},
		{"The fraud was resolved, thanks, I only need a new PIN.", false},
		{"We had a gas leak ages ago, just booking the annual check.", false},
		{"There's been fraud on my account this morning.", true},
		{"The fraud from last year is still going on, there's another payment.", true},
		{"The fraud hasn't been resolved.", true},
		// a state that lasts is not history because it began long ago
		{"My husband died last year and the account is still in his name.", true},
		{"My solicitor wrote to you years ago.", true},
	} {
		if got := New(rulesAlone()).CallerSaid(tc.said) != ""; got != tc.want {
			t.Errorf("%q: escalates %v, want %v", tc.said, got, tc.want)
		}
	}
}

func TestTopics(t *testing.T) {
	for _, tc := range []struct {
		name  string
		turns []string
		want  int // the turn the topic is raised on, from 1; 0: never
	}{
		// #person: asking for a person in words no keyword holds
		{"chat with somebody", []string{"Could I chat with somebody from your billing people?"}, 1},
		{"speak with an adviser", []string{"I'd prefer to speak with an adviser about this."}, 1},
		{"put us through to whoever", []string{"Put us through to whoever deals with refunds."}, 1},
		{"a live human", []string{"Could you put me on to a live human please?"}, 1},
		{"someone I could speak with", []string{"Is there a person I could speak with about my pension?"}, 1},
		{"someone to talk to", []string{"I just want someone to talk to about this bill."}, 1},
		{"authority to refund", []string{"I need somebody with the authority to refund me."}, 1},
		{"who actually understands", []string{"Find me someone who actually understands the account."}, 1},
		{"talk to you", []string{"I'd like to talk to you about my upgrade."}, 0},
		{"talk to a friend first", []string{"I'll talk to a friend first and ring back."}, 0},
		{"my own plan", []string{"I'm going to speak to a plumber about it."}, 0},
		{"someone for an errand", []string{"I need someone to collect the old fridge."}, 0},
		{"a description", []string{"My neighbour is someone who knows about boilers."}, 0},
		{"taken back", []string{"No need to get me anyone, I'm sorted."}, 0},
		{"a new one, not a person", []string{"Can you get me a new one sent out?"}, 0},
		// round 4
		{"put through in the passive", []string{"Could I possibly be transferred to a member of staff?"}, 1},
		{"no article", []string{"My English not good.", "I need talk with human please."}, 2},
		{"a person against a machine", []string{"I want a person, not a robot."}, 1},
		{"rather not with a computer", []string{"I'd prefer not to sort this out with a machine."}, 1},
		{"nobody there to talk to", []string{"Is there nobody there I can talk to about this?"}, 1},
		{"someone to explain it to", []string{"I just need someone I can explain the situation to."}, 1},
		{"rather not use the app", []string{"I'd rather not use the app, can you do it?"}, 0},
		{"sounds like a person, not a robot", []string{"You sound like a person, not a robot!"}, 0},
		{"a question of need", []string{"Um, will I have to talk to someone to move my appointment?"}, 0},
		{"the robot hoover", []string{"My robot vacuum arrived without a charger."}, 0},
		{"credentials changed, disowned", []string{"A letter came with a new PIN for my card.", "I never requested it."}, 2},
		{"password reset, disowned", []string{"I've had a text saying my password was reset, but I didn't reset it."}, 1},
		{"the caller's own change", []string{"I changed my email last week. I didn't change the password, is that ok?"}, 0},
		{"keep it secret", []string{"A lady from the council rang, she said not to mention it to anyone at the bank."}, 1},
		{"a safe account", []string{"The caller wanted me to move my savings into a safe account today."}, 1},
		{"the bank's own advice", []string{"The bank said never to tell anyone my PIN, so I haven't."}, 0},
		{"water cut off, children", []string{"They've switched our water off.", "I've got three young children here."}, 2},
		{"stranded with a toddler", []string{"We're stranded on the A1 with a toddler and it's getting dark."}, 1},
		{"children, nothing lost", []string{"I'd like to add my children to the policy."}, 0},
		{"a routine breakdown booking", []string{"My car broke down last month and I'd like to book a service."}, 0},
		{"hard of hearing, can't follow", []string{"I wear a hearing aid.", "Sorry, I can't follow you at all."}, 2},
		{"hard of hearing, routine", []string{"I'm hard of hearing so please speak slowly.", "Lovely, that's all booked, thank you."}, 0},
		{"cannot hear, no difficulty", []string{"Sorry, I can't hear you, the line is bad.", "That's better, thanks."}, 0},
		{"told the same before", []string{"Processing, processing. That's what you told me last month."}, 1},
		{"told something else before", []string{"You said last time I could pay in two parts, can I do that?"}, 0},
		{"a visit missed again", []string{"The plumber never showed up again, so I'm still without a shower."}, 1},
		{"a visit missed once", []string{"The driver didn't turn up yesterday, can we rebook?"}, 0},
		{"water all over the floor", []string{"The dishwasher has leaked and there's water everywhere in the kitchen."}, 1},
		{"a spill is not a flood", []string{"I spilt some tea on the floor of the shop, sorry, anyway my order."}, 0},
		// round 5
		{"a person in idiom", []string{"Is there anyone there with a heartbeat I could talk to?"}, 1},
		{"a warm body", []string{"Honestly, just give me a living breathing body on the phone."}, 1},
		{"a callback from a person", []string{"Can you have one of your staff call me back this afternoon?"}, 1},
		{"a person, not more emails", []string{"I want a human being, not more emails."}, 1},
		{"a callback, no person", []string{"Can you get the courier to ring me when he's outside?"}, 0},
		{"a payee never dealt with", []string{"There's a charge of ninety pounds from a florist.", "I've never ordered anything from them."}, 2},
		{"a card never out of reach", []string{"A transaction in Madrid? My card has been in my wallet the whole time."}, 1},
		{"never agreed to any of it", []string{"Someone's signed me up to a subscription.", "I never agreed to any of that."}, 2},
		{"ordered before, fine", []string{"There's a payment to a bookshop.", "Oh yes, I ordered from them last week, sorry."}, 0},
		{"a cold call and a code", []string{"A woman phoned me saying she was from your security team.", "I gave her the code from the text."}, 2},
		{"the company's own call", []string{"You rang me about my renewal and I gave you my card details, is it done?"}, 0},
		{"paid, then vanished", []string{"I sent the money by bank transfer for a puppy.", "Now the seller has vanished and the advert's gone."}, 2},
		{"paid, the warning gone", []string{"I've paid my bill.", "Has the warning on my account gone now?"}, 0},
		{"brakes failing", []string{"You fitted new brakes yesterday.", "Now the pedal goes almost to the floor."}, 2},
		{"brakes squeaking", []string{"The brakes squeak a little, can I book a check next week?"}, 0},
		{"the last pen", []string{"My son's insulin hasn't come.", "He has one pen left and then that's it."}, 2},
		{"a dose due within hours", []string{"Our luggage with his epilepsy medication is lost and he's due his next dose in three hours."}, 1},
		{"a dose due in weeks", []string{"My next dose of tablets is due in two weeks, can I reorder now?"}, 0},
		{"pulled over with children", []string{"The car's making a terrible noise.", "I've pulled into a layby with the children."}, 2},
		{"a lift out, a wheelchair", []string{"I'm a wheelchair user on the fifth floor.", "The lift has been out of order since Tuesday."}, 2},
		{"discoloured water, a baby", []string{"Our tap water smells of chlorine and looks cloudy.", "I've got a newborn baby."}, 2},
		{"a deal not remembered", []string{"My dad has dementia.", "He doesn't remember signing anything."}, 2},
		{"an elderly neighbour not seen", []string{"The lady next door is in her nineties.", "There's been no answer for three days."}, 2},
		{"an elderly caller, no answer", []string{"I'm 81 and I rang the surgery.", "I got through in the end, it's all booked."}, 0},
		{"redundant, not enough", []string{"I've been made redundant and there won't be enough for the rent."}, 1},
		{"a kind of matter", []string{"Is this the right number for burst pipes out of hours?"}, 0},
		{"dripping through a fitting", []string{"Rain is leaking through the ceiling light in the bedroom."}, 1},
		{"a leaking tap", []string{"The kitchen tap is leaking, can I book a plumber?"}, 0},
		// round 6
		{"a callback in other words", []string{"I'd like somebody from accounts to give us a call this week."}, 1},
		{"I'd like a person", []string{"I'd like a real person to look at this, please."}, 1},
		{"just like a person", []string{"Wow, you sound just like a real person!"}, 0},
		{"a dialect's to", []string{"Can ye put me through tae somebody in billing?"}, 1},
		{"colleagues", []string{"Could I talk to one of your advisers about it?"}, 1},
		{"somebody real", []string{"Is there somebody real I could speak to?"}, 1},
		{"a recorded voice", []string{"I'd rather not go through this with a recorded voice."}, 1},
		{"told to read a code", []string{"A man called saying he was from the council.", "He asked me to read out the code from my text."}, 2},
		{"a card with me all week", []string{"There's a payment in Leeds and my card's been in my bag all week."}, 1},
		{"nothing like that bought", []string{"There's a charge from a gaming site.", "I haven't bought anything like that."}, 2},
		{"an alarm by the boiler", []string{"There's an alarm next to the boiler going off."}, 1},
		{"the smoke alarm", []string{"The smoke alarm in the hall keeps beeping, it needs a battery."}, 0},
		{"the boiler beeps", []string{"The boiler is beeping and showing F28, how do I reset it?"}, 0},
		{"ninety and lost", []string{"I'm ninety-one, love.", "I can't make sense of this bill at all."}, 2},
		{"old and served", []string{"I'm ninety-one.", "Oh I see, so it's paid. Thank you."}, 0},
		{"out of reach, dependent", []string{"I'm on oxygen at home.", "They've left the cylinders at the depot and I can't get to it."}, 2},
		{"the fourth time, with commas", []string{"I am writing, for the fourth time, about my refund."}, 1},
		// #fraud: money the caller disowns, or a stranger using their identity
		{"never authorised", []string{"There's a withdrawal of five hundred pounds I never authorised."}, 1},
		{"never made those", []string{"Two transactions went out yesterday. I never made those."}, 1},
		{"don't recognise at all", []string{"There are charges on my statement I don't recognise at all."}, 1},
		{"a loan never taken out", []string{"I've got a loan on my credit file I never took out."}, 1},
		{"wasn't me, a turn later", []string{"There's a payment to a gaming site.", "That wasn't me."}, 2},
		{"wasn't me, two turns later", []string{"There's a payment to a gaming site.", "I'm at home.", "That wasn't me."}, 0},
		{"card details used", []string{"Somebody has been using my card details online."}, 1},
		{"a contract in my name", []string{"Someone's opened a mobile contract using my name."}, 1},
		{"a secret handed over", []string{"A man said he was from the bank and I read out my PIN. Now I think it was a scam."}, 1},
		{"the payment not made in time", []string{"I didn't make the payment on time, can you waive the fee?"}, 0},
		{"a new account", []string{"I'd like to open an account.", "I never set up online banking, can you help?"}, 0},
		{"the caller's own payment", []string{"I made a payment yesterday, has it gone through?"}, 0},
		{"a number not recognised", []string{"I had a missed call from you, I didn't recognise it."}, 0},
		// #medicine: a medicine that is wrong, taken, harmful or running out now
		{"another patient's name", []string{"The chemist gave me capsules with another patient's name on them."}, 1},
		{"taken, then a symptom", []string{"My dad started the new pills.", "He's swallowed two and he's very drowsy."}, 2},
		{"a symptom, the medicine named earlier", []string{"It's about my son's new inhaler.", "Now he's really breathless."}, 2},
		{"ran out", []string{"She ran out of her inhaler this morning and the repeat hasn't arrived."}, 1},
		{"none left", []string{"I've got no insulin left and the delivery hasn't come."}, 1},
		{"one left, until tonight", []string{"My mum's insulin never turned up.", "She's only got one pen left, it'll last until tonight."}, 2},
		{"reorder before running out", []string{"I'd like to reorder my inhaler before I run out."}, 0},
		{"two weeks left", []string{"I need to reorder my insulin, I've got about two weeks left."}, 0},
		{"ran out of time", []string{"I'd like to collect my prescription.", "I ran out of time yesterday."}, 0},
		{"hasn't taken any", []string{"The tablets came in a new box.", "She hasn't taken any of them."}, 0},
		{"no medicine, no topic", []string{"He took two days off work and now he's dizzy with joy."}, 0},
		// #vulnerable: an elderly or dependent caller losing a supply; hardship
		{"92 and the heating off", []string{"My mother is 92 and her heating has been off for two days."}, 1},
		{"eighty-nine, then the heating", []string{"My father is eighty-nine.", "His heating hasn't come on since Monday."}, 2},
		{"dialysis and a disconnection", []string{"My husband is on dialysis at home.", "We've had a letter about disconnection."}, 2},
		{"elderly, routine", []string{"I'm eighty-three and I'd like to pay my gas bill.", "Card ending 7788."}, 0},
		{"a lost supply, no one vulnerable", []string{"There's no power in my kitchen, can you send an engineer?"}, 0},
		{"a call cut off", []string{"I'm calling for my dad, I'm his carer.", "We got cut off earlier, sorry."}, 0},
		{"the bill's figure is no age", []string{"My bill is 75 now.", "Is that because of the power cut?"}, 0},
		{"cannot pay, and why", []string{"I can't afford the payments.", "I'm on universal credit and can barely feed the kids."}, 2},
		{"cannot pay by card", []string{"I can't pay by card, can I pay by bank transfer?"}, 0},
		// #hazard: a part of a home become a danger, in one sentence
		{"bare wires", []string{"There are bare wires hanging down from the light fitting."}, 1},
		{"water through the ceiling", []string{"Water is pouring through the kitchen ceiling onto the lights."}, 1},
		{"a scorched socket", []string{"The socket is scorched and there's a burning plastic smell."}, 1},
		{"the smoke alarm", []string{"The smoke alarm on the ceiling keeps beeping."}, 0},
		{"I live in a flat", []string{"I live in a flat above the shop and the boiler needs servicing."}, 0},
		{"a dripping tap", []string{"I've got a dripping tap, can you send someone?"}, 0},
		{"history", []string{"We had a burst pipe years ago and it was all sorted."}, 0},
		{"not noticed is still there", []string{"I didn't notice the wires were exposed until today."}, 1},
		// #repeat: coming back again and again
		{"phoned six times", []string{"I've phoned you six times about this and nobody has rung back."}, 1},
		{"fourth time ringing", []string{"This is the fourth time I'm ringing about the same fault."}, 1},
		{"the engineer let down again", []string{"Your engineer has cancelled on me for the third time now."}, 1},
		{"the third order", []string{"This is the third time I've ordered from you, love it."}, 0},
		{"tried three times", []string{"I've tried the website three times, can you do it?"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(rulesAlone())
			for i, turn := range tc.turns {
				got := p.CallerSaid(turn) != ""
				if got != (i+1 == tc.want) {
					t.Errorf("turn %d %q: escalates %v, want it on turn %d", i+1, turn, got, tc.want)
					return
				}
				if got {
					return
				}
			}
		})
	}
}

func TestTopicsAreTurnedOnByName(t *testing.T) {
	said := "There's a withdrawal of five hundred pounds I never authorised."
	if New(store.EscalationRules{Keywords: []string{"manager"}}).CallerSaid(said) != "" {
		t.Error("a topic raised without being turned on")
	}
	if got := New(store.EscalationRules{Keywords: []string{" #Fraud "}}).CallerSaid(said); got != store.EscalationKeyword {
		t.Errorf("#fraud: %q", got)
	}
	p := New(store.EscalationRules{Keywords: []string{"#nosuchtopic", "#fraud", "#fraud"}})
	if len(p.topics) != len(topicGroups["fraud"]) || len(p.keywords) != 0 {
		t.Errorf("topics %d, keywords %d: want fraud's %d topics once, and no keyword", len(p.topics), len(p.keywords), len(topicGroups["fraud"]))
	}
	if New(store.EscalationRules{Keywords: []string{"#nosuchtopic"}}).CallerSaid("#nosuchtopic nosuchtopic") != "" {
		t.Error("an unknown topic is a keyword")
	}
}

func TestTopicsCarryOverWithState(t *testing.T) {
	p := New(rulesAlone())
	if p.CallerSaid("My mother is ninety-two.") != "" {
		t.Fatal("an age alone raised a topic")
	}
	q := New(rulesAlone())
	q.Restore(p.State())
	if q.CallerSaid("Her heating has been off since Sunday.") == "" {
		t.Error("the age said before the move was forgotten")
	}
	if New(rulesAlone()).CallerSaid("Her heating has been off since Sunday.") != "" {
		t.Error("a lost supply alone raised a topic")
	}
}

func TestFrames(t *testing.T) {
	wordClasses["testColour"] = []string{"red", "dark_blue"}
	defer delete(wordClasses, "testColour")
	for _, tc := range []struct {
		frame, said string
		want        bool
	}{
		{"paint it <testColour>", "Please paint it dark blue.", true},
		{"paint it <testColour>", "Paint it dark green.", false},
		{"paint really? it red", "paint it red", true},
		{"paint !it red", "paint the red", true},
		{"paint !it red", "paint it red", false},
		{"paint ... red", "paint the old door red", true},
		{"paint ... red", "paint the old front door red", false},
		{"paint ... red", "paint the door, red", false},
		{"paint ~ red", "paint the door, the shed, red", true},
		{"paint ~ red", "paint the door. Red", false},
		{"paint it $", "I'll paint it, then", true},
		{"paint it $", "I'll paint it red", false},
		{"paint it $|red", "paint it red", true},
		{"paint it $|red", "paint it", true},
		{"repaint* it", "repainting it", true},
		{"dont paint", "Don\u2019t paint", true},
		{"wall paint", "the wall's paint", true},
		{"walls paint", "the wall's paint", true},
		{"walls paint", "the wall paint", false},
	} {
		f := compileFrame(tc.frame)
		ws := split(tc.said, nil)
		normalize(ws, nil)
		got := false
		for i := range ws {
			if f.canStart(&ws[i]) && matchFrame(ws, i, f.slots, 0) > i {
				got = true
			}
		}
		if got != tc.want {
			t.Errorf("frame %q in %q: %v, want %v", tc.frame, tc.said, got, tc.want)
		}
	}
}
