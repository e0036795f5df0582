package predict

// Retrainer decides when an organisation's model is trained again. New
// calls matter in proportion to what the model has seen: 20 more on 100
// change it as much as 2,000 more on 10,000. But a large organisation should
// not wait for thousands of calls to follow a change in its callers or
// agent, and a training costs milliseconds, so a fixed number of new calls
// also suffices. Zero fields take the defaults named on them.
type Retrainer struct {
	// NewCalls is how many labelled calls since the last training are
	// always enough; default 50.
	NewCalls int
	// Growth is the share of the last training's examples that new calls
	// must reach otherwise; default 0.2.
	Growth float64
}

// Due reports whether to train again. labelled are all the organisation's
// labelled calls now; trainedOn is the Examples of the model in use, 0 for
// the Prior; since counts the labelled calls that ended after that model's
// TrainedAt (counted apart from the totals, which retention may have
// shrunk). An organisation without Enough calls stays on the Prior; one that
// has them and is still on the Prior trains at once; otherwise training is
// due when since reaches NewCalls or Growth × trainedOn, whichever is
// smaller.
func (r Retrainer) Due(labelled Counts, trainedOn, since int) bool {
	if r.NewCalls <= 0 {
		r.NewCalls = 50
	}
	if r.Growth <= 0 {
		r.Growth = 0.2
	}
	switch {
	case !labelled.Enough():
		return false
	case trainedOn <= 0:
		return true
	case since <= 0:
		return false
	}
	return since >= r.NewCalls || float64(since) >= r.Growth*float64(trainedOn)
}
