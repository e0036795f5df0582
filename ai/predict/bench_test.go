package predict

import (
	"testing"
	"time"
)

// BenchmarkPredict is the work done after every turn of every call.
func BenchmarkPredict(b *testing.B) {
	m, err := Train(Generate(1, 1000), TrainConfig{Version: 1})
	if err != nil {
		b.Fatal(err)
	}
	f := Features{SentimentAvg: -0.2, SentimentMin: -0.6, SentimentLast: -0.4, Fallbacks: 1, CallerTurns: 5, Duration: time.Minute}
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Predict(f)
	}
}

// BenchmarkTurn adds the tracker's bookkeeping to a prediction.
func BenchmarkTurn(b *testing.B) {
	m := Prior()
	var tr Tracker
	b.ReportAllocs()
	for b.Loop() {
		tr.CallerTurn(-0.3)
		_ = m.Predict(tr.Features(time.Minute))
	}
}

// BenchmarkTrain measures a retraining on 3,000 calls.
func BenchmarkTrain(b *testing.B) {
	data := Generate(1, 3000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Train(data, TrainConfig{Version: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
