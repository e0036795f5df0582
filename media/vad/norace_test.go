//go:build !race

package vad

// raceDetector: see race_test.go.
const raceDetector = false
