package session

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/ai"
	"github.com/iace/iace/store"
)

// Metrics are the session engine's Prometheus series (namespace iace,
// subsystem session). Labels are bounded: end reasons are a closed set.
type Metrics struct {
	liveCalls prometheus.Gauge
	draining  prometheus.Gauge
	calls     *prometheus.CounterVec
	// refused counts streams refused before their call started, by why:
	// the node at its capacity, the organization at its limit.
	refused *prometheus.CounterVec
	// moves counts a draining node's calls moved to another node (or not);
	// moveTime is how long a move took, from its state to the old stream's
	// release.
	moves         *prometheus.CounterVec
	moveTime      prometheus.Histogram
	framesIn      prometheus.Counter
	eventsDropped prometheus.Counter
	reordered     prometheus.Counter
	concealed     prometheus.Counter
	late          prometheus.Counter
	bargeIns      prometheus.Counter
	// bargeHolds counts sounds over the agent that held its audio, by
	// what followed; bargeGaps the held time beyond the lead, which the
	// caller heard as a gap in the agent's speech.
	bargeHolds *prometheus.CounterVec
	bargeGaps  prometheus.Histogram
	// echoLoss is each call's learnt echo return loss (vad.Config.EchoLearn);
	// echoCancelled what the echo canceller took away (vad.Config.EchoCancel).
	echoLoss      prometheus.Histogram
	echoCancelled prometheus.Histogram
	// supervisorFrames counts the frames of supervisors' microphones
	// sent to callers; roleSwitches the supervisor role switches.
	supervisorFrames prometheus.Counter
	roleSwitches     *prometheus.CounterVec
	dtmf             prometheus.Counter
	replyLatency     prometheus.Histogram
	bargeLatency     prometheus.Histogram
	callDuration     prometheus.Histogram
	providerError    *prometheus.CounterVec
	holding          *prometheus.CounterVec
	turnStageVec     *prometheus.HistogramVec
	turnStage        [6]prometheus.Observer // by allStages, resolved once
	// completed and escalations are the business series, named without a
	// subsystem: iace_calls_completed_total{outcome} and
	// iace_escalations_total{reason}.
	completed   *prometheus.CounterVec
	escalations *prometheus.CounterVec
	// resolution is iace_resolution_time_seconds, the third business
	// series; sentiment, patternsUsed and predictions are what the
	// business dashboard shows of a call's end (see ended).
	resolution   prometheus.Histogram
	sentiment    prometheus.Histogram
	patternsUsed prometheus.Counter
	predictions  *prometheus.CounterVec
	// memoryMisses counts the calls' memory reads that missed their
	// deadline or failed, memoryFetch times them, by what was read.
	memoryMisses *prometheus.CounterVec
	memoryFetch  *prometheus.HistogramVec
	// liveSubscribers counts the live event subscriptions open;
	// liveEventsDropped the events a subscriber did not get because it
	// was behind, liveSubscribersDropped the subscriptions ended for it.
	liveSubscribers        prometheus.Gauge
	liveEventsDropped      prometheus.Counter
	liveSubscribersDropped prometheus.Counter
}

// NewMetrics registers the engine's metrics on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	opts := func(name, help string) prometheus.CounterOpts {
		return prometheus.CounterOpts{Namespace: "iace", Subsystem: "session", Name: name, Help: help}
	}
	m := &Metrics{
		liveCalls: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "iace", Subsystem: "session", Name: "live_calls",
			Help: "Calls in progress on this node."}),
		draining: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "iace", Subsystem: "session", Name: "draining",
			Help: "1 once this node has begun to drain (SIGTERM: new calls refused, live ones finishing up to the drain deadline), 0 before."}),
		calls: prometheus.NewCounterVec(opts("calls_total", "Calls ended, by end reason."), []string{"end_reason"}),
		refused: prometheus.NewCounterVec(opts("calls_refused_total",
			"Media streams refused before their call started: capacity (this node beyond its capacity), org_limit (the organization at its concurrent-call limit across the nodes), no_calls (a node that takes no calls, --take-calls=false)."),
			[]string{"reason"}),
		moves: prometheus.NewCounterVec(opts("moves_total",
			"Calls of this node, draining, moved to another node (moved), or whose move failed (failed: tried again, else the call ends at the drain deadline)."),
			[]string{"result"}),
		moveTime: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "iace", Subsystem: "session", Name: "move_seconds",
			Help:    "Time to move a call to another node: from taking its state to stopping its old stream (the caller hears the agent again from the new node before the end).",
			Buckets: []float64{.05, .1, .25, .5, 1, 2, 5}}),
		framesIn: prometheus.NewCounter(opts("frames_in_total", "Caller audio frames processed: decoded, run through the VAD and passed to the transcriber.")),
		eventsDropped: prometheus.NewCounter(opts("events_dropped_total",
			"Stream events (VAD decisions, DTMF, marks) dropped because a session fell far behind its reader.")),
		reordered: prometheus.NewCounter(opts("frames_reordered_total", "Caller frames that arrived out of order and were put back in place.")),
		concealed: prometheus.NewCounter(opts("frames_concealed_total", "Caller frames that never arrived and were replaced by silence.")),
		late:      prometheus.NewCounter(opts("frames_late_total", "Caller frames that arrived after their place was concealed, or twice; dropped.")),
		bargeIns:  prometheus.NewCounter(opts("barge_ins_total", "Times the caller interrupted the agent.")),
		supervisorFrames: prometheus.NewCounter(opts("supervisor_frames_total",
			"20 ms frames of supervisors' microphones sent to callers (barge and takeover).")),
		roleSwitches: prometheus.NewCounterVec(opts("supervisor_roles_total", "Supervisor role switches on live calls, by the role switched to."),
			[]string{"role"}),
		dtmf: prometheus.NewCounter(opts("dtmf_total", "DTMF digits received.")),
		replyLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "iace", Subsystem: "session", Name: "reply_latency_ms",
			Help:    "From the end of the caller's speech to the first frame of the agent's reply handed to the pacer, milliseconds.",
			Buckets: []float64{50, 100, 200, 300, 400, 500, 600, 700, 800, 1000, 1250, 1500, 2000, 3000, 5000}}),
		bargeHolds: prometheus.NewCounterVec(opts("barge_in_holds_total",
			"Sounds the caller made over the agent that held its audio while deciding, by what followed: "+
				"cut (an interruption), resumed (a noise, a sound too short, or a backchannel) or ended (the turn ended first)."), []string{"then"}),
		bargeGaps: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "iace", Subsystem: "session", Name: "barge_in_gap_ms",
			Help: "For a hold that resumed the agent: how long its audio was held beyond what the far end had queued (the pacer's hold lead), " +
				"milliseconds; 0 is no gap the caller could hear.",
			Buckets: []float64{0, 20, 50, 100, 200, 300, 500, 800, 1200}}),
		echoLoss: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "iace", Subsystem: "session", Name: "echo_return_loss_db",
			Help: "For each call whose agent talked at least 3 s: how far under the agent's level the caller's line sent the agent's voice back, " +
				"as the caller's voice detector learnt it, dB (22 at least; with no echo it climbs by 6 dB a second of the agent's speech, to 80).",
			Buckets: []float64{22, 25, 28, 31, 34, 37, 40, 45, 50, 60, 79}}),
		echoCancelled: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "iace", Subsystem: "session", Name: "echo_cancelled_db",
			Help: "For each call whose line sent the agent's voice back loud enough for the caller's voice detector to cancel it: how much of that echo " +
				"the canceller took away when the stream ended (its echo return loss enhancement, measured on the stretches its filter did best: a few dB over " +
				"what it takes from a whole stretch of the agent's speech), dB; a call whose canceller found nothing to take away is not counted.",
			Buckets: []float64{6, 10, 15, 20, 25, 30, 35, 40}}),
		bargeLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "iace", Subsystem: "session", Name: "barge_in_latency_ms",
			Help:    "From the start of the caller's speech to the clear sent for a barge-in, milliseconds (includes the barge-in minimum duration).",
			Buckets: []float64{100, 200, 300, 400, 500, 600, 800, 1000, 1500, 2000}}),
		callDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "iace", Subsystem: "session", Name: "call_duration_seconds",
			Help:    "Length of ended calls, seconds.",
			Buckets: []float64{5, 10, 30, 60, 120, 300, 600, 1200, 3600}}),
		providerError: prometheus.NewCounterVec(opts("provider_errors_total", "Provider failures seen by sessions, by role."), []string{"role"}),
		holding: prometheus.NewCounterVec(opts("holding_phrases_total",
			"Holding phrases said because a provider failed, by what followed: transfer, continue (no transfer number) or hangup (given up)."),
			[]string{"then"}),
		turnStageVec: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "iace", Subsystem: "session", Name: "turn_stage_ms",
			Help: "A reply's latency split into stages, milliseconds: endpoint (VAD silence wait), stt (final transcript after that), " +
				"llm_first_token, llm_first_sentence, tts_first_byte and overhead (IACE's own time); they add up to reply_latency_ms.",
			Buckets: []float64{1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000}}, []string{"stage"}),
		completed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Name: "calls_completed_total",
			Help: "Calls ended, by outcome: resolved, escalated, abandoned or failed."}, []string{"outcome"}),
		memoryMisses: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Subsystem: "session", Name: "memory_misses_total",
			Help: "Memory reads a call went on without, because they missed their deadline or failed, by what was read: " +
				"patterns (the agent's, at the start), caller (the caller's record and latest calls), similar (patterns near the caller's first words)."},
			[]string{"what"}),
		memoryFetch: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "iace", Subsystem: "session", Name: "memory_fetch_seconds",
			Help:    "How long a call's memory reads took, by what was read (see iace_session_memory_misses_total).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .075, .1, .125, .15, .2, .3, .5, 1}}, []string{"what"}),
		escalations: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iace", Name: "escalations_total",
			Help: "Calls handed to a human, by escalation reason (a transfer that could not be made is not counted)."}, []string{"reason"}),
		resolution: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "iace", Name: "resolution_time_seconds",
			Help:    "From the start of a call to its resolution (its end, for a call that ended resolved), seconds.",
			Buckets: []float64{10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200, 3600}}),
		sentiment: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "iace", Subsystem: "session", Name: "call_sentiment",
			Help:    "Mean sentiment of an ended call's scored caller turns, -1 (negative) to 1 (positive); calls with no scored turn are not observed.",
			Buckets: []float64{-0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.75, 1}}),
		patternsUsed: prometheus.NewCounter(opts("patterns_used_total", "Learned patterns that informed an ended call's replies, each counted once per call.")),
		predictions: prometheus.NewCounterVec(opts("predictions_total",
			"Ended calls with an outcome prediction, by whether it came true: hit (resolution predicted at 0.5 or more and the call resolved, "+
				"or less and it did not) or miss; the analytics API's prediction accuracy counts the same way."), []string{"result"}),
		liveSubscribers: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "iace", Subsystem: "session", Name: "live_subscribers",
			Help: "Live event subscriptions open: to one call's events or to an organization's live calls."}),
		liveEventsDropped: prometheus.NewCounter(opts("live_events_dropped_total",
			"Live events a subscriber did not get because it was behind: interim transcripts skipped, and the event that found its buffer full.")),
		liveSubscribersDropped: prometheus.NewCounter(opts("live_subscribers_dropped_total",
			"Live event subscriptions ended because the subscriber fell a whole buffer behind (the call never waits for one).")),
	}
	for _, o := range []store.Outcome{store.OutcomeResolved, store.OutcomeEscalated, store.OutcomeAbandoned, store.OutcomeFailed} {
		m.completed.WithLabelValues(string(o))
	}
	for _, r := range store.EscalationReasons {
		m.escalations.WithLabelValues(string(r))
	}
	for _, role := range []string{"chat", "synthesizer", "transcriber", "sentiment"} {
		m.providerError.WithLabelValues(role)
	}
	m.predictions.WithLabelValues(predictionHit)
	m.predictions.WithLabelValues(predictionMiss)
	for i, st := range allStages {
		m.turnStage[i] = m.turnStageVec.WithLabelValues(st)
	}
	for _, then := range []string{holdingTransfer, holdingContinue, holdingHangup} {
		m.holding.WithLabelValues(then)
	}
	for _, then := range []string{holdCut, holdResumed, holdEnded} {
		m.bargeHolds.WithLabelValues(then)
	}
	for _, r := range supervisorRoles {
		m.roleSwitches.WithLabelValues(string(r))
	}
	for _, r := range allEndReasons {
		m.calls.WithLabelValues(string(r))
	}
	for _, why := range []string{"capacity", "org_limit", "no_calls"} {
		m.refused.WithLabelValues(why)
	}
	for _, res := range []string{"moved", "failed"} {
		m.moves.WithLabelValues(res)
	}
	for _, what := range []string{fetchPatterns, fetchCaller, fetchSimilar} {
		m.memoryMisses.WithLabelValues(what) // zero, not absent, until the first miss
	}
	if reg != nil {
		reg.MustRegister(m.liveCalls, m.draining, m.calls, m.refused, m.moves, m.moveTime, m.framesIn, m.eventsDropped, m.reordered, m.concealed, m.late,
			m.bargeIns, m.bargeHolds, m.bargeGaps, m.echoLoss, m.echoCancelled, m.supervisorFrames, m.roleSwitches, m.dtmf, m.replyLatency, m.bargeLatency, m.callDuration, m.providerError,
			m.holding, m.turnStageVec, m.completed, m.escalations, m.resolution, m.sentiment, m.patternsUsed, m.predictions,
			m.memoryMisses, m.memoryFetch,
			m.liveSubscribers, m.liveEventsDropped, m.liveSubscribersDropped)
	}
	return m
}

// Results of a call's prediction, the label of iace_session_predictions_total.
const (
	predictionHit  = "hit"
	predictionMiss = "miss"
)

// ended observes what the business dashboard shows of an ended call: how
// long a resolved call took, its caller's mean sentiment, the learned
// patterns it used and whether its prediction came true.
func (m *Metrics) ended(sum CallSummary, dur time.Duration) {
	resolved := sum.Outcome() == store.OutcomeResolved
	if resolved {
		m.resolution.Observe(dur.Seconds())
	}
	var total float64
	n := 0
	for _, t := range sum.Transcript {
		if t.Speaker == ai.RoleUser && t.Sentiment != nil {
			total += *t.Sentiment
			n++
		}
	}
	if n > 0 {
		m.sentiment.Observe(total / float64(n))
	}
	m.patternsUsed.Add(float64(len(sum.PatternsUsed)))
	if p := sum.Prediction; p != nil {
		result := predictionMiss
		if (p.Resolution >= 0.5) == resolved {
			result = predictionHit
		}
		m.predictions.WithLabelValues(result).Inc()
	}
}
