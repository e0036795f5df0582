package predict

import "testing"

func TestRetrainerDue(t *testing.T) {
	enough := Counts{Total: 1000, Resolved: 600, Escalated: 150}
	for _, tc := range []struct {
		name      string
		r         Retrainer
		labelled  Counts
		trainedOn int
		since     int
		want      bool
	}{
		{"too few calls stay on the prior", Retrainer{}, Counts{Total: 99, Resolved: 50, Escalated: 45}, 0, 99, false},
		{"too few escalations stay on the prior", Retrainer{}, Counts{Total: 400, Resolved: 300, Escalated: 39}, 0, 400, false},
		{"enough calls leave the prior at once", Retrainer{}, enough, 0, 0, true},
		{"no new calls is never due", Retrainer{}, enough, 1000, 0, false},
		{"a fifth more calls is due", Retrainer{}, Counts{Total: 120, Resolved: 60, Escalated: 45}, 100, 20, true},
		{"just under a fifth more is not", Retrainer{}, Counts{Total: 119, Resolved: 60, Escalated: 45}, 100, 19, false},
		{"50 new calls are due however many were trained on", Retrainer{}, enough, 10000, 50, true},
		{"49 new calls on 10000 are not", Retrainer{}, enough, 10000, 49, false},
		{"a custom count", Retrainer{NewCalls: 10, Growth: 0.5}, enough, 1000, 10, true},
		{"a custom growth", Retrainer{NewCalls: 1000, Growth: 0.5}, enough, 100, 50, true},
		{"under both custom thresholds", Retrainer{NewCalls: 1000, Growth: 0.5}, enough, 100, 49, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Due(tc.labelled, tc.trainedOn, tc.since); got != tc.want {
				t.Errorf("Due(%+v, %d, %d) = %v, want %v", tc.labelled, tc.trainedOn, tc.since, got, tc.want)
			}
		})
	}
}
