//go:build race

package vad

// raceDetector: the race detector instruments every load and store, and
// makes the corpus measurements (single-goroutine arithmetic, nothing for
// it to find) ten to twenty times slower; they run without it (make test).
const raceDetector = true
