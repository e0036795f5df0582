package vad

import "time"

// An echoPath learns, for one call, how far under the agent's level the
// caller's line sends the agent's voice back: its echo return loss. A line
// with an echo canceller leaves 40 dB or more (the echo is under the line
// noise), a 2-4 wire hybrid without one 20 to 30 dB. It learns only while
// the agent is audible (the session's echo reference is set), and only
// from sound the detector did not take for the caller:
//
//   - a frame over the voicing threshold that the gate held back counts
//     at once (it can lift the gate by at most echoGuardDB, so an echo
//     just under the gate raises it to cover the echo);
//   - a run of frames over the threshold during which no utterance went
//     on was echo, or a sound too short to matter, and its loudest frame
//     counts when the run ends;
//   - a run during which an utterance went on may be the caller, and
//     teaches nothing;
//   - a frame under the threshold says only that the echo, if any, is
//     quieter: the estimate recovers through it.
//
// The estimate falls to the loudest echo heard at once, and rises by
// echoRecoveryDBPerSec while the agent talks, no utterance goes on and
// nothing as loud comes back: a line that carries no echo loses the
// starting gate within a few seconds, and a short noise that was taken
// for echo is forgotten as fast.
type echoPath struct {
	lossDB   float64       // the learnt echo return loss
	runPeak  float64       // the loudest frame of the run over the threshold; noEchoDB for none
	caller   bool          // an utterance went on during the run
	listened time.Duration // the line heard while the agent talked
	// loudEchoes counts the echoes heard less than engageLossDB under the
	// agent: a line with no canceller of its own sends several a second.
	loudEchoes int
	// ceilDB bounds the estimate: echoMaxLossDB, or, once an echo
	// canceller works on the line, the loss heard before it plus what it
	// takes away, so that the gate stays over the echo it leaves.
	ceilDB float64
}

const (
	// echoStartLossDB is the loss assumed before anything is learnt: the
	// margin measured on the corpus (docs/BARGE-IN.md) to keep a -25 dB
	// echo from barging in, so that the first seconds of a poor line are
	// covered too.
	echoStartLossDB = 28
	// echoMinLossDB is the least loss ever assumed: a caller talking over
	// the agent is seldom more than 16 dB under the agent's loudest, so the
	// gate never rises above 19 dB under it, whatever was taken for echo.
	echoMinLossDB = 22
	// echoMaxLossDB bounds the estimate on a line with no echo: by then the
	// gate is under any floor.
	echoMaxLossDB = 80
	// echoRecoveryDBPerSec is how fast the estimate rises while the agent
	// talks and no echo as loud comes back. Speech's echo peaks several
	// times a second, so the estimate barely moves between them; a line
	// with no echo goes from the start to 40 dB in 2 s.
	echoRecoveryDBPerSec = 6
	// echoGuardDB is how far above the loudest echo learnt a frame must be
	// to count: the echo's own peaks vary by a few dB.
	echoGuardDB = 3
)

func (e *echoPath) reset() {
	e.lossDB, e.runPeak, e.caller, e.listened, e.loudEchoes = echoStartLossDB, noEchoDB, false, 0, 0
	e.ceilDB = echoMaxLossDB
}

// gateDB returns the level at or under which a frame cannot be the
// caller starting to speak while the agent plays at refDB.
func (e *echoPath) gateDB(refDB float64) float64 {
	return refDB - e.lossDB + echoGuardDB
}

// learn takes a frame of dt heard while the agent plays at refDB: its
// level, whether that is over the voicing threshold, whether the gate
// held it back, and whether an utterance is going on.
func (e *echoPath) learn(refDB, level float64, loud, gated, speaking bool, dt time.Duration) {
	if !speaking {
		// During an utterance nothing is learnt, caller or echo, and the
		// estimate stays: were it to recover, an echo that started one
		// (the agent's first loud syllable, say) would lower the gate
		// under itself for as long as it lasted, and start the next.
		e.lossDB = min(e.lossDB+echoRecoveryDBPerSec*dt.Seconds(), e.ceilDB)
	}
	e.listened += dt
	switch {
	case gated:
		e.heard(refDB, level)
		return
	case loud:
		e.runPeak = higher(e.runPeak, level)
		e.caller = e.caller || speaking
		return
	}
	if e.runPeak > noEchoDB && !e.caller {
		e.heard(refDB, e.runPeak)
	}
	e.runPeak, e.caller = noEchoDB, false
}

// quiet ends the run when the agent falls silent: nothing in it is known
// to be echo.
func (e *echoPath) quiet() {
	e.runPeak, e.caller = noEchoDB, false
}

// heard lowers the estimate to an echo heard at level.
func (e *echoPath) heard(refDB, level float64) {
	e.lossDB = min(e.lossDB, max(refDB-level, echoMinLossDB))
	if refDB-level < engageLossDB {
		e.loudEchoes++
	}
}
