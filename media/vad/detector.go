package vad

import (
	"fmt"
	"math"
	"time"
)

// minLevelDB is the absolute minimum level of a voiced frame in dBFS (0 dBFS
// = a full-scale square wave), whatever the floor: quiet telephone speech
// averages about -35 dBFS and PSTN line noise sits near -65 dBFS, so digital
// silence and faint line noise never fire.
const minLevelDB = -55

// Detector decides, frame by frame, when a caller starts and stops speaking,
// whether what started is a voice that interrupts, and whether a pause
// sounds like the end of the turn. Make one with New, one per call and
// direction. It is not safe for concurrent use: the session goroutine that
// feeds it the inbound audio owns it.
type Detector struct {
	cfg        Config
	sampleRate int
	filter     highPass
	floor      noiseFloor
	pitch      pitchTracker
	voice      voicing

	speaking  bool
	bargedIn  bool          // BargeIn reported in this utterance
	notSpeech bool          // NotSpeech reported in this utterance
	spoke     bool          // a run of this utterance was accepted as voiced speech
	paused    bool          // Pause reported in this pause
	onset     time.Duration // voiced audio of the run that may start an utterance
	voiced    time.Duration // voiced audio of the current or last utterance
	run       time.Duration // voiced audio of the current run (since the last gap)
	hang      time.Duration // hangover left
	silence   time.Duration // unvoiced audio since the hangover ran out
	// residue says every voiced frame of the run under way was no louder
	// than the agent's echo of what was played, with the canceller at
	// work: what it leaves of the agent's voice, which is voiced speech
	// but not the caller's. Such a run is not accepted as the caller
	// speaking.
	residue bool
	// Level range since the first voiced frame of the onset run: BargeIn
	// waits until it reaches steadyDB, so noise that starts abruptly (and
	// is steady) does not interrupt the agent while the floor catches up.
	runMin, runMax float64
	// echoDB is the agent's recent level the caller may hear back
	// (SetEchoReference); noEchoDB when the agent is silent.
	echoDB float64
	echo   echoPath // the line's echo return loss, learnt (Config.EchoLearn)
	// canceller takes the agent's echo out of the caller's audio once the
	// line has been heard to send it back loud (Config.EchoCancel); nil
	// until then. fed is how much of the next frame SetEchoAudio gave.
	canceller *echoCanceller
	fed       int
	echoOnly  bool // the last frame the canceller heard was echo or line noise
	// lineLossDB is the least echo return loss learnt before the
	// canceller worked: the line's own.
	lineLossDB float64
	// cancelled is how long the canceller has run; cancelGaveUp says it
	// was dropped, having found no echo to take away.
	cancelled    time.Duration
	cancelGaveUp bool
	// loudLine says the line sends the agent's echo back louder than any
	// gate may rise (echoMinLossDB): its echo started an utterance
	// (suspectLoudLine). There the canceller learns during utterances
	// too, from every frame at least geigelDB under the agent, and the
	// gate stays over the echo while the canceller is not at work.
	loudLine bool
	// startedUncancelled says the utterance under way started over the
	// agent before the canceller worked: what started it may be the echo,
	// and once the canceller works, a frame no louder than the gate does
	// not keep it going.
	startedUncancelled bool
	// echoHeld says the utterance under way is taken for a loud line's
	// echo (heldEcho): it reports NotSpeech at once and no BargeIn, and it
	// ends (SpeechEnd) as soon as the agent falls silent or the canceller
	// takes its echo away, so that what follows starts an utterance of its
	// own. If the canceller has not worked after loudPinFor, the sound
	// was not that echo (a caller talking over the greeting): the hold is
	// lifted, and its speech barges in.
	echoHeld bool
	// agentFor is how long the agent has been audible without a break;
	// agentTurns counts those stretches.
	agentFor   time.Duration
	agentTurns int
}

// noEchoDB is the echo reference of an agent that is not talking.
const noEchoDB = -200

// New returns a detector for mono PCM16 audio at sampleRate Hz, 8000 to 48000
// (telephony uses 8000 or 16000). It returns cfg.Validate's error for an
// invalid config and ErrSampleRate for an unsupported rate.
func New(cfg Config, sampleRate int) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sampleRate < 8000 || sampleRate > 48000 {
		return nil, fmt.Errorf("%w: %d Hz, want 8000 to 48000", ErrSampleRate, sampleRate)
	}
	d := &Detector{
		cfg:        cfg,
		sampleRate: sampleRate,
		filter:     newHighPass(highPassHz, sampleRate),
		pitch:      newPitchTracker(sampleRate),
	}
	d.Reset()
	return d, nil
}

// Reset forgets the noise floor and any utterance in progress, as for a new
// call; the config and sample rate stay.
func (d *Detector) Reset() {
	d.filter.reset()
	d.floor.reset()
	d.pitch.reset()
	d.voice = voicing{}
	d.speaking, d.bargedIn, d.notSpeech, d.spoke, d.paused = false, false, false, false, false
	d.residue = false
	d.onset, d.voiced, d.run, d.hang, d.silence = 0, 0, 0, 0, 0
	d.runMin, d.runMax = 0, 0
	d.echoDB = noEchoDB
	d.echo.reset()
	d.canceller, d.fed, d.echoOnly, d.lineLossDB = nil, 0, false, 0
	d.cancelled, d.cancelGaveUp, d.loudLine, d.startedUncancelled, d.echoHeld = 0, false, false, false, false
	d.agentFor, d.agentTurns = 0, 0
}

// SetEchoReference tells the detector how loud, in dBFS (0 dBFS = a
// full-scale square wave, as for every level here), the loudest of the
// agent's own audio is that the caller's line may be sending back now: the
// level of what was played out over the last echo path's delay (a few
// hundred milliseconds). Until it is called again, a frame quieter than it by
// more than Config.EchoMarginDB (or, with EchoLearn, no louder than the
// echo this line has been heard to send back) cannot start an utterance:
// on a line with no echo canceller the agent's voice comes back voiced,
// and would otherwise barge in on itself. Inside an utterance every frame
// counts. A level under -100 dBFS (the agent is silent) lifts the gate.
// The noise floor still learns from every frame. It does not allocate.
func (d *Detector) SetEchoReference(levelDB float64) {
	if !(levelDB >= -100) { // also NaN
		levelDB = noEchoDB
		if d.echoDB > noEchoDB {
			d.echo.quiet()
		}
		d.agentFor = 0
	} else if d.echoDB == noEchoDB {
		d.agentTurns++
		if d.canceller != nil {
			d.canceller.restart() // it did not follow the silence
		}
	}
	d.echoDB = levelDB
}

// WantsEchoAudio reports whether the detector takes the agent's audio
// (SetEchoAudio) for the next frame: with Config.EchoCancel (and
// EchoLearn), while the agent is audible, on a line that has been heard to
// send the agent's echo back less than 34 dB under it. On most lines (an
// echo canceller in the network) it never does, and the session spends
// nothing on it.
func (d *Detector) WantsEchoAudio() bool {
	return d.canceller != nil && d.echoDB > noEchoDB
}

// SetEchoAudio gives the agent's audio the far end played during the
// next frame, at the detector's rate, as well aligned with the caller's
// audio as the session knows (the return path's delay, up to 400 ms, is
// found from the audio): Process then takes the echo of it out of the
// frame before it judges it. Samples the frame has beyond len(ref) count
// as silence; frames over 40 ms are judged as they come. It does nothing
// unless WantsEchoAudio, keeps nothing of ref, and does not allocate.
func (d *Detector) SetEchoAudio(ref []int16) {
	if !d.WantsEchoAudio() {
		return
	}
	ref = ref[:min(len(ref), d.canceller.maxFrame)]
	d.canceller.feed(ref, 0, len(ref))
	d.fed = len(ref)
}

// EchoCancelledDB returns how far, in dB, the echo canceller brings the
// agent's echo down on this line (its echo return loss enhancement, ERLE,
// kept near the least measured lately); 0 while it is not running.
func (d *Detector) EchoCancelledDB() float64 {
	if d.canceller == nil {
		return 0
	}
	return d.canceller.erleDB()
}

// EchoLossDB returns the echo return loss the detector has learnt for
// this line (Config.EchoLearn): how far, in dB, under the agent's level
// the loudest of its echo comes back. It starts at 28 dB and rises to 80
// on a line that sends no echo back. Once an echo canceller works on the
// line (Config.EchoCancel) it is the loss the canceller found, before it
// took its share away (EchoCancelledDB).
func (d *Detector) EchoLossDB() float64 {
	if d.canceller != nil && d.canceller.ready {
		return d.lineLossDB
	}
	return d.echo.lossDB
}

// EchoHeard returns how long the detector has heard the line while the
// agent talked and learnt from it (Config.EchoLearn): EchoLossDB means
// little before a few seconds.
func (d *Detector) EchoHeard() time.Duration { return d.echo.listened }

// echoGateDB returns the level at or under which a frame cannot start an
// utterance while the agent talks: noEchoDB when the gate is off.
func (d *Detector) echoGateDB() float64 {
	switch {
	case d.cfg.EchoMarginDB > 0:
		return d.echoDB - d.cfg.EchoMarginDB
	case d.cfg.EchoLearn:
		return d.echo.gateDB(d.echoDB)
	}
	return noEchoDB
}

// EndUtterance ends the utterance in progress, reporting no event, as if
// SpeechEnd had fired: the session ended the caller's turn itself (in a
// pause, their words ending a sentence), so that sound which follows starts
// an utterance of its own, with its own SpeechStart and BargeIn or
// NotSpeech. The noise floor stays.
func (d *Detector) EndUtterance() {
	if !d.speaking {
		return
	}
	d.speaking, d.echoHeld = false, false
	d.hang, d.silence, d.onset = 0, 0, 0
}

// Speaking reports whether an utterance is in progress: SpeechStart has fired
// and SpeechEnd has not.
func (d *Detector) Speaking() bool { return d.speaking }

// SpeechDuration returns the voiced audio of the current utterance, or of the
// last one once it has ended: the sum of its voiced frames, without hangover
// or silence.
func (d *Detector) SpeechDuration() time.Duration { return d.voiced }

// NoiseFloorDB returns the noise floor in dBFS (0 dBFS = a full-scale square
// wave), measured above 300 Hz; -100 means digital silence or no audio yet.
func (d *Detector) NoiseFloorDB() float64 { return d.floor.db }

// Process takes the next frame of audio, of any length (typically 20 ms: 160
// samples at 8 kHz), and returns the event it caused, if any: at most one
// (see Event for their order). An event that falls due while another is
// reported (BargeIn when MinSpeech >= BargeInMin) is reported on the next
// frame. The frame's duration is len(frame) / sampleRate; an empty frame
// changes nothing. Process does not allocate.
func (d *Detector) Process(frame []int16) Event {
	if len(frame) == 0 {
		return EventNone
	}
	dt := time.Duration(len(frame)) * time.Second / time.Duration(d.sampleRate)
	heard, c := frame, d.canceller
	cancelling := c != nil && d.echoDB > noEchoDB && len(frame) <= c.maxFrame
	underAgent := false // on a loud line, the frame may be the echo alone, by its level
	if cancelling {
		if d.fed < len(frame) {
			c.feed(nil, d.fed, len(frame))
		}
		c.noise = fullScale2 * math.Pow(10, d.floor.db/10)
		underAgent = d.loudLine && blockDB(sumSquares(frame), len(frame)) <= d.echoDB-geigelDB
		frame = c.cancel(frame, d.echoOnly && !d.speaking || underAgent)
	}
	d.fed = 0
	// With the canceller at work, echoLike says the frame is no louder
	// than the line's echo of what was played: the echo, or what the
	// canceller left of it.
	working := cancelling && c.ready
	echoLike := working && c.echoLike
	level := d.filter.levelDB(frame)
	// Judge the frame against the floor before the frame moves it.
	voiced := d.floor.set && level > minLevelDB && level > d.floor.db+d.cfg.ThresholdDB
	if d.echoDB > noEchoDB {
		voiced = d.overTheAgent(level, voiced, working && !c.echoLike, working && d.startedUncancelled, dt)
	}
	d.floor.update(level, dt)
	if cancelling {
		// What cannot be the caller teaches the canceller the line.
		d.echoOnly = !voiced && !d.speaking
		c.learn(heard, d.echoOnly || underAgent)
		d.cancelled += dt
		switch {
		case c.ready && c.erleDB() >= minERLE:
			// The echo left is the line's, less what the canceller takes:
			// the gate does not fall under it.
			d.echo.ceilDB = min(echoMaxLossDB, d.lineLossDB+c.erleDB()-erleGuardDB)
		case d.cancelled >= giveUpAfter && c.erleMax < minERLE:
			d.canceller, d.cancelGaveUp, d.loudLine = nil, true, false
			d.echo.ceilDB = echoMaxLossDB
		case d.loudLine && (c.erleMax >= minERLE || d.cancelled < loudPinFor):
			// A loud line's echo is over any gate the canceller has not
			// brought down: while it first learns the line, and while it
			// follows a new turn, the gate stays over the echo heard.
			d.echo.ceilDB, d.echo.lossDB = d.lineLossDB, min(d.echo.lossDB, d.lineLossDB)
		case d.echo.ceilDB < echoMaxLossDB:
			// The echo's delay moved and the canceller learns it again:
			// the line's echo comes back whole meanwhile.
			d.echo.ceilDB, d.echo.lossDB = echoMaxLossDB, min(d.echo.lossDB, d.lineLossDB)
		default:
			d.lineLossDB = min(d.lineLossDB, d.echo.lossDB)
		}
	} else if d.echoDB > noEchoDB && d.cfg.EchoCancel && c == nil && d.echoHeardLoud() {
		d.canceller, d.lineLossDB = newEchoCanceller(d.sampleRate, d.echo.lossDB), d.echo.lossDB
	}
	// The pitch is looked for only in voiced frames: the decimation and
	// the autocorrelation are most of the cost of a frame, and silence
	// needs neither.
	// Inside an utterance, with the echo cancelled, a frame no louder
	// than the gate may be what the canceller left of the echo: it keeps
	// the utterance going (unless the utterance started before the
	// canceller worked: see overTheAgent) but is not analyzed, so that the
	// agent's pitch in it cannot make a noise a voice.
	var corr, f0 float64
	if voiced && !(cancelling && c.ready && d.speaking && level <= d.echoGateDB()) {
		d.pitch.next(frame)
		corr, f0 = d.pitch.analyze()
	} else {
		d.pitch.keep(frame)
	}
	agent := d.echoDB > noEchoDB
	var ev Event
	switch {
	case d.echoHeld && d.speaking && (!agent || cancelling && c.ready && c.erleDB() >= minERLE):
		// The echo's utterance is over: the agent stopped, or the
		// canceller now takes its echo away.
		d.EndUtterance()
		ev = EventSpeechEnd
	case d.echoHeld && voiced && cancelling && d.cancelled >= loudPinFor:
		d.echoHeld = false // not the echo, or none the canceller can take
		fallthrough
	default:
		ev = d.step(voiced, echoLike, level, corr, f0, dt)
	}
	if agent {
		d.agentFor += dt
	}
	if ev == EventSpeechStart {
		d.startedUncancelled = agent && (!cancelling || !c.ready)
		if agent && d.cfg.EchoCancel && d.cfg.EchoLearn && !d.loudLine && !d.cancelGaveUp {
			d.echoHeld = d.heldEcho(d.canceller)
		}
	}
	return ev
}

// heldEcho takes the utterance that just started over the agent for a loud
// line's echo (suspectLoudLine) where the echo would have started it: as
// the agent started talking, within echoRiseWithin, in the agent's first
// words on the call (the greeting), or on a line already heard to echo
// loud whose canceller has not worked yet and whose gate sits at its
// floor. A caller who starts talking over the greeting's
// first words 10 dB or more under it is held too, as the echo: a short
// "hello?" does not interrupt it, and longer speech does once loudPinFor
// has shown no echo to cancel. Elsewhere an early interruption is heard
// as ever: callers often talk over the start of a reply.
func (d *Detector) heldEcho(c *echoCanceller) bool {
	return d.suspectLoudLine(c) && d.agentFor <= echoRiseWithin(d.cfg) && (c != nil || d.agentTurns == 1)
}

// echoRiseWithin is how long after the agent starts talking its echo may
// start an utterance: its longest delay, then MinSpeech of it while its
// first syllable rises over the gate.
func echoRiseWithin(cfg Config) time.Duration {
	return maxEchoDelayMS*time.Millisecond + cfg.MinSpeech + echoOnsetRise
}

// overTheAgent takes a frame heard while the agent talks, over the voicing
// threshold (loud) or not, and returns whether it is voiced: a loud frame
// no louder than the agent's echo can be is not a caller starting to
// speak. With EchoLearn the frame also teaches the echo's level.
//
// With the echo canceller working, a frame louder than the echo of what
// the agent played could be (other) teaches nothing of the echo, gated or
// not: it is the caller or a noise, and a gate that learnt a quiet
// caller's held-back onsets as echo would rise to them.
//
// Inside an utterance a loud frame is voiced whatever the gate, unless
// the utterance started before the canceller worked and it works now
// (cancelled): then the echo may have started it, and what the canceller
// leaves under the gate is that echo's residue, not the utterance going
// on. (On a line whose echo is louder than the gate, such an utterance
// went on for as long as the agent talked.) During an utterance nothing
// teaches the echo's level.
func (d *Detector) overTheAgent(level float64, loud, other, cancelled bool, dt time.Duration) bool {
	voiced := loud && (level > d.echoGateDB() || d.speaking && !cancelled)
	if d.cfg.EchoLearn {
		d.echo.learn(d.echoDB, level, loud, loud && !voiced && !other && !d.speaking, d.speaking || other, dt)
	}
	return voiced
}

// suspectLoudLine takes an utterance that started over the agent, at least
// loudMinLossDB under it, for the agent's echo, louder than any gate may
// rise (echoMinLossDB), where that is the likely cause, and reports
// whether it did:
//   - there is no canceller yet, and the utterance started as the agent
//     did, as far after as its echo can come back (echoRiseWithin); the
//     canceller is built;
//   - in the agent's first words on the call, the canceller c is there
//     (the line was heard to echo loud), has not worked yet, and the
//     utterance started as the agent did: the gate has not learnt yet how
//     loud the echo is;
//   - later, c is there, has not worked yet, and the gate's estimate is at
//     its floor.
//
// A quiet caller who starts then is taken for the echo too. The canceller
// then learns during utterances as well, and the gate stays over the echo
// while it learns (see Process); it has giveUpAfter from now to take
// minERLE away.
func (d *Detector) suspectLoudLine(c *echoCanceller) bool {
	loss, early := d.echoDB-d.runMax, d.agentFor <= echoRiseWithin(d.cfg)
	switch {
	case loss < loudMinLossDB:
		return false
	case c == nil && early:
		c = newEchoCanceller(d.sampleRate, loss)
		d.canceller, d.lineLossDB = c, loss
	case c != nil && c.erleMax < minERLE && early && d.agentTurns == 1:
		// The line's first words: it has been heard to echo loud, and
		// the gate has not learnt yet how loud.
	case c == nil || c.erleMax >= minERLE || d.echo.lossDB > echoMinLossDB+echoGuardDB:
		// No canceller, one that works, or a line whose echo the gate
		// has kept under it: the sound is not that echo.
		return false
	}
	d.loudLine, d.lineLossDB, d.cancelled = true, min(d.lineLossDB, loss), 0
	c.echoGain = max(c.echoGain, math.Pow(10, -loss/10))
	return true
}

// echoHeardLoud reports whether this line has been heard to send the
// agent's echo back loud enough to cancel.
func (d *Detector) echoHeardLoud() bool {
	return d.cfg.EchoLearn && d.echo.loudEchoes >= engageEchoes && !d.cancelGaveUp
}

const (
	// engageLossDB is the echo return loss under which the canceller is
	// built: an echo heard that loud (a line with no canceller of its
	// own) carries the agent's pitch into whatever sound the caller makes
	// over it. A line with one leaves 40 dB or more, under the line noise.
	engageLossDB = 34
	// engageEchoes is how many such echoes must have been heard: a
	// noise, or a caller quieter than the gate, is heard once or twice.
	engageEchoes = 3
	// minERLE is the least a canceller must take away to bound the gate
	// (erleGuardDB); one that never has within giveUpAfter of learning is
	// dropped for the rest of the call: there was no echo to find. (One
	// that did and takes less now, as while it follows a new turn, stays.)
	minERLE = 6
	// geigelDB: on a loud line, a frame at least this far under the
	// agent's loudest within the echo's reach may be its echo alone (the
	// Geigel double-talk test of line echo cancellers, which assumes the
	// line takes at least 6 dB away); a caller that loud or louder is
	// not learnt from.
	geigelDB = 6
	// echoOnsetRise is how long the echo of the agent's first syllable
	// may take to rise over the gate.
	echoOnsetRise = 200 * time.Millisecond
	// loudMinLossDB is the least echo return loss taken for a loud line's
	// (a line that takes less than 10 dB away is rare, and a caller
	// talking over the agent's first words is often that loud).
	loudMinLossDB = 10
	// loudPinFor bounds how long the gate stays over a loud line's echo
	// while its canceller first learns (1.2 to 2.4 s of the agent's audio
	// on the corpus's paths): a caller quieter than that echo is not heard
	// meanwhile.
	loudPinFor  = 3 * time.Second
	giveUpAfter = 10 * time.Second
	// erleGuardDB is taken off the canceller's ERLE where it bounds the
	// gate: the ERLE is measured over stretches of the agent's speech, and
	// its loudest syllables are cancelled a few dB less.
	erleGuardDB = 3
)

// step advances the utterance state machine by one frame: voiced by level,
// echoLike (no louder than the echo the canceller works on), with the
// periodicity and fundamental of the pitch tracker.
func (d *Detector) step(voiced, echoLike bool, level, corr, f0 float64, dt time.Duration) Event {
	held := false // unvoiced, but kept voiced by the hangover
	switch {
	case voiced:
		d.hang = d.cfg.Hangover
	case d.hang > 0:
		d.hang -= dt
		held = true
	}
	// The level range covers voiced and held frames only: the silence after
	// an utterance must not widen it.
	switch {
	case voiced && !d.speaking && d.onset == 0:
		d.runMin, d.runMax = level, level
	case voiced || held:
		d.runMin, d.runMax = lower(d.runMin, level), higher(d.runMax, level)
	}

	if !d.speaking {
		switch {
		case voiced:
			if d.onset == 0 {
				d.voice.startUtterance()
				d.residue = true
			}
			d.residue = d.residue && echoLike
			d.onset += dt
			d.voice.frame(corr, f0)
		case !held:
			d.onset = 0
		default:
			d.voice.gap()
		}
		if d.onset < d.cfg.MinSpeech {
			return EventNone
		}
		d.speaking, d.bargedIn, d.notSpeech, d.paused = true, false, false, false
		d.spoke = d.speech()
		d.voiced, d.run, d.onset, d.silence = d.onset, d.onset, 0, 0
		return EventSpeechStart
	}

	switch {
	case voiced:
		if d.silence > 0 { // the sound comes back after a gap: a new run
			d.voice.startRun()
			d.residue = true
			d.run, d.paused = 0, false
		}
		d.voiced += dt
		d.run += dt
		d.silence = 0
		d.voice.frame(corr, f0)
		d.residue = d.residue && echoLike
		d.spoke = d.spoke || d.speech()
	case !held:
		d.silence += dt
	default:
		d.voice.gap()
	}
	// BargeIn before NotSpeech before SpeechEnd before Pause: if two fall
	// due on one frame, the later follows on the next (silence only grows).
	if !d.bargedIn && !d.echoHeld && d.spoke && d.voiced >= max(d.cfg.BargeInMin, d.cfg.BackchannelMax) &&
		d.runMax-d.runMin >= steadyDB {
		d.bargedIn = true
		return EventBargeIn
	}
	if !d.bargedIn && !d.notSpeech && (d.echoHeld || d.rejected()) {
		d.notSpeech = true
		return EventNotSpeech
	}
	if d.silence >= d.endSilence() {
		d.speaking, d.echoHeld = false, false
		d.hang, d.silence = 0, 0
		return EventSpeechEnd
	}
	if d.cfg.PauseMin > 0 && !d.paused && d.silence >= d.cfg.PauseMin {
		d.paused = true
		return EventPause
	}
	return EventNone
}

// rejected reports whether the current run is not an interruption: it
// stopped before BargeIn, or the voicing tracker found no voice in it.
func (d *Detector) rejected() bool {
	if d.silence > 0 {
		return true
	}
	if d.speech() {
		return false
	}
	return d.run >= rejectAny || d.run >= rejectUnpitched && d.voice.pitched <= maxUnpitchedSteps
}

// speech reports whether the run under way is accepted as the caller's
// voiced speech: the voicing tracker accepts it, and it is not what the
// echo canceller leaves of the agent's voice.
func (d *Detector) speech() bool { return d.voice.accepted && !d.residue }

// endSilence is the silence after the hangover that ends the utterance:
// MinSilence when it sounds finished (its pitch fell at the end) or was no
// voice at all, MaxSilence when it sounds unfinished (level or rising pitch).
func (d *Detector) endSilence() time.Duration {
	if d.cfg.MaxSilence <= d.cfg.MinSilence || !d.spoke || d.voice.fell() {
		return d.cfg.MinSilence
	}
	return d.cfg.MaxSilence
}
