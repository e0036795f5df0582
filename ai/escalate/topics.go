package escalate

import "strings"

// A topic is a matter for a person that a caller may describe in words of
// their own, without any keyword: a withdrawal they never authorised,
// capsules with another patient's name that have been swallowed, an
// eighty-seven-year-old with no hot water, bare wires hanging from a
// light fitting, a request to "chat with somebody". The rules turn a
// topic on with a keyword that names it: "#fraud" (see topicGroups).
//
// A topic is recognised by frames (see frame) of two kinds:
//   - stakes say what the matter is about (a payment, a medicine, an
//     elderly or dependent caller, a part of a home);
//   - signs say what makes it a matter for a person (the caller did not
//     make it; it has been taken; the power is off; it is sparking).
//
// A sign needs a stake in the same sentence, the same turn, this turn or
// the one before, or anywhere in the call so far (the topic's scope);
// signs of a topic without stakes, and the topic's own complete signs
// (alone), are enough by themselves. A sign does not count where the
// caller negates it ("she hasn't taken any", "before I run out") or tells
// it as history that is over ("we had a burst pipe years ago", "the fraud
// was resolved"). The signs of a request for a person are read as the
// keyword rule reads a request instead: not taken back ("no need to get me
// anyone"), not a question of who the agent is ("are you a real
// person?"), not a person wanted for an errand ("someone over eighteen to
// sign"), not a comparison ("you sound like a real person"), not the
// caller's own plan ("I'll talk to a plumber"), not a description ("he's
// someone who knows boilers").
type topic struct {
	stakes  []frame
	signs   []frame // with a stake in scope
	alone   []frame // enough by themselves
	scope   scope
	request bool // the signs ask for a person
}

// scope is where a topic's stake and sign must both be.
type scope int

const (
	inSentence scope = iota
	inTurn
	inTwoTurns // this turn or the one before: "There's a payment to a gaming site." "That wasn't me."
	inCall
)

// Frames of an age of seventy or more said as an age, which several topics
// take for a stake: "I'm ninety-one", "aged 87 and", "my mum is eighty-eight".
const (
	ageOf   = "<old> one|two|three|four|five|six|seven|eight|nine? <afterAge>|$"
	ageSaid = "<who> " + ageOf
)

// topicGroups are the topics a keyword "#name" turns on.
var topicGroups = map[string][]*topic{
	"person":     {personTopic},
	"fraud":      {fraudTopic, scamTopic, vanishTopic},
	"medicine":   {medicineTopic},
	"vulnerable": {vulnerableTopic, hardshipTopic, accessTopic, welfareTopic},
	"hazard":     {hazardTopic, vehicleTopic, alarmTopic},
	"repeat":     {repeatTopic},
}

// maxTopics bounds the topics a policy may have on: their state is a bit
// each (State.Stakes, State.Signs).
const maxTopics = 32

var (
	// personTopic: the caller asks for a person in words no keyword holds:
	// "could I chat with somebody in billing", "I'd prefer to speak with an
	// adviser", "put me on to a live human", "is there a person I could
	// speak with", "somebody with the authority to refund me".
	personTopic = &topic{request: true, alone: compileFrames(
		// speaking to someone: only a person is spoken to
		"speak|talk|chat to|with|tae someone|somebody|anyone|anybody|whoever",
		"speak|talk|chat to|with a|an|another|some|your <genuine>? !<machine>|<circle>",
		"speak|talk|chat to|with the|one_of_your|one_of_the <genuine>? <person>",
		// being put through, or brought, a person
		"put|transfer|pass|connect|get|give|find|bring me|us through? to|with|onto|on_to|tae|on_tae? "+
			"a|an|the|another|some|your? <genuine>? <person>",
		// a person to talk to, or who can decide
		"<someone>|no_one|noone|nobody <genuine>? there|here|else? who|that? i|we can|could actually|just|properly? talk|speak|chat|explain",
		"<someone> to talk|speak|chat to|with",
		"<someone> with|who_has|that_has|who_have the|some|any|more|real? authority|seniority|clout|the_power_to",
		"<someone> who|that actually|really? knows|understands|has_a_clue|can_decide|can_authorise",
		// a genuine person rather than the agent
		"a|an|some|another|your <genuine> <person>",
		// without an article, as a caller speaking another first language
		// may ask: "I want speak with person"
		"speak|talk|chat to|with <genuine>? person|human|humans|staff|manager|operator|agent",
		// being put through, in the passive: "could I be put through to a
		// member of your team?"
		"be put|passed|transferred|connected|sent through|over|across? to|with|onto "+
			"a|an|the|another|some|your? <genuine>? <person>",
		// a person set against a machine: "a person, not a machine", "I'd
		// rather not do this with a computer"
		"<someone>|person|human|humans ~ not|rather_than|instead_of|and_not a|an|the|some? <bot>",
		"rather_not|prefer_not|dont_want|do_not_want|not_comfortable|not_happy ~ with|to|using|through|by "+
			"a|an|the|this|some? <bot>",
		// a person's signs in idiom ("anybody there with a pulse",
		// "a warm body on the line"), a callback from a person ("get one of
		// your team to ring me back")
		"<someone>|person|human there|here|else? with a pulse|heartbeat",
		"warm|living|breathing|live body|bodies",
		"get|have|ask|arrange_for a|an|the|some? <genuine>? <person> to? ring|call|phone me|us back",
		// a callback in other words ("someone from your claims
		// team to give me a ring back")
		"<someone> ~ to give me|us a ring|call|bell|buzz",
		"<someone> ~ to ring|call|phone me|us back",
		"<someone>|person|human ~ not|rather_than|instead_of|and_not another|more text|texts|email|emails|messages|letters",
	)}

	// fraudTopic: money moved that the caller disowns ("two withdrawals
	// went out yesterday that I never authorised", "a loan I never took
	// out"; "There's a payment to a gaming site." "That wasn't me."; "I got
	// an email saying my password was changed, but I didn't change it"), or
	// a stranger using their identity ("somebody has been using my card
	// details").
	fraudTopic = &topic{scope: inTwoTurns,
		stakes: compileFrames("<money>", "<credential>"),
		signs: compileFrames(
			"<self> <aux>? <neg> <own> <it>? at_all|whatsoever|myself|personally? $",
			"wasnt|werent|wasnt_anything_to_do_with|nothing_to_do_with me|us $",
			"<self> <aux>? never heard_of ... $",
			// a change to the account disowned, a pronoun after its stake:
			// not "I didn't change the email, is that all right?"
			"<self> <aux>? <neg> change|changed|reset|request|requested|ask_for|asked_for <it> at_all|whatsoever|myself|personally? $",
			// a payee the caller never dealt with, a card never
			// out of their hands ("never bought anything from them", "my
			// card's been in my purse the whole time")
			"<self> <aux>? <neg> bought|ordered|shopped|used|dealt_with|heard_of ... from|with|at|of them|it|that|there|this|those",
			"<self> <aux>? <neg> bought|ordered|signed_up_for|subscribed_to anything|something like_that|like_this|of_the_sort|of_that_sort",
			"card|cards ... been|is|was|stayed in|with my|me purse|wallet|pocket|bag|handbag|house|me ~ <throughout>",
		),
		alone: compileFrames(
			"<self> <aux>? <neg> <own>|open|opened a|an|the|this|that|these|those|any? <money> "+
				"$|from|to|for|of|on_my|on_the|in_my|out_of|that|which|and|or|at_all|whatsoever",
			"<stranger> ... <misuse> ... using|in|with|under? <identity>",
		),
	}

	// scamTopic: the caller handed a secret to someone they now doubt ("a
	// man said he was from the bank and I read out my PIN, now I think it
	// was a scam").
	scamTopic = &topic{scope: inCall,
		stakes: compileFrames(
			"i gave|told|read|typed|entered|put|confirmed|shared|clicked ... <secret>|them|it|in|out|the_link|a_link",
			// "he asked me to read out a code"
			"asked|told|wanted|got me|us to give|read|tell|type|enter|confirm|share|send|say ... <secret>",
		),
		signs: compileFrames("<doubt>",
			// a stranger who rang the caller, as no bank does
			// before asking for a code ("a man rang me from your security
			// department"); not "you rang me about my renewal"
			"a|some|this|the man|woman|lady|guy|bloke|chap|caller|someone|somebody ... rang|called|phoned|texted|messaged|rung me|us|saying|claiming",
		),
		// what only a fraudster asks of a caller: to keep it secret, to
		// move money to safety ("he said not to tell anybody", "move my
		// savings to a safe account")
		alone: compileFrames(
			"<caller> said|says|told_me|told_us|told_her|told_him ... not|never to tell|mention",
			"safe|safer account|accounts",
		),
	}

	// welfareTopic: an elderly person nobody has seen or heard from, anywhere
	// in the call: "my neighbour's in his eighties" and "his curtains
	// haven't moved", "there's no answer".
	welfareTopic = &topic{scope: inCall,
		stakes: compileFrames(
			"elderly|pensioner|frail|dementia",
			ageSaid,
			"<kin> is|was|s? in? his|her|their? "+ageOf,
			"in his|her|their|my|our|your <old>",
		),
		signs: compileFrames(
			"no_answer|not_answering|isnt_answering|hasnt_answered|hasnt_been_seen|not_been_seen|nobodys_seen|no_ones_seen|havent_seen_him|havent_seen_her",
			"curtains ... havent|hasnt|not|arent moved|opened|been_opened",
			"milk|post|papers|mail ... on_the_step|on_the_doorstep|piling_up|piled_up",
		),
	}

	// vanishTopic: money paid to someone who has since vanished ("I paid a
	// deposit by bank transfer", "the website's gone now and the number
	// doesn't ring").
	vanishTopic = &topic{scope: inCall,
		stakes: compileFrames("paid|sent|transferred|gave ... deposit|money|<money>|cash|it|them|him|her"),
		signs: compileFrames(
			"<seller> has|have|is|was|just? gone|disappeared|vanished|been_taken_down|taken_down|been_deleted|deleted",
			"<seller> just? doesnt|dont|wont|isnt|arent|stopped ring|ringing|answer|answering|connect|connecting|exist|replying|responding",
			"blocked_me|blocked_us|no_longer_exists|doesnt_exist_any_more|doesnt_exist_anymore",
		),
	}

	// vehicleTopic: a car that has become unsafe to drive, anywhere in
	// the call: "it was in for new brake pads" and "the pedal's going
	// almost to the floor".
	vehicleTopic = &topic{scope: inCall,
		stakes: compileFrames("<vehicle>"),
		signs:  compileFrames("<vehicleFault>"),
	}

	// alarmTopic: an alarm sounding by a gas appliance, in one sentence:
	// "the little alarm thing on the wall near the boiler is beeping"; not
	// "the smoke alarm keeps beeping" nor "the boiler is beeping".
	alarmTopic = &topic{scope: inSentence,
		stakes: compileFrames(
			"alarm|alarms|detector ~ boiler|gas|heater|cooker|flue|fire",
			"boiler|gas|heater|cooker|carbon_monoxide|co ~ alarm|detector",
		),
		signs: compileFrames("beeping|bleeping|going_off|gone_off|went_off|sounding|screeching|flashing"),
	}

	// accessTopic: a caller who cannot hear, read or follow what they are
	// told, with a hearing or speech difficulty or a great age, anywhere in
	// the call: "I'm a bit deaf" and "I can't make out what you're saying",
	// "I'm ninety-three" and "I can't make head nor tail of it".
	accessTopic = &topic{scope: inCall,
		stakes: compileFrames(
			"<hearing>",
			// a very old caller, who may not follow either
			ageSaid,
		),
		signs: compileFrames(
			"cant|cannot|can_not|couldnt|could_not hear|make_out|catch|understand|follow you|what|a_word|that|it|anything|this",
			"cant|cannot|can_not|couldnt|could_not read|see it|them|the|my|this|that|what",
			"cant|cannot|can_not|couldnt|could_not make_head_nor_tail|make_head_or_tail|make_sense_of|make_heads_or_tails",
		),
	}

	// medicineTopic: a medicine that is not the caller's or looks wrong
	// ("capsules with another patient's name on them"), has been taken
	// ("he has swallowed two"), has made someone ill ("now he's very
	// drowsy"), or is out or about to be ("she ran out of her inhaler",
	// "only one pen left, it'll last until tonight"; not "I'd like to
	// reorder before I run out").
	medicineTopic = &topic{scope: inCall,
		stakes: compileFrames("<medicine>"),
		signs: compileFrames(
			"someone_elses|somebody_elses|another_patients|another_persons|a_different_persons|the_wrong_persons",
			"name ... not|isnt|wasnt|arent <whose>",
			"not|isnt|wasnt <whose> name",
			"<differ> name|strength|dose|dosage|medicine|medication|tablets|pills|patient|label",
			"<aspect> ... look|looks|looked|is|are|was|were|seem|seems <differ>",
			"<take> <qty> $",
			"<take> <qty> this|today|yesterday|already|before|earlier|of|last|and|now|then|by|accidentally|tonight|at|<medicine>",
			"already <take> it|them",
			"<take> it|them already|by_mistake|accidentally",
			"<symptom>",
			// out of it already, or soon
			"<ranOut> $|<soon>|this|yesterday|last|and|so|on",
			"<ranOut> of <medicine>|it|them|my|his|her|their",
			"running|run|runs out of? <medicine>|it|them|my|his|her? <soon>",
			"no|not_any|no_more|none_of_my|none_of_his|none_of_her <medicine>|pen|pens|doses|vials|cartridges left",
			"none|not_one left",
			"one|only_one|just_one|a_few|two|hardly_any|last|final ... left|remaining ~ <soon>",
			// the last of it ("about one pen left and then that's
			// it"), a dose due within hours
			"left|remaining ~ and_then_thats_it|then_thats_it|and_thats_it|then_none|and_then_nothing|then_nothing",
			"due ... <medicine> ~ hour|hours|minutes|an_hour",
		),
	}

	// vulnerableTopic: a caller who is elderly, depends on a supply for
	// their health or has young children, and is losing the supply or is
	// stranded, anywhere in the call: "my mother is 92 and her heating has
	// been off for two days", "my husband is on dialysis" and "a letter
	// about disconnection", "you've cut our water off" and "I've got the
	// kids here", "on the hard shoulder" and "my kids in the back".
	vulnerableTopic = &topic{scope: inCall,
		stakes: compileFrames(
			"<frailty>",
			ageSaid,
			"<kin> is|was? "+ageOf,
		),
		signs: compileFrames(
			"<supply> <been>? <been>? <loss>",
			"no|without <supply>",
			"disconnect*|cut_off|cutting_off|switch_off|switching_off|turn_off|turning_off ... <supply>",
			"cut|cutting|switched|switching|turned|turning <whose>|the|our <supply> off",
			// stranded on the road: "on the hard shoulder with the kids"
			"hard_shoulder|stranded|broken_down_on|broke_down_on",
			// pulled over; housebound by a broken lift; a supply
			// that looks or smells wrong; a deal the caller does not
			// remember making
			"lay_by|layby",
			"lift|lifts ~ out_of_order|broken|broken_down|not_working|out|down",
			"havent_been_out|hasnt_been_out|cant_get_out|cannot_get_out|trapped|stuck_indoors|stuck_inside",
			"<supply>|tap|taps ~ brown|discoloured|discolored|cloudy|smells_like|smells_of|tastes_like|tastes_of|contaminated",
			"doesnt|dont|didnt|cant|cannot remember|recall doing|signing|buying|agreeing|ordering|taking|setting",
			// what they depend on out of reach ("I use a wheelchair and
			// I don't drive")
			"cant|cannot|can_not|couldnt|no_way_to get_to|reach|get_there|get_out_to it|them|the|that",
			"dont|cant|cannot|can_not drive",
			"disconnection|disconnection_notice|power_cut|power_cuts|outage|blackout",
			"freezing|so_cold|too_cold",
		),
	}

	// hardshipTopic: a caller who cannot pay, and why ("I can't afford the
	// payments", "I'm on universal credit").
	hardshipTopic = &topic{scope: inCall,
		stakes: compileFrames("<cantPay>"),
		signs:  compileFrames("<hardship>"),
	}

	// hazardTopic: a part of a home that has become a danger, or is being
	// damaged, in one sentence: "bare wires hanging down from the light
	// fitting", "water pouring through the kitchen ceiling", "the socket
	// is scorched", "water all over the kitchen floor"; not "the smoke
	// alarm on the ceiling keeps beeping".
	hazardTopic = &topic{scope: inSentence,
		stakes: compileFrames("<fitting>"),
		signs: compileFrames("<hazard>", "a_shock_from|a_shock_off|shocked_me|got_a_shock",
			"water|its|it_is|theres all_over|everywhere|all_across|pouring|gushing",
			"flooded|flooding|soaked|soaking|under_water|underwater"),
		alone: compileFrames(
			"live|exposed|bare wire|wires|wiring|cable|cables",
			"wire|wires|wiring|cable|cables are|is|were|was|look live|exposed|bare",
		),
	}

	// repeatTopic: a caller who has had to come back again and again:
	// "the fourth time I'm ringing about it", "I've emailed four times",
	// "cancelled on me for the third time"; not "the third time I've
	// ordered from you".
	repeatTopic = &topic{alone: compileFrames(
		"<nth> time ... <chase>",
		"<chase> ~ for the <nth> time",
		"<chase> ... <count> times",
		// told the same before: "you said that last time", "that's what
		// they told me last week"; not "you said last time I could pay in
		// two parts"
		"said|told_me|told_us|promised that|this|the_same|exactly_that ... last time|week|month",
		"that|thats|its|same_thing what|whats you|they|he|she said|told_me|told_us|promised ... last time|week|month",
		// a visit missed again: "the engineer didn't turn up again"
		"<noShow> again|yet_again|twice|a_second_time|for_the_second_time|for_the_third_time",
	)}
)

// Frames that tell history from a matter still open, read over the
// sentence a topic's sign or a keyword is in.
var (
	// ignoredFrames: the caller did not fall for an attempt at fraud ("I
	// didn't click on it", "I just deleted it").
	ignoredFrames = compileFrames(
		"<self> <aux>? <neg> click|clicked|reply|replied|respond|responded|open|opened|answer|answered|"+
			"give|gave|press|pressed|tap|tapped|enter|entered|follow|followed|fall_for|fell_for|send|sent|ring|call",
		"<self> just? ignored|deleted|blocked|reported|binned|forwarded it|them|the|that|this",
	)
	// pastFrames: the matter is long past ("last year", "ages ago", "back in
	// March").
	pastFrames = compileFrames(
		"last year",
		"<count>|a|two|a_few|some|many|several? years|year ago|back",
		"ages|long|a_long_time|a_while ago|back",
		"in_the_past",
		"back in january|february|march|april|may|june|july|august|september|october|november|december",
	)
	// settledFrames: it is over ("it's all sorted now", "that was
	// resolved"), unless negated.
	settledFrames = compileFrames(
		"all|now|was|were|been|is|its|fully|completely|got|got_it|got_that sorted|resolved|settled|fixed|dealt_with|refunded|reimbursed|cleared|closed|sorted_out",
		"sorted|resolved|fixed|settled|refunded|reimbursed it|that|this|everything|things|them",
	)
	// currentFrames: it is not over ("still", "again", "this morning").
	currentFrames = compileFrames(
		"still|again|today|tonight|yesterday|ongoing|this_morning|this_afternoon|this_evening|this_week|this_month|right_now|just_now|last_night",
	)
)

// topicNegators take a topic's sign back when one stands in the three
// words before it, as negators do: "before I run out", "if someone
// opened an account".
var topicNegators = []string{"before", "if", "unless", "whether"}

// cognition after a negator negates knowing, not the sign: "I didn't
// realise the wires were bare".
var cognition = []string{"know", "knew", "think", "thought", "realise", "realised", "realize", "realized",
	"notice", "noticed", "see", "saw", "sure", "understand", "expect", "expected", "believe"}

// topicState is what a policy keeps of its topics over a call: a bit per
// topic it has on, by its place in Policy.topics. lastStakes are the
// stakes of the caller's latest turn.
type topicState struct{ stakes, signs, lastStakes uint32 }

// topicsSaid reports whether what the caller said, in words ws, raises one
// of the topics, and records what the call has shown of them.
func (p *Policy) topicsSaid(ws []span) bool {
	raised := false
	for n, t := range p.topics {
		bit := uint32(1) << n
		var stake, sign, hit bool
		for s := 0; s < len(ws); {
			e := sentenceEnd(ws, s)
			st, sg, al := t.inSentence(ws[s:e])
			switch {
			case al, sg && t.stakes == nil, st && sg && t.scope == inSentence:
				hit = true
			}
			stake, sign = stake || st, sign || sg
			s = e + 1
		}
		switch {
		case hit:
		case t.scope == inTurn:
			hit = stake && sign
		case t.scope == inTwoTurns:
			hit = sign && (stake || p.topic.lastStakes&bit != 0)
		case t.scope == inCall:
			if stake {
				p.topic.stakes |= bit
			}
			if sign {
				p.topic.signs |= bit
			}
			hit = (stake || sign) && p.topic.stakes&bit != 0 && p.topic.signs&bit != 0
		}
		if stake {
			p.topic.lastStakes |= bit
		} else {
			p.topic.lastStakes &^= bit
		}
		raised = raised || hit
	}
	return raised
}

// sentenceEnd is where the sentence of ws that starts at s ends: its stop,
// or len(ws).
func sentenceEnd(ws []span, s int) int {
	for i := s; i < len(ws); i++ {
		if ws[i].stop {
			return i
		}
	}
	return len(ws)
}

// inSentence reports whether the sentence ws names the topic's stake,
// gives a sign that needs one, or gives a sign complete in itself.
func (t *topic) inSentence(ws []span) (stake, sign, alone bool) {
	history := -1 // unknown until a sign needs it
	counts := func(i, e int) bool {
		if t.request {
			return askedFor(ws, i, e)
		}
		if signNegated(ws, i) {
			return false
		}
		if history < 0 {
			history = 0
			if isHistory(ws) {
				history = 1
			}
		}
		return history == 0
	}
	for cs := 0; cs < len(ws); cs++ {
		if cs > 0 && !ws[cs-1].brk {
			continue // not the start of a clause
		}
		alone = alone || anyFrame(ws, cs, t.alone, counts)
		if t.stakes == nil {
			sign = sign || anyFrame(ws, cs, t.signs, counts)
			continue
		}
		stake = stake || anyFrame(ws, cs, t.stakes, nil)
		sign = sign || anyFrame(ws, cs, t.signs, counts)
	}
	return stake, sign, alone
}

// anyFrame reports whether one of fs matches in the clause of ws from cs
// where counts (if not nil) lets it count.
func anyFrame(ws []span, cs int, fs []frame, counts func(i, e int) bool) bool {
	for i := cs; i < len(ws) && !ws[i].brk; i++ {
		for k := range fs {
			if !fs[k].canStart(&ws[i]) {
				continue
			}
			if e := matchFrame(ws, i, fs[k].slots, 0); e > i && (counts == nil || counts(i, e)) {
				return true
			}
		}
	}
	return false
}

// signNegated reports whether a negator in the three words before ws[i],
// in its clause, takes it back: "no wires exposed", "I haven't taken
// any", "before I run out"; not a negated knowing ("I didn't realise the
// wires were bare").
func signNegated(ws []span, i int) bool {
	if i > 0 && !ws[i-1].brk && equalFoldNoApostrophe(ws[i-1].w, "for") {
		return true // a kind of matter, not one: "the same number for burst pipes?"
	}
	for j := i - 1; j >= 0 && j >= i-3 && !ws[j].brk; j-- {
		if (isNegator(ws[j].w) || oneOf(ws[j].w, topicNegators)) && !oneOf(ws[j+1].w, cognition) {
			return true
		}
	}
	return false
}

// isHistory reports whether the sentence ws tells of a matter that is
// over: long past or settled, and nothing in it says it is still going
// on ("I had some fraud on my card last year", "the leak was fixed";
// not "it's still not resolved from last year").
func isHistory(ws []span) bool {
	if frameIn(ws, currentFrames, nil) {
		return false
	}
	return frameIn(ws, pastFrames, nil) || frameIn(ws, settledFrames, func(i, _ int) bool { return !signNegated(ws, i) })
}

// frameIn reports whether one of fs matches anywhere in ws where ok (if
// not nil) lets it count.
func frameIn(ws []span, fs []frame, ok func(i, e int) bool) bool {
	for cs := 0; cs < len(ws); cs++ {
		if (cs == 0 || ws[cs-1].brk) && anyFrame(ws, cs, fs, ok) {
			return true
		}
	}
	return false
}

// askedFor reports whether the words ws[i:e] that a request frame matched
// ask for a person (see topic).
func askedFor(ws []span, i, e int) bool {
	cs := i
	for cs > 0 && !ws[cs-1].brk {
		cs--
	}
	if takenBack(ws, cs, i, e-i) || identityQuestion(ws, cs, i) || needQuestion(ws, cs, i) || forErrand(ws, e) {
		return false
	}
	if i-1 > cs && oneOf(ws[i-1].w, copulas) {
		return false // a description: "my neighbour is someone who knows boilers"
	}
	if i > cs {
		prev := ws[i-1].w
		// a comparison, or the caller's own plan: "you sound like a real
		// person", "I'll speak to a solicitor"
		if comesAfter(ws, cs, i, comparisons) && !wouldLike(ws, cs, i) || oneOf(prev, plans) ||
			i-1 > cs && equalFoldNoApostrophe(prev, "to") && equalFoldNoApostrophe(ws[i-2].w, "going") {
			return false
		}
	}
	return true
}

// wouldLike reports whether the "like" before ws[i] (or before its
// determiner) is a wish, not a comparison: "I'd like someone to ring me
// back", "we would like a real person".
func wouldLike(ws []span, cs, i int) bool {
	j := i - 1
	if j > cs && oneOf(ws[j].w, determiners) {
		j--
	}
	return j > cs && equalFoldNoApostrophe(ws[j].w, "like") && oneOf(ws[j-1].w, wishers)
}

// identityQuestion reports whether the clause from cs asks who the agent
// is, up to ws[i]: "am I talking to a real person?", "are you a human?",
// "is this a real person?". "Are you able to put me through?" asks for
// something.
func identityQuestion(ws []span, cs, i int) bool {
	for _, q := range identityOpeners {
		if i-cs < len(q) || !wordsAre(ws[cs:], q) {
			continue
		}
		for j := cs + len(q); j < i; j++ {
			if !oneOf(ws[j].w, identityFillers) {
				return false
			}
		}
		return true
	}
	return false
}

// needQuestion reports whether the clause from cs asks whether a person
// is needed, up to ws[i]: "do I need to speak to a person to change my
// payment date, or can you do it?", "will I have to talk to someone?".
// "Do I need to shout to get a manager?" is taken for one as well: a
// caller who means it says so again.
func needQuestion(ws []span, cs, i int) bool {
	j := cs
	for j < i && oneOf(ws[j].w, openers) {
		j++ // "erm, do I need to..."
	}
	if j >= i || !oneOf(ws[j].w, needAsks) {
		return false
	}
	if j++; j >= i || !oneOf(ws[j].w, askers) {
		return false
	}
	if j++; j < i && oneOf(ws[j].w, []string{"really", "actually", "still"}) {
		j++
	}
	if j+1 >= i || !oneOf(ws[j].w, []string{"need", "have", "got"}) || !equalFoldNoApostrophe(ws[j+1].w, "to") {
		return false
	}
	return i-(j+2) <= 4
}

var (
	// needAsks open a question of need: "do I need to", "will we have to".
	needAsks = []string{"do", "does", "will", "would", "should", "must", "shall"}
	// openers are sounds and words a caller may start a question with.
	openers = []string{"erm", "um", "umm", "uh", "er", "so", "and", "oh", "well", "ok", "okay", "right", "hi",
		"hello", "sorry"}
	// comparisons and plans before a request: "you sound like a real
	// person", "I'll speak to a solicitor".
	comparisons     = []string{"like", "than"}
	wishers         = []string{"id", "wed", "would", "should", "really", "i", "we", "youd"}
	copulas         = []string{"is", "was", "are", "were", "be", "been", "im", "hes", "shes", "its", "thats"}
	plans           = []string{"ill", "will", "shall", "gonna"}
	identityOpeners = [][]string{{"am", "i"}, {"are", "you"}, {"is", "this"}, {"is", "that"}, {"is", "it"},
		{"arent", "you"}, {"r", "u"}, {"is", "there", "a", "chance", "this", "is"}}
	identityFillers = []string{"talking", "speaking", "chatting", "to", "with", "a", "an", "the", "real", "actual",
		"live", "proper", "genuine", "just", "really", "even", "actually", "still", "now", "through"}
)

// forErrand reports whether the words from ws[e] say that a person is
// wanted for an errand, not to talk to: "a real person to sign for it",
// "someone must be in to collect it".
func forErrand(ws []span, e int) bool {
	for j := e; j < len(ws) && j <= e+3 && !ws[j].brk; j++ {
		if oneOf(ws[j].w, errands) {
			return true
		}
		if !oneOf(ws[j].w, errandLinks) {
			return false
		}
	}
	return false
}

var (
	errands     = wordClasses["errand"]
	errandLinks = []string{"to", "must", "has", "have", "needs", "need", "should", "will", "can", "could", "present",
		"there", "in", "at", "home", "over", "aged", "eighteen", "18", "who", "that", "is", "be"}
)

// topicKeyword reports the topics a keyword "#name" turns on, or nil.
func topicKeyword(k string) ([]*topic, bool) {
	name, ok := strings.CutPrefix(strings.TrimSpace(k), "#")
	if !ok {
		return nil, false
	}
	return topicGroups[strings.ToLower(name)], true
}
