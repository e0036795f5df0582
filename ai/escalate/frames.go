package escalate

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// A frame is a short pattern of words matched within one clause of what
// the caller said: the policy's way of reading a meaning that no fixed
// phrase holds ("put me through to" and then a person, however named; a
// payment and "I didn't make" in the same turn). Frames are written as
// text and compiled once:
//   - slots are separated by spaces, and each matches one word, or one of
//     a few words run together with "_" ("set_up");
//   - "a|b" is either; "<name>" is every word of a word class; a "*" at
//     the end of a word matches any ending ("disconnect*");
//   - "!" before a slot matches any one word that is none of its words;
//   - "?" after a slot makes it optional;
//   - "..." is up to three words of any kind within the clause, "~" up
//     to six across commas but not past the end of the sentence; "$" is
//     the end of the clause, alone or as an alternative ("$|and").
//
// Words are compared in any case and without apostrophes ("didnt"
// matches "didn't"); a word may take "'s" ("ceiling" matches "ceiling's"),
// except where the frame spells the possessive out ("elses" matches
// "else's", not "else").
type frame struct {
	slots []slot
	// starts are the words the frame may start with, unless anyStart: it
	// may start with any word
	starts   bitset
	anyStart bool
}

// canStart reports whether f may match from the word w.
func (f *frame) canStart(w *span) bool {
	return f.anyStart || f.starts.has(w.id) || f.starts.has(w.baseID)
}

type slot struct {
	// first holds the vocabulary ids of the first words of the slot's
	// alternatives, and rests the words that must follow each (none for a
	// one-word alternative)
	first bitset
	rests map[int32][][]int32
	stems []string          // alternatives "x*": any word that starts with x
	fn    func(string) bool // or: a word this reports true for
	not   bool              // any one word that matches none of them
	opt   bool              // may be left out
	gap   int               // up to gap words of any kind
	wide  bool              // the gap may cross a clause break, not a stop
	end   bool              // the end of the clause, or (orEnd) one of the words
	orEnd bool
}

// frameGap is how many words "..." may stand for, and wideGap "~".
const (
	frameGap = 3
	wideGap  = 6
)

// compileFrames compiles frames written as text (see frame).
func compileFrames(texts ...string) []frame {
	fs := make([]frame, 0, len(texts))
	for _, t := range texts {
		fs = append(fs, compileFrame(t))
	}
	return fs
}

func compileFrame(text string) frame {
	var f []slot
	for _, tok := range strings.Fields(text) {
		var s slot
		switch tok {
		case "...":
			f = append(f, slot{gap: frameGap})
			continue
		case "~":
			f = append(f, slot{gap: wideGap, wide: true})
			continue
		case "$":
			f = append(f, slot{end: true})
			continue
		}
		if strings.HasPrefix(tok, "!") {
			s.not, tok = true, tok[1:]
		}
		if strings.HasSuffix(tok, "?") {
			s.opt, tok = true, tok[:len(tok)-1]
		}
		s.rests = make(map[int32][][]int32)
		add := func(alt string) {
			if stem, ok := strings.CutSuffix(alt, "*"); ok {
				s.stems = append(s.stems, stem)
				return
			}
			var ids []int32
			for _, w := range strings.Split(alt, "_") {
				ids = append(ids, vocabID(w))
			}
			s.first.set(ids[0])
			s.rests[ids[0]] = append(s.rests[ids[0]], ids[1:])
		}
		for _, alt := range strings.Split(tok, "|") {
			if alt == "$" {
				s.orEnd = true
				continue
			}
			if strings.HasPrefix(alt, "<") && strings.HasSuffix(alt, ">") {
				name := alt[1 : len(alt)-1]
				if fn, ok := wordTests[name]; ok {
					s.fn = fn
					continue
				}
				words, ok := wordClasses[name]
				if !ok {
					panic("escalate: no word class " + alt)
				}
				for _, w := range words {
					add(w)
				}
				continue
			}
			add(alt)
		}
		f = append(f, s)
	}
	fr := frame{slots: f}
	for _, s := range f {
		if s.gap > 0 || s.end || s.orEnd || s.not || s.fn != nil || len(s.stems) > 0 {
			fr.anyStart = true
			break
		}
		for i, w := range s.first {
			if len(fr.starts) <= i {
				fr.starts = append(fr.starts, make(bitset, i+1-len(fr.starts))...)
			}
			fr.starts[i] |= w
		}
		if !s.opt {
			break
		}
	}
	return fr
}

// matchFrame reports where frame f, from its slot k, ends when it matches
// from ws[i] without crossing a break (but see "~"); -1 if it does not.
func matchFrame(ws []span, i int, f []slot, k int) int {
	if k == len(f) {
		return i
	}
	s := &f[k]
	switch {
	case s.wide:
		// words and clause breaks, up to s.gap words, within the sentence
		for j, words := i, 0; ; j++ {
			if e := matchFrame(ws, j, f, k+1); e >= 0 {
				return e
			}
			if j >= len(ws) || ws[j].stop || words == s.gap {
				return -1
			}
			if !ws[j].brk {
				words++
			}
		}
	case s.gap > 0:
		for g := 0; g <= s.gap; g++ {
			if g > 0 && (i+g-1 >= len(ws) || ws[i+g-1].brk) {
				break
			}
			if e := matchFrame(ws, i+g, f, k+1); e >= 0 {
				return e
			}
		}
		return -1
	case s.end:
		if i == len(ws) || ws[i].brk {
			return matchFrame(ws, i, f, k+1)
		}
		return -1
	}
	if i < len(ws) && !ws[i].brk {
		switch {
		case s.not:
			if slotWords(ws, i, s) == 0 {
				if e := matchFrame(ws, i+1, f, k+1); e >= 0 {
					return e
				}
			}
		case s.fn != nil:
			if s.fn(ws[i].w) {
				if e := matchFrame(ws, i+1, f, k+1); e >= 0 {
					return e
				}
			}
		default:
			if e := matchWords(ws, i, s, f, k, ws[i].id); e >= 0 {
				return e
			}
			if ws[i].baseID != 0 {
				if e := matchWords(ws, i, s, f, k, ws[i].baseID); e >= 0 {
					return e
				}
			}
			for _, stem := range s.stems {
				if strings.HasPrefix(string(ws[i].n), stem) {
					if e := matchFrame(ws, i+1, f, k+1); e >= 0 {
						return e
					}
				}
			}
		}
	}
	if s.opt || s.orEnd && (i == len(ws) || ws[i].brk) {
		return matchFrame(ws, i, f, k+1)
	}
	return -1
}

// matchWords matches the alternatives of slot s that start with the word
// of vocabulary id at ws[i], and then the rest of f.
func matchWords(ws []span, i int, s *slot, f []slot, k int, id int32) int {
	if !s.first.has(id) {
		return -1
	}
	for _, rest := range s.rests[id] {
		if n := restAt(ws, i+1, rest); n >= 0 {
			if e := matchFrame(ws, i+1+n, f, k+1); e >= 0 {
				return e
			}
		}
	}
	return -1
}

// slotWords is how many words of ws from i one of the slot's alternatives
// matches; 0 if none.
func slotWords(ws []span, i int, s *slot) int {
	if s.fn != nil && s.fn(ws[i].w) {
		return 1
	}
	for _, id := range [2]int32{ws[i].id, ws[i].baseID} {
		if !s.first.has(id) {
			continue
		}
		for _, rest := range s.rests[id] {
			if n := restAt(ws, i+1, rest); n >= 0 {
				return 1 + n
			}
		}
	}
	for _, stem := range s.stems {
		if strings.HasPrefix(string(ws[i].n), stem) {
			return 1
		}
	}
	return 0
}

// restAt reports how many words the words rest match from ws[i], within
// the clause; -1 if they do not.
func restAt(ws []span, i int, rest []int32) int {
	for j, r := range rest {
		if i+j >= len(ws) || ws[i+j].brk || ws[i+j].id != r && ws[i+j].baseID != r {
			return -1
		}
	}
	return len(rest)
}

// vocab numbers the words of all frames from 1; 0 is any other word.
// nextID is the next number.
var (
	vocab  = map[string]int32{}
	nextID int32
)

// vocabID is the id of the frame word w, numbered on first use.
func vocabID(w string) int32 {
	id, ok := vocab[w]
	if !ok {
		nextID++
		id = nextID
		vocab[w] = id
	}
	return id
}

// bitset is a set of vocabulary ids.
type bitset []uint64

func (b *bitset) set(id int32) {
	for int(id/64) >= len(*b) {
		*b = append(*b, 0)
	}
	(*b)[id/64] |= 1 << (id % 64)
}

func (b bitset) has(id int32) bool {
	return id > 0 && int(id/64) < len(b) && b[id/64]&(1<<(id%64)) != 0
}

// normalize sets the n of every word of ws, lower-cased and without
// apostrophes, in buf (reused), and its vocabulary ids; it returns buf.
func normalize(ws []span, buf []byte) []byte {
	buf = buf[:0]
	for i := range ws {
		if ws[i].brk {
			continue
		}
		start, apos := len(buf), -1
		for _, r := range ws[i].w {
			if r == '\'' || r == '\u2019' {
				apos = len(buf)
				continue
			}
			buf = utf8.AppendRune(buf, unicode.ToLower(r))
		}
		ws[i].n = buf[start:len(buf):len(buf)]
		ws[i].id, ws[i].baseID = vocab[string(ws[i].n)], 0
		if apos == len(buf)-1 && apos > start && buf[apos] == 's' {
			ws[i].baseID = vocab[string(buf[start:apos])] // "ceiling's": "ceiling"
		}
	}
	return buf
}

// wordClasses are the word classes frames name as "<name>".
var wordClasses = map[string][]string{
	// people a caller may ask for, by any name
	"person": {"person", "people", "human", "humans", "human_being", "someone", "somebody", "anyone", "anybody",
		"agent", "adviser", "advisor", "operator", "rep", "representative", "manager", "supervisor", "boss",
		"colleague", "colleagues", "advisers", "advisors", "agents", "operators", "reps", "representatives",
		"managers", "supervisors", "staff", "member_of_staff", "member_of_your_staff", "member_of_the_staff",
		"member_of_your_team", "member_of_the_team", "team_member", "staff_member", "one_of_your_team",
		"one_of_the_team", "one_of_your_staff", "one_of_your_colleagues", "one_of_your_people", "team_leader", "responsible", "lady", "man", "woman", "guy", "bloke", "individual",
		"specialist", "expert", "voice", "whoever"},
	// "someone" and the like, who may be wanted before a relative clause
	"someone": {"someone", "somebody", "anyone", "anybody", "person", "people", "human", "human_being"},
	// a machine, set against a person to talk to: "a person, not a
	// machine"; unlike <machine>, not "app" or "website", which a caller
	// may rather not use and still be served by the agent
	"bot": {"machine", "robot", "bot", "chatbot", "computer", "automated_system", "automated_service",
		"recording", "ai", "automated_line", "recorded_voice", "recorded_message", "automated_voice",
		"voice_recognition"},
	// the caller's own circle, whom a caller may mean to talk to first
	"circle": {"friend", "friends", "neighbour", "neighbor", "neighbours", "neighbors", "relative", "relatives",
		"family", "partner", "husband", "wife", "landlord", "bank", "gp", "mate"},
	// what is not a person to talk to
	"machine": {"machine", "robot", "bot", "chatbot", "computer", "system", "app", "website", "menu", "ai",
		"automated", "recording", "assistant"},
	// what says a person is genuine rather than the agent
	"genuine": {"real", "actual", "live", "proper", "genuine", "living", "flesh_and_blood", "breathing",
		"living_breathing", "living_and_breathing", "warm"},
	// errands a person is needed for that are not talking to the caller:
	// "it needs a real person to sign for it"
	"errand": {"sign", "countersign", "collect", "receive", "accept", "witness", "be", "let", "pick", "meet",
		"carry", "lift", "bring", "deliver", "install", "fit", "read", "drive", "take"},
	// the caller, or the caller's household
	"self": {"i", "we", "ive", "weve", "id", "wed"},
	// a negator of the caller's own action
	"neg": {"didnt", "never", "dont", "not", "havent", "hadnt", "wouldnt", "cant", "cannot", "wont"},
	// an auxiliary before it
	"aux": {"did", "do", "have", "had", "would", "definitely", "certainly", "honestly", "really", "just"},
	// what a caller does to a payment to own it
	"own": {"make", "made", "authorise", "authorised", "authorize", "authorized", "recognise", "recognize",
		"set_up", "setup", "take_out", "took_out", "taken_out", "agree_to", "agreed_to",
		"sign_up_for", "signed_up_for", "apply_for", "applied_for", "give_permission_for", "approve", "approved"},
	// what opens an account, which someone else may change: "my password
	// was changed but I didn't change it"
	"credential": {"password", "passwords", "passcode", "pin", "pin_number", "login", "login_details",
		"log_in_details", "email_address", "security_details", "security_questions", "memorable_word",
		"phone_number_on_the_account", "email_on_the_account", "address_on_the_account"},
	// money leaving an account, and the accounts it leaves
	"money": {"payment", "payments", "transaction", "transactions", "direct_debit", "direct_debits", "debit",
		"debits", "charge", "charges", "withdrawal", "withdrawals", "transfer", "transfers", "purchase",
		"purchases", "loan", "loans", "contract", "contracts", "account", "accounts", "standing_order",
		"subscription", "credit_card", "card"},
	// a pronoun that refers back to it
	"it": {"it", "them", "this", "that", "these", "those", "any", "any_of_them", "either", "one", "any_of_that",
		"any_of_it", "any_of_this", "all_of_that", "all_that", "all_this"},
	// a stranger who acts on the caller's identity
	"stranger": {"someone", "somebody", "someone_else", "somebody_else", "a_stranger", "strangers",
		"fraudster", "fraudsters", "scammer", "scammers", "criminals", "a_thief", "thieves", "hackers", "a_hacker"},
	// what a stranger does with it
	"misuse": {"opened", "open", "opening", "used", "use", "using", "taken_out", "took_out", "take_out",
		"set_up", "applied", "applying", "accessed", "accessing", "logged_into", "logged_in_to", "got_into",
		"changed", "borrowed", "spent", "ordered"},
	// what of the caller's a stranger may use
	"identity": {"my_name", "my_details", "my_identity", "my_account", "my_card", "my_card_details",
		"my_password", "my_bank_details", "my_email", "my_login", "my_information", "my_personal_details"},
	// what a caller may hand over to a fraudster
	"secret": {"code", "codes", "pin", "password", "passcode", "card_details", "card_number", "bank_details",
		"security_number", "security_code", "one_time_code", "account_number", "sort_code", "details"},
	// doubt that the one who asked was the company
	"doubt": {"fake", "a_scam", "scam", "dodgy", "suspicious", "not_you", "wasnt_you", "was_that_you",
		"was_it_you", "not_genuine", "not_real", "pretending", "claiming_to_be", "saying_they_were_from",
		"said_they_were_from"},
	// medicines and what they come in
	"medicine": {"medicine", "medicines", "medication", "medications", "tablet", "tablets", "pill", "pills",
		"capsule", "capsules", "prescription", "prescriptions", "dose", "doses", "dosage", "insulin",
		"inhaler", "inhalers", "injection", "injections", "epipen", "antibiotics", "patches",
		"blister_pack", "dosette"},
	// taking a medicine
	"take": {"took", "taken", "swallowed", "given_him", "given_her", "gave_him", "gave_her"},
	// how much of it
	"qty": {"one", "two", "three", "some", "both", "several", "half", "a_few", "one_of_them",
		"two_of_them", "a_couple", "a_tablet", "a_pill", "a_dose", "the_lot"},
	// a medicine the caller's own is not
	"whose": {"my", "his", "her", "mine", "hers", "ours", "our", "my_husbands", "my_wifes", "my_mums",
		"my_dads", "my_sons", "my_daughters", "theirs"},
	// what about a medicine may differ
	"aspect": {"name", "colour", "color", "shape", "size", "strength", "dose", "dosage", "box", "packet",
		"packaging", "label", "tablets", "pills", "brand", "medicine", "medication"},
	// what may differ from a medicine's usual look
	"differ": {"different", "wrong", "odd", "strange", "not_the_usual", "not_the_same", "not_normal",
		"not_what_i_normally", "not_what_he_normally", "not_what_she_normally"},
	// having run out
	"ranOut": {"ran_out", "have_run_out", "ive_run_out", "has_run_out", "hes_run_out", "shes_run_out",
		"weve_run_out", "theyve_run_out", "already_run_out", "already_ran_out", "completely_out", "out_of_insulin",
		"out_of_tablets", "out_of_medication", "out_of_medicine", "out_of_pills", "run_dry"},
	// how soon
	"soon": {"tomorrow", "today", "tonight", "soon", "a_day", "a_days", "one_day", "a_day_and_a_half",
		"hours", "this_evening", "this_afternoon", "the_weekend", "by_tomorrow", "by_tonight", "by_the_weekend",
		"before_the_weekend", "in_a_day", "in_two_days", "two_days", "a_couple_of_days"},
	// what a medicine may do to the one who took it
	"symptom": {"dizzy", "dizziness", "faint", "fainted", "fainting", "collapsed", "palpitations", "racing",
		"pounding", "breathless", "vomiting", "throwing_up", "rash", "hives", "swelling", "swollen", "seizure",
		"fitting", "drowsy", "unconscious", "cant_breathe", "reaction", "side_effects"},
	// what a home runs on
	"supply": {"power", "electric", "electricity", "electrics", "heating", "heat", "gas", "water", "hot_water",
		"supply", "boiler", "lights", "energy"},
	// what losing it is
	"loss": {"off", "cut", "cut_off", "down", "out", "gone", "failed", "broken", "not_working", "stopped",
		"disconnected", "packed_up", "switched_off", "turned_off", "isnt_working", "stopped_working",
		"doesnt_work", "wont_come_on", "not_come_on", "hasnt_come_on", "havent_come_on", "isnt_coming_on",
		"wont_work", "hasnt_worked", "not_on", "isnt_on", "conked_out", "given_up"},
	// what may stand between a supply and its loss: "my power's been off"
	"been": {"is", "was", "has", "have", "had", "been", "keeps", "kept", "went", "gone", "going", "just",
		"completely", "still", "now", "totally", "all"},
	// what needs it, or who is most at risk without it
	"frailty": {"elderly", "pensioner", "disabled", "disability", "wheelchair", "housebound", "bedbound",
		"bed_bound", "oxygen", "concentrator", "dialysis", "ventilator", "stairlift", "stair_lift", "hoist",
		"medical_equipment", "life_support", "nebuliser", "nebulizer", "newborn", "new_baby", "baby",
		"pregnant", "kids", "children", "my_little_one", "little_ones", "toddler", "toddlers", "young_children",
		"young_kids", "small_children", "terminally", "terminal", "chemo", "chemotherapy", "dementia", "alzheimers", "frail",
		"vulnerable", "carer", "priority_services", "priority_register"},
	// whose age or state it is
	"who": {"im", "i_am", "aged", "age", "turned", "turning", "turn", "hes", "he_is", "shes", "she_is"},
	// whose age it may be
	"kin": {"mum", "dad", "mother", "father", "husband", "wife", "nan", "nanna", "gran", "granny", "grandma",
		"grandad", "grandpa", "grandmother", "grandfather", "aunt", "uncle", "neighbour", "neighbor", "he", "she",
		"partner", "mam", "mom"},
	// what may come after an age
	"afterAge": {"and", "years", "now", "next", "this", "so", "but", "with", "on", "in", "living", "who",
		"myself", "himself", "herself"},
	// parts of a home that can be a danger
	"fitting": {"wire", "wires", "wiring", "cable", "cables", "socket", "sockets", "plug", "plugs", "switch",
		"electrics", "electricity", "fuse_box", "fusebox", "consumer_unit", "ceiling", "roof", "wall", "pipe",
		"pipes", "boiler", "cooker", "hob", "meter", "light", "lights", "fitting", "heater", "radiator",
		"chimney", "flue", "tank", "floor", "floors", "kitchen", "bathroom", "hallway", "carpet", "carpets",
		"basement", "cellar", "electrics_cupboard"},
	// what makes them one
	"hazard": {"exposed", "bare", "sticking_out", "hanging_out", "hanging_down", "sparked", "sparking",
		"sparks", "burst", "collapsed", "collapsing", "come_down", "came_down", "coming_down", "fallen_in",
		"fell_in", "caved_in", "melted", "melting", "scorched", "scorch", "hissing", "hot_to_touch",
		"too_hot_to_touch", "smoke_coming", "smoking", "shock", "buzzing", "crackling", "water_in",
		"water_into", "water_coming_through", "water_pouring", "pouring_through", "dripping_through",
		"leaking_through", "leaking_into", "leaking_onto", "dripping_into",
		"dripping_onto"},
	// who may ask a caller to keep a secret: the one who called them
	"caller": {"he", "she", "they", "man", "woman", "lady", "guy", "caller", "someone", "somebody", "bloke",
		"person", "gentleman", "chap"},
	// a hearing or speech difficulty that the voice agent may not get past
	"hearing": {"deaf", "hard_of_hearing", "hearing_aid", "hearing_aids", "my_hearing", "his_hearing",
		"her_hearing", "hearing_impaired", "speech_impediment", "stammer", "stutter"},
	// parts of a car that keep its passengers safe
	"vehicle": {"brake", "brakes", "brake_pedal", "pedal", "steering", "tyre", "tyres", "tire", "tires", "wheel",
		"wheels", "wheel_nut", "wheel_nuts", "airbag", "airbags", "seatbelt", "seatbelts", "engine"},
	// what makes them a danger on the road
	"vehicleFault": {"failing", "going_to_the_floor", "to_the_floor", "almost_to_the_floor", "gone_soft",
		"spongy", "grinding", "came_off", "come_off", "coming_off", "fell_off", "fallen_off", "loose", "wobbling",
		"wobbly", "blew_out", "blown_out", "locked_up", "seized", "on_fire", "smoking", "pulling_to_one_side",
		"not_stopping", "wont_stop", "didnt_stop"},
	// who may take a caller's money and vanish
	"seller": {"website", "site", "page", "listing", "advert", "ad", "seller", "sellers", "landlord", "number",
		"phone_number", "account", "profile", "company", "they", "he", "she", "person"},
	// how long a card has stayed with its owner
	"throughout": {"whole_time", "the_whole_time", "the_entire_time", "all_along", "all_the_time", "all_day",
		"all_week", "all_weekend", "all_month", "all_night", "since", "never_left"},
	// a visit that did not happen
	"noShow": {"didnt_turn_up", "didnt_show", "didnt_show_up", "didnt_come", "never_turned_up",
		"never_showed", "never_showed_up", "never_came", "hasnt_turned_up", "hasnt_come", "hasnt_shown_up",
		"not_turned_up", "no_show", "no_one_turned_up", "nobody_turned_up", "nobody_came", "no_one_came",
		"no_one_showed", "nobody_showed", "stood_me_up", "let_me_down"},
	// a count of repeated attempts
	"count": {"three", "four", "five", "six", "seven", "eight", "nine", "ten", "a_dozen", "several",
		"multiple", "numerous", "countless", "so_many", "loads_of", "many", "3", "4", "5", "6", "7", "8", "9",
		"10"},
	// the same, as an ordinal
	"nth": {"third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth", "umpteenth", "nth",
		"3rd", "4th", "5th", "6th", "7th", "8th", "9th", "10th"},
	// what a caller repeats when they are not helped
	"chase": {"called", "calling", "call", "rung", "ringing", "rang", "ring", "phoned", "phoning", "phone",
		"contacted", "contacting", "chased", "chasing", "emailed", "emailing", "written", "writing", "wrote",
		"explained", "explaining", "promised", "complained", "complaining", "cancelled", "canceled", "let_down",
		"been_let_down", "reported", "reporting"},
	// being unable to pay
	"cantPay": {"cant_pay", "cannot_pay", "can_not_pay", "unable_to_pay", "cant_afford", "cannot_afford",
		"not_enough_in", "not_enough_money", "theres_not_enough", "wont_have_enough", "wont_be_enough",
		"dont_have_enough", "havent_got_enough", "cant_cover", "cannot_cover", "wont_be_able_to_pay",
		"not_able_to_pay", "cant_make_the_payment", "cant_keep_up", "behind_on", "not_all_of_it", "in_arrears",
		"in_debt"},
	// why, when it is hardship
	"hardship": {"lost_my_job", "lost_our_jobs", "made_redundant", "nothing_else_coming_in", "no_money_coming_in", "been_redundant", "out_of_work",
		"nothing_left", "no_money", "no_income", "on_benefits", "universal_credit", "for_food", "buy_food",
		"on_food", "feed", "eat", "eating", "foodbank", "food_bank", "skipping_meals", "sick_pay", "cant_work",
		"benefits"},
}

// wordTests are word classes that a test decides.
var wordTests = map[string]func(string) bool{
	// an age at which a caller is likely to be vulnerable, in figures or
	// words: "87", "ninety", "eighty" (of "eighty-one")
	"old": func(w string) bool {
		switch strings.ToLower(w) {
		case "seventy", "eighty", "ninety", "hundred", "seventies", "eighties", "nineties":
			return true
		}
		n := 0
		for _, r := range w {
			if r > utf8.RuneSelf || !unicode.IsDigit(r) || n > 200 {
				return false
			}
			n = n*10 + int(r-'0')
		}
		return n >= 70 && n <= 115
	},
}
