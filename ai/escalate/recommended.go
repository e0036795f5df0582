package escalate

import "github.com/iace/iace/store"

// RecommendedRules returns the escalation rules we suggest to an operator
// who has no reason to choose others, for a general customer-service line
// (deliveries, billing, bookings, repairs, utilities, banking, pharmacies).
// Each call returns a new value, so a caller may change it freely.
//
//   - Keywords are what a caller says when they want a person or when the
//     call has become a matter for one. First the topics, which read what
//     a caller describes in words of their own (see CallerSaid): "#person"
//     (a request for a person in any words), "#fraud", "#medicine",
//     "#vulnerable", "#hazard" and "#repeat". Then the words and phrases,
//     by category:
//   - asking for someone in charge or for any person rather than the
//     agent, in the usual phrasings ("a manager", "your boss", "someone
//     more senior", "a real person", "a rep", "a live agent", "put me
//     through", "can I be transferred", "is there anyone there who can
//     help", "I'd like this escalated");
//   - a formal complaint or a dispute ("a complaint", "I wish to
//     complain", "I want to dispute this charge", "a chargeback");
//   - a legal or regulatory threat ("my solicitor", "I'll take you to
//     court", "the ombudsman");
//   - fraud or a hacked account ("fraudulent", "unauthorised",
//     "phishing", "someone has stolen my card details");
//   - a bereavement ("passed away", "my late husband", "she died", "the
//     executor");
//   - a risk to health or safety, or a vulnerable caller: a medication
//     error ("the wrong dose"), gas, fire, sparks or flooding, "unsafe",
//     "dangerous", "vulnerable", hardship ("I can't afford to pay"), a
//     threat to the caller's own life, a caller in danger from someone
//     ("domestic abuse", "a restraining order", "he's tracking me");
//   - compensation demanded ("I want compensation"), a claim beyond the
//     agent.
//     CallerSaid lets pass the keywords a caller does not ask for ("I
//     don't need a human", "my manager asked me to book", "I'm the office
//     manager", "the human resources department", "which network operator
//     do you use", "put me through the steps", "it needs a real person to
//     sign"), and matters told as history ("some fraud last year, all
//     sorted"). Left out: bare "complain" ("I can't complain" is
//     praise), routine words such as "cancel" or "refund" that the agent
//     handles, bare "person", "someone" and "agent" ("per person",
//     "someone took my card", "my travel agent"), bare "died" and
//     "passed" ("my phone died", "he passed his test"), bare "attorney"
//     ("I have power of attorney for my mum"), "smoke" ("the smoke alarm
//     beeps"), the names of medicines ("I'd like to reorder my insulin"
//     is routine) and "no heating" or "no power" (an engineer booking the
//     agent can make). The topics use medicines and lost supplies only as
//     what a matter is about: "#medicine" needs a sign that something is
//     wrong with the medicine, "#vulnerable" an elderly or dependent
//     caller.
//   - NegativeTurns 3: a caller still negative after three exchanges is
//     not being helped by the agent.
//   - SentimentBelow -0.4: below the negative line (-0.25), so that a
//     caller who names the problem ("it's late", "it's the wrong one") is
//     not handed over, and above the scores of plainly angry turns
//     ("I'm furious", "this is unacceptable", "I'm sick of being fobbed
//     off": -0.75 and lower with the lexicon). On the 240 development
//     calls any threshold from -0.4 to -0.5 decides the same calls. Above
//     -0.4, a turn that only names the trouble (the lexicon caps such
//     words at -0.38 together) reads as angry; below -0.5, two angry
//     callers are kept. -0.4 was chosen in round 1, as the middle of the
//     range then (-0.3 to -0.5), and is not fitted anew: it is now at the
//     edge of the range.
//   - RepeatedFallbacks 3: two misunderstandings in a row are common on a
//     call that then goes well (a postcode or a name spelt out a second
//     time); a third in a row costs more goodwill than a transfer. A
//     caller who loses patience after two says so, and the sentiment or
//     keyword rule hands them over.
//
// MaxDurationSeconds is left off: how long a call may reasonably last
// depends on what the agent does. TransferOnDTMFZero and the transfer tool
// are the session's, not this policy's.
//
// The labelled conversations in testdata measure these rules with the
// offline lexicon scorer (TestLabelledConversations; see the package
// documentation for how to read the figures).
func RecommendedRules() store.EscalationRules {
	return store.EscalationRules{
		Keywords: []string{
			// matters a caller describes in words of their own (topics.go)
			"#person", "#fraud", "#medicine", "#vulnerable", "#hazard", "#repeat",
			// someone in charge, or any person rather than the agent
			"manager", "supervisor", "boss", "in charge", "team leader", "more senior", "someone senior",
			"somebody senior", "higher up",
			"human", "real person", "actual person", "live person", "to a person", "with a person",
			"representative", "rep", "operator", "an agent", "live agent", "real agent",
			"speak to someone", "talk to someone", "speak with someone", "talk with someone",
			"speak to somebody", "talk to somebody", "speak with somebody", "talk with somebody",
			"speak to anyone", "talk to anyone", "speak to anybody", "talk to anybody",
			"someone who can help", "somebody who can help", "anyone who can help", "anybody who can help",
			"there who can help", "there that can help", "someone else i", "somebody else i", "anyone else i",
			"anybody else i", "put me through", "put me on to", "put me onto", "transfer me", "be transferred",
			"connect me", "escalate", "escalated",
			// a formal complaint, or a dispute
			"dispute", "disputed", "disputing", "chargeback",
			"complaint", "complaints department", "complaints team", "complaints procedure",
			"wish to complain", "want to complain", "like to complain", "going to complain", "formally complain",
			// a legal or regulatory threat
			"lawyer", "lawyers", "solicitor", "an attorney", "attorneys", "my lawyer", "my lawyers", "my solicitor",
			"my solicitors", "my attorney", "legal action", "legal advice", "legal proceedings", "to court",
			"in court", "court action", "sue you", "to sue", "suing", "ombudsman", "regulator",
			"trading standards", "small claims", "citizens advice", "watchdog",
			// fraud and account security
			"fraud", "fraudulent", "scammed", "scammer", "scammers", "hacked", "identity theft", "phishing",
			"unauthorised", "unauthorized", "stolen my", "stole my", "cloned", "pretending to be", "impersonating",
			// a bereavement
			"passed away", "bereavement", "bereaved", "deceased", "death", "funeral", "probate", "executor",
			"widow", "widowed", "he died", "she died", "who died", "husband died", "wife died", "partner died",
			"father died", "mother died", "mum died", "dad died", "son died", "daughter died", "late husband",
			"late wife", "late partner", "late father", "late mother", "late mum", "late dad", "husband passed",
			"wife passed", "partner passed", "father passed", "mother passed", "mum passed", "dad passed",
			// a risk to health or safety, or a vulnerable caller
			"wrong dose", "wrong dosage", "wrong strength", "wrong medication", "wrong medicine",
			"wrong tablets", "wrong pills", "overdose", "double dose", "allergic reaction", "ambulance",
			"smell gas", "smell of gas", "gas leak", "carbon monoxide", "smells like gas", "smell like gas",
			"smelt gas", "smelled gas", "whiff of gas", "eggy smell", "smell of eggs", "rotten egg", "rotten eggs", "sparking", "on fire",
			"caught fire", "burning smell", "smell of burning", "electric shock", "flooding",
			"unsafe", "dangerous", "vulnerable", "hardship", "financial difficulty", "financial difficulties",
			"can't afford to pay", "cannot afford to pay", "struggling to pay", "bailiffs", "debt collector", "debt collectors",
			"suicidal", "kill myself", "end my life",
			// a caller in danger from someone: abuse, stalking, a court's order
			"don't feel safe", "dont feel safe", "not safe here", "feel unsafe", "fear for my safety",
			"domestic abuse", "domestic violence", "abusive", "molestation", "restraining order",
			"protection order", "stalking", "stalker", "tracking me", "track me", "following me", "harassing me",
			// a claim for what the company owes: compensation demanded
			"want compensation", "demand compensation", "demanding compensation", "expect compensation",
		},
		NegativeTurns:     3,
		SentimentBelow:    -0.4,
		RepeatedFallbacks: 3,
		WordsRiskAbove:    0.96,
	}
}
